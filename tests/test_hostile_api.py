"""Schemathesis against every service's OpenAPI, in process: generated requests (valid and not)
never get a 5xx. Node services run without NATS (they serve, not ready); reporting reads only."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NOT_SET

from hub.runner import NODE_SERVICES, node_app, reporting_asgi
from shared.nats_server import free_port
from shared.settings import HubSettings

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "15"))
DERANDOMIZE = os.environ.get("HUB_FUZZ_RANDOM") != "1"  # CI: the same cases every run


class Loop:
    """One event loop in a thread, where the apps' services start and their requests run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


async def send(app: object, case) -> httpx.Response:  # type: ignore[no-untyped-def]
    """The generated request, as bytes on the wire would carry it, to the app on our own loop."""
    kwargs: dict[str, object] = {
        "params": case.query,
        "headers": {k: str(v) for k, v in (case.headers or {}).items()},
    }
    if case.body is not NOT_SET:
        if case.media_type and "json" not in case.media_type:
            kwargs["content"] = (
                case.body if isinstance(case.body, bytes) else str(case.body).encode()
            )
            kwargs["headers"]["content-type"] = case.media_type  # type: ignore[index]
        else:
            kwargs["json"] = case.body
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://fuzz"
    ) as client:
        return await client.request(case.method, case.formatted_path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def loop() -> Loop:
    return Loop()


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, loop: Loop) -> Iterator[dict[str, object]]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    settings_ = HubSettings(
        hub="fuzz", data_dir=folder, nodes=["coventry"], rate_limit_per_minute=1_000_000
    )
    nats_url = f"nats://127.0.0.1:{free_port()}"  # nothing listens: services must still answer
    made = {name: node_app(name, settings_, "coventry", nats_url) for name in NODE_SERVICES}
    reporting = reporting_asgi(settings_, nats_url)
    for app in made.values():
        loop.run(app.state.service.start(attach_timeout=0.1))
    loop.run(reporting.state.reporting.start(consume=False))
    made["reporting"] = reporting
    yield made
    for name in NODE_SERVICES:
        loop.run(made[name].state.service.stop())
    loop.run(reporting.state.reporting.stop())


@pytest.mark.parametrize("service", [*NODE_SERVICES, "reporting"])
def test_no_generated_request_gets_a_5xx(apps: dict[str, object], loop: Loop, service: str) -> None:
    schema = schemathesis.openapi.from_dict(apps[service].openapi())  # type: ignore[attr-defined]
    failures: list[str] = []
    calls = 0
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def call(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            response = loop.run(send(apps[service], case))
            if (
                response.status_code >= 500 and case.formatted_path != "/health/ready"
            ):  # 503 there is the answer
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        call()
    assert calls > 0
    assert not failures, "\n".join(failures[:10])
