"""A reporting app with dashboard users, over the fixed dataset of tests/test_reporting_views.py."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.reporting.app import create_app
from services.reporting.dashboard.auth import write_users_file
from shared.auth import Role
from tests.helpers import System

USERS = {
    "manager": ("manager-pw", Role.CONSORTIUM_MANAGER, None),
    "auditor": ("auditor-pw", Role.AUDITOR, None),
    "coventry-staff": ("coventry-pw", Role.NODE_STAFF, "coventry"),
}
PERIOD = "2024-25"


def dashboard_app(system: System, folder: Path) -> FastAPI:
    """The reporting app as deployed: users from a file of hashes, a fixed session secret."""
    users, secret = folder / "dashboard-users.json", folder / "session-secret"
    write_users_file(users, USERS)
    secret.write_text("test-secret")
    system.reporting.own = system.reporting.own.model_copy(
        update={"dashboard_users_file": users, "dashboard_session_secret_file": secret}
    )
    return create_app(system.reporting)


@contextlib.asynccontextmanager
async def signed_in(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        r = await client.post(
            "/dashboard/login",
            data={"username": name, "password": USERS[name][0], "next": "/dashboard/"},
        )
        assert r.status_code == 303, r.text
        yield client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
