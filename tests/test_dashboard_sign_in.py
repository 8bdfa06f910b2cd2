"""Dashboard sign-in through the real reporting app: failed sign-ins locked per account and per
client (logged, the right password refused too until the window passes, then accepted), and a
signed-out session refused on the server even to a copy of its cookie."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.reporting.dashboard.sessions import CLIENT_FACTOR
from tests.dashboard_helpers import USERS, dashboard_app
from tests.helpers import System

ATTEMPTS = 3


def app_with_lock(system: System, folder: Path, seconds: float) -> FastAPI:
    system.reporting.own = system.reporting.own.model_copy(
        update={"dashboard_login_attempts": ATTEMPTS, "dashboard_login_lock_seconds": seconds}
    )
    return dashboard_app(system, folder)


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://reporting")


async def sign_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post(
        "/dashboard/login", data={"username": name, "password": password, "next": "/dashboard/"}
    )


async def test_an_account_is_locked_after_failures_and_opens_after_the_window(
    system: System, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = 2.0
    app = app_with_lock(system, tmp_path, lock)
    right = USERS["manager"][0]
    async with client_at(app, "10.0.0.1") as here, client_at(app, "10.0.0.2") as elsewhere:
        with caplog.at_level(logging.WARNING, "services.reporting.dashboard.sessions"):
            wrong = [
                (await sign_in(here, "manager", f"guess {i}")).status_code for i in range(ATTEMPTS)
            ]
        locked = await sign_in(here, "manager", right)
        from_elsewhere = await sign_in(elsewhere, "manager", right)
        other_account = await sign_in(here, "auditor", USERS["auditor"][0])
        await asyncio.sleep(lock)
        after = await sign_in(here, "manager", right)
    assert wrong == [401] * ATTEMPTS
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert 0 < int(locked.headers["Retry-After"]) <= lock
    assert (
        from_elsewhere.status_code == 429
    )  # the account is locked, wherever the attempt comes from
    assert other_account.status_code == 303  # one account's lock is not the client's
    assert after.status_code == 303, after.text
    assert [r.getMessage() for r in caplog.records] == [
        f"dashboard sign-in locked for {lock:.0f} s after {ATTEMPTS} failures: account manager"
    ]
    assert "guess" not in caplog.text


async def test_a_client_is_locked_after_failures_across_accounts(
    system: System, tmp_path: Path
) -> None:
    app = app_with_lock(system, tmp_path, 600)
    async with client_at(app, "10.0.0.3") as here, client_at(app, "10.0.0.4") as elsewhere:
        codes = [
            (await sign_in(here, f"user{i % (ATTEMPTS * 2)}", "nope")).status_code
            for i in range(ATTEMPTS * CLIENT_FACTOR)
        ]  # under each account's allowance, over the client's
        locked = await sign_in(here, "manager", USERS["manager"][0])
        elsewhere_ok = await sign_in(elsewhere, "manager", USERS["manager"][0])
    assert codes == [401] * (ATTEMPTS * CLIENT_FACTOR)
    assert locked.status_code == 429
    assert elsewhere_ok.status_code == 303


async def test_a_signed_out_session_is_refused_even_with_its_cookie(
    system: System, tmp_path: Path
) -> None:
    """Pages the user viewed before signing out are held per data version (versioned.py): a copy of
    the very cookie they were viewed with must not be served them from there either."""
    app = dashboard_app(system, tmp_path)
    pages = ["/dashboard/audit", "/dashboard/", "/dashboard/views/reach", "/dashboard/areas"]
    async with client_at(app, "10.0.0.5") as browser:
        assert (await sign_in(browser, "manager", USERS["manager"][0])).status_code == 303
        copied = {"Cookie": f"hub_dashboard={browser.cookies['hub_dashboard']}"}
    async with client_at(
        app, "10.0.0.5"
    ) as owner:  # sends exactly the copied cookie, as a copy would
        for page in pages:
            assert (await owner.get(page, headers=copied)).status_code == 200, page
        assert (await owner.post("/dashboard/logout", headers=copied)).status_code == 303
    async with client_at(app, "10.0.0.6") as thief:
        answers = {page: await thief.get(page, headers=copied) for page in pages}
    for page, r in answers.items():
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login"), page
