"""How long each dashboard page takes to render, served in-process (no network): the figure the
benchmark reports beside the JSON routes (harness/bench_worker.py can call `time_pages`).

The first request at a data version computes the page's figures (services/reporting/versioned.py);
later requests at that version are served them. Both are reported: `first_ms`, and p50 and p95
of the requests after it."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi import FastAPI


async def time_pages(app: FastAPI, paths: list[str], repeats: int) -> dict[str, dict[str, Any]]:
    """first, p50 and p95 in ms per page; with no dashboard users configured,
    as the open development user."""
    figures: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
    ) as client:
        for path in paths:
            times, status = [], 0
            for _ in range(max(repeats, 1) + 1):
                started = time.perf_counter()
                status = (await client.get(path)).status_code
                times.append((time.perf_counter() - started) * 1000)
            first, served = times[0], sorted(times[1:])
            figures[path] = {
                "status": status,
                "first_ms": round(first, 1),
                "p50_ms": round(served[len(served) // 2], 1),
                "p95_ms": round(served[min(len(served) - 1, int(len(served) * 0.95))], 1),
            }
    return figures
