"""How long each dashboard page takes to render, served in-process (no network): the figure the
benchmark reports beside the JSON routes (hub/bench_worker.py can call `time_pages`)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import FastAPI


async def time_pages(app: FastAPI, paths: list[str], repeats: int) -> dict[str, dict[str, Any]]:
    """p50 and p95 in ms per page; with no dashboard users configured, as the open development user."""
    figures: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120) as client:
        for path in paths:
            times, status = [], 0
            for _ in range(max(repeats, 1)):
                started = time.perf_counter()
                status = (await client.get(path)).status_code
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            figures[path] = {"status": status, "p50_ms": round(times[len(times) // 2], 1),
                             "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1)}
    return figures
