"""Request-size and rate limits on a real FastAPI app (the access policy:
tests/test_access_policy.py)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.http import LimitsMiddleware


def app_with_limits(max_bytes: int, per_minute: int) -> FastAPI:
    app = FastAPI()
    app.add_middleware(LimitsMiddleware, max_bytes=max_bytes, per_minute=per_minute)

    @app.post("/echo")
    async def echo(body: dict) -> dict:
        return body

    return app


async def test_oversized_bodies_get_413_and_change_nothing() -> None:
    transport = httpx.ASGITransport(app=app_with_limits(max_bytes=100, per_minute=100))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        assert (await client.post("/echo", json={"a": "b"})).status_code == 200
        assert (await client.post("/echo", json={"a": "x" * 200})).status_code == 413


async def test_a_client_over_its_budget_gets_429_others_do_not() -> None:
    transport = httpx.ASGITransport(app=app_with_limits(max_bytes=1000, per_minute=3))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        codes = [
            (await client.post("/echo", json={}, headers={"Authorization": "Bearer a"})).status_code
            for _ in range(4)
        ]
        other = (
            await client.post("/echo", json={}, headers={"Authorization": "Bearer b"})
        ).status_code
    assert codes == [200, 200, 200, 429]
    assert other == 200
