"""A service as deployed runs it: one ``hub serve`` child process, configured by environment,
that the harness can start, stop, SIGKILL, restart and read the CPU time of. The bench and the
reliability drills both start their services this way."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.processes import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
HUB = "hub"
"""The node part of reporting's key: reporting serves the hub, not a node."""


@dataclass
class ServiceProcess:
    """One ``hub serve`` child, keyed (node, service) or ("hub", "reporting"), its log in a file;
    restarted with the same command, environment and port."""

    key: tuple[str, str]
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        node, service = self.key
        return service if node == HUB else f"{node} {service}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self) -> None:
        node, service = self.key
        args = [sys.executable, "-m", "hub.cli", "serve", service, "--port", str(self.port)]
        if node != HUB:
            args += ["--node", node]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # ends with this process, however it ends
                args,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far (0 once it has ended)."""
        if self.process is None:
            return 0.0
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(f"/proc/{self.process.pid}/stat").read_text()
            fields = text.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def stop(self) -> None:
        """SIGINT, as systemd stops the units (the relay drains); SIGKILL if it will not end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def wait_ready(proc: ServiceProcess, timeout: float) -> None:
    """Until the service answers /health/ready with 200; its exit fails at once."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.process is None or proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited during startup (log {proc.log})")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{proc.url}/health/ready")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} not ready within {timeout:g}s (log {proc.log})")
            await asyncio.sleep(0.2)
