"""HTTP hardening at every service's edge (shared/http.py): a body over the limit is refused while
it is read, chunked or not, with the server's memory flat; error bodies quote a short excerpt and
never a UPN; every route of every service answers with the security headers."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.reporting.app import create_app as reporting_app
from shared.http import EXCERPT_CHARS, SECURITY_HEADERS
from shared.identity import SERVICES
from shared.nats_server import NatsServer, free_port
from shared.pseudonym import make_upn
from tests.helpers import System, activity, organisation, wait_for

DELIVERER = "0190a0b0-0000-7000-8000-000000000001"
LIMIT = 1024 * 1024
CHUNK = 64 * 1024
SENT_AT_MOST = 64 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def partners_process(
    tmp_path: Path, nats_server: NatsServer, hub_id: str
) -> Iterator[tuple[int, int]]:
    """`hub serve partners` in a process of its own (so its memory is its own), 1 MiB body limit."""
    port = free_port()
    env = {
        **os.environ,
        "HUB_NATS_URL": nats_server.url,
        "HUB_HUB": hub_id,
        "HUB_MAX_REQUEST_BYTES": str(LIMIT),
    }
    hub = Path(sys.executable).with_name("hub")
    proc = subprocess.Popen(
        [
            str(hub),
            "serve",
            "partners",
            "--node",
            "coventry",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def live() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/live").status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, (
                    proc.stderr.read().decode() if proc.stderr else "server died"
                )
                return False

        while not live():
            time.sleep(0.05)  # starting: not a timing assertion, just not a busy loop
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait()


def post_chunked(port: int, path: str) -> tuple[int, bytes, int]:
    """POST up to SENT_AT_MOST bytes of JSON in chunks, stopping when the server answers:
    (status, body, bytes sent)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = f"{CHUNK:x}\r\n".encode() + b'{"name":"' + b"x" * (CHUNK - 9) + b"\r\n"
        sent = 0
        while sent < SENT_AT_MOST and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 2:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, sent


async def relayed(system: System) -> None:
    """Every event committed so far is published (stopping a relay mid-write can hang on SQLite)."""

    async def backlog() -> int:
        return sum(
            [await s.relay.backlog() for s in system.services.values() if s.relay is not None]
        )

    assert await wait_for(backlog, lambda n: n == 0) == 0


def test_a_chunked_body_over_the_limit_gets_413_and_memory_stays_flat(
    partners_process: tuple[int, int],
) -> None:
    pid, port = partners_process
    before = rss_bytes(pid)
    status, body, sent = post_chunked(port, "/organisations")
    after = rss_bytes(pid)
    assert status == 413, body
    assert b"over 1048576 bytes" in body
    assert sent < SENT_AT_MOST  # answered before the body ended
    assert after - before < 16 * 1024 * 1024, (
        before,
        after,
        sent,
    )  # far less than the body: not held


async def test_a_body_under_the_limit_still_arrives_chunked(system: System) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "Orchestra of the Swan", "roles": ["delivery_partner"],'
        yield b' "areas": ["coventry"], "functions": ["progression"]}'

    async with system.client("coventry", "partners") as client:
        r = await client.post(
            "/organisations", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 201, r.text
    await relayed(system)


async def test_a_chunked_body_over_the_limit_changes_nothing(system: System) -> None:
    limit = system.settings.max_request_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(limit // CHUNK + 2):
            yield b"x" * CHUNK
        yield (
            b'", "roles": ["delivery_partner"], "areas": ["coventry"], '
            b'"functions": ["progression"]}'
        )

    async with system.client("coventry", "partners") as client:
        r = await client.post(
            "/organisations", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413, r.text[:200]
        assert (await client.get("/organisations")).json() == []


async def test_a_422_quotes_a_short_excerpt_and_never_the_upn(system: System) -> None:
    async with system.client("coventry", "activities") as client:
        activity_id = (await client.post("/activities", json=activity(DELIVERER))).json()[
            "activity_id"
        ]
        upn = make_upn("330200612345")
        wrong = ("A" if upn[0] != "A" else "B") + upn[1:]  # a wrong check letter
        pupil = {"upn": wrong, "year_group": 4, "home_area": "coventry"}
        r = await client.post(f"/activities/{activity_id}/participants", json={"pupils": [pupil]})
        huge = await client.post(
            "/activities", json=activity(DELIVERER, title="t" * 100_000, headcount="many")
        )
    await relayed(system)
    assert r.status_code == 422, r.text
    assert upn[1:] not in r.text and "upn" in r.text  # the field is named, its value not quoted
    assert huge.status_code == 422
    assert len(huge.content) < 2000
    for error in huge.json()["detail"]:
        assert len(error.get("input", "")) <= EXCERPT_CHARS + 1 and {"loc", "msg", "type"} <= set(
            error
        )


async def test_a_register_row_missing_a_field_does_not_quote_its_upn(system: System) -> None:
    upn = make_upn("330200612345")
    async with system.client("coventry", "activities") as client:
        r = await client.post(
            "/activities/register", json={"rows": [{"activity_ref": "a", "upn": upn}]}
        )
    assert r.status_code == 422, r.text
    assert re.search(r"\d{11}", r.text) is None, r.text


def apps(system: System) -> Iterator[tuple[str, FastAPI]]:
    """Every service's app as deployed (tokens on, dashboard users on), from the runner's tables."""
    for service in SERVICES:
        yield service, system._apps[("coventry", service)]
    yield "reporting", reporting_app(system.reporting)


def sample_path(route: APIRoute) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", route.path)


async def test_every_route_of_every_service_answers_with_the_security_headers(
    system: System, tmp_path: Path
) -> None:
    missing = []
    for name, app in apps(system):
        paths = {"/docs", "/openapi.json", "/docs/assets/swagger-ui.css", "/no-such-page"}
        paths |= {sample_path(r) for r in app.routes if isinstance(r, APIRoute)}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as client:
            for path in sorted(paths):
                r = await client.get(path)
                lacking = [h for h, v in SECURITY_HEADERS.items() if r.headers.get(h) != v]
                if lacking:
                    missing.append(f"{name} GET {path} ({r.status_code}): {lacking}")
                r = await client.post(path, content=b"{")
                if any(r.headers.get(h) != v for h, v in SECURITY_HEADERS.items()):
                    missing.append(f"{name} POST {path} ({r.status_code})")
    assert missing == []
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in SECURITY_HEADERS["Content-Security-Policy"]


async def test_a_refusal_quoting_a_long_identifier_is_cut_short(system: System) -> None:
    async with system.client("coventry", "partners") as client:
        r = await client.post("/organisations", json=organisation(org_id="GB-XXX-" + "x" * 5000))
    assert r.status_code == 422, r.text[:300]
    assert len(r.content) < 2000, r.text[:300]


async def test_a_server_error_says_little_and_carries_the_headers(settings) -> None:  # type: ignore[no-untyped-def]
    from contextlib import asynccontextmanager

    from fastapi import APIRouter

    from shared.node_service import create_http_app

    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"pupil {make_upn('330200612345')} broke it")

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield

    app = create_http_app("t", "t", [router], lifespan, settings, "coventry", asyncapi={})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        r = await client.get("/boom")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert all(r.headers.get(h) == v for h, v in SECURITY_HEADERS.items())


def test_redaction_removes_upns_but_quotes_amounts_in_pounds_whole() -> None:
    from shared.http import safe_detail

    upn = make_upn("330200612345")
    assert safe_detail(f"pupil {upn} twice") == "pupil [removed] twice"
    assert safe_detail(f"pupil {upn[:-1]}7 twice") == "pupil [removed] twice"  # mistyped
    assert safe_detail(f"pupil {upn[1:]} twice") == "pupil [removed] twice"  # its letter left off
    over = "source e1 has £313,480.05 left; £1,000,000,000.00 requested"
    assert safe_detail(over) == over
    entry = "0193a4f2-7c3e-7d11-9b2a-a12345678901"  # an id ending in a run of digits
    assert safe_detail(f"source {entry} is revenue") == f"source {entry} is revenue"
    run_on = safe_detail(f"{entry}{upn}")  # not a UUID: a UPN run on to one
    assert run_on == f"{entry[:-12]}[removed][removed]"
    assert safe_detail(f"{entry[:-1]}-{upn[1:]}") == f"{entry[:-1]}-[removed]"
