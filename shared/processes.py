"""Child processes that start and end with their parent, ports and storage folders claimed once.

Every process this project starts beside itself (a nats-server, a node service under ``hub node
up``, a preparing or rebuild worker) must end with its parent, however the parent ends, SIGKILL
included: an orphaned nats-server keeps its store and port, and the next start would run a second
server on the same store. Two mechanisms, each where it is the robust one:

- A foreign program (nats-server) or a ``hub serve`` child: the kernel's parent-death signal
  (Linux ``prctl(PR_SET_PDEATHSIG)``), set between fork and exec by ``die_with_parent``. Nothing in
  the child has to cooperate, and it fires on SIGKILL. It fires when the *thread* that forked the
  child ends, so start such children from a thread that lives as long as they should (the main
  thread in every command). A parent that died before the child set it is caught by comparing the
  parent pid afterwards.
- A Python worker (multiprocessing): a daemon thread in the worker that watches the parent pid
  (``watch_parent``). It does not depend on which thread of the parent started the worker (a
  process pool starts workers from whichever thread submits), needs no ctypes, and works on
  every platform; the worker notices within half a second.

A port is checked before anything starts (``require_free``), so a command says which port is taken
and which option changes it instead of attaching to whatever listens there. A NATS storage folder is
held by an exclusive lock for the lifetime of the server using it (``StoreLock``): the lock's file
descriptor is inherited by the server, so it stays held as long as that server runs, even if the
process that started it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from shared.files import FILE_MODE

T = TypeVar("T")
PR_SET_PDEATHSIG = 1
LOCK_FILE = "hub-ledger.lock"


class ProcessConflict(RuntimeError):
    """Something another process holds (a port, a storage folder): one line, nothing started."""


class PortInUse(ProcessConflict):
    """A port this command would listen on is taken."""

    def __init__(self, port: int, host: str, what: str, option: str | None) -> None:
        self.port = port
        change = f": choose another with {option}" if option else ""
        super().__init__(f"port {port} on {host} ({what}) is already in use{change}")


class StoreInUse(ProcessConflict):
    """A NATS storage folder is held by a running server."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on `port`: bound with SO_REUSEADDR as servers bind, so a port a
    stopped server left in TIME_WAIT counts as free, one a server listens on does not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def require_free(host: str, ports: Mapping[int, tuple[str, str | None]]) -> None:
    """Every port in `ports` ({port: (what listens there, the option that changes it)}) is free,
    or ``PortInUse`` naming the first that is not."""
    for port, (what, option) in ports.items():
        if not port_is_free(port, host):
            raise PortInUse(port, host, what, option)


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


_PRCTL = _libc_prctl()  # looked up once, here, not in a forked child


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child `sig` when this process (strictly: the
    forking thread) ends, however it ends; None where the platform has no such thing (the child
    then outlives a killed parent, as it always did). Start the child with ``start_new_session``
    too, so a terminal's Ctrl-C reaches only this process, which stops its children in order."""
    if _PRCTL is None:
        return None
    prctl, parent = _PRCTL, os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return in_child


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """In a worker process: end it as soon as `parent` is no longer its parent (the parent died,
    SIGKILL included, and the worker was handed to init)."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class StoreLock:
    """An exclusive lock on a NATS storage folder, for as long as the server using it runs.

    Taken before the server starts (``StoreInUse`` if another holds it); its descriptor is handed
    to the server (``fd`` in ``pass_fds``), so the lock lasts exactly as long as that server, even
    if the process that started it is killed. ``release`` closes this process's copy once the
    server holds its own."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise StoreInUse(
                f"the NATS storage folder {folder} is in use by another nats-server "
                f"(pid {holder}): stop it first (is this command already running?)"
            ) from None
        os.set_inheritable(self.fd, True)

    @classmethod
    def check(cls, folder: Path) -> None:
        """``StoreInUse`` if a server holds `folder` now (the lock is taken and let go at once)."""
        cls(folder).release()

    def record(self, pid: int) -> None:
        """Write the server's pid into the lock file, for the message another start prints."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{pid}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def require_stores_free(data_dir: Path) -> None:
    """No nats-server holds a storage folder under `data_dir` (before it is wiped or reused)."""
    for lock in sorted(data_dir.glob(f"nats/*/{LOCK_FILE}")):
        StoreLock.check(lock.parent)


class Stopping:
    """This process's one stop request, from SIGINT (Ctrl-C) or SIGTERM (systemd, Kubernetes).

    While the process is starting, a stop cancels its main task, so the ``finally`` blocks stop
    what has started, in order. Once it serves (inside ``wait``), a stop ends the wait instead, and
    the server stops as it would: HTTP and consumers drain, then relays and brokers, then the
    nats-servers it started. Only the first signal counts: one arriving while it stops changes
    nothing (a drain is not cut short into a traceback). The handlers stay until the loop closes.
    """

    _by_loop: dict[asyncio.AbstractEventLoop, Stopping] = {}

    def __init__(self, main: asyncio.Task[Any] | None) -> None:
        self.event = asyncio.Event()
        self._main = main
        self._waiting = 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)

    @classmethod
    def current(cls) -> Stopping:
        """The running loop's (installed with the current task as the main one, on first use)."""
        loop = asyncio.get_running_loop()
        for old in [old for old in cls._by_loop if old.is_closed()]:
            del cls._by_loop[old]
        if loop not in cls._by_loop:
            cls._by_loop[loop] = cls(asyncio.current_task())
        return cls._by_loop[loop]

    def _on_signal(self) -> None:
        if self.event.is_set():
            return
        self.event.set()
        if not self._waiting and self._main is not None:
            self._main.cancel()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Within: a stop sets ``event`` for the caller to stop gracefully, rather than cancelling
        the main task (uvicorn cut short by a cancel would skip its shutdown)."""
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1

    async def wait(self) -> None:
        """Until a stop is asked for (a stop asked before counts)."""
        with self.serving():
            await self.event.wait()


def run_until_stopped(main: Coroutine[Any, Any, T]) -> T | None:
    """Run a long-lived command's `main` with ``Stopping`` in place; None when a signal cut its
    start short (its clean-up has run), else what it returned."""

    async def stoppable() -> T:
        Stopping.current()
        return await main

    try:
        return asyncio.run(stoppable())
    except (KeyboardInterrupt, asyncio.CancelledError):
        return None
