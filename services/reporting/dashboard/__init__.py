"""The web dashboard of the reporting service: HTML pages over the catalogue of views for
consortium managers, node staff and auditors (docs/dashboard.md)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from services.reporting.dashboard import auditing
from services.reporting.dashboard.auth import Users
from services.reporting.dashboard.routes import LoginRequired, router, templates
from services.reporting.dashboard.sessions import LoginThrottle, Sessions
from services.reporting.read.catalogue import VIEWS
from shared.http import http_error_response, safe_detail

if TYPE_CHECKING:
    from services.reporting.ingest.consumer import ReportingService

STATIC = Path(__file__).parent / "static"
PREFIX = "/dashboard"


def mount_dashboard(app: FastAPI, service: ReportingService) -> None:
    """Add the pages, their assets, the signed session cookie and HTML error pages to `app`."""
    own = service.own
    secret = (
        own.dashboard_session_secret_file.read_text().strip()
        if own.dashboard_session_secret_file
        else secrets.token_urlsafe(32)
    )  # sessions then last as long as the process
    app.state.dashboard_users = Users.from_file(own.dashboard_users_file) or (
        Users() if service.settings.auth_tokens_file else None
    )  # open only where the API is open too
    app.state.dashboard_sessions = Sessions(own.dashboard_session_hours)
    app.state.login_throttle = LoginThrottle(
        own.dashboard_login_attempts, own.dashboard_login_lock_seconds
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="hub_dashboard",
        path=PREFIX,
        max_age=own.dashboard_session_hours * 3600,
        same_site="strict",
        https_only=own.dashboard_secure_cookie,
    )
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(auditing.router)  # first: its /download/trail.* before a view's download
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(StarletteHTTPException, _html_errors)


async def _to_login(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)


async def _html_errors(request: Request, exc: Exception) -> Response:
    """Dashboard pages answer errors as pages; the JSON API keeps FastAPI's JSON answers."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(PREFIX + "/") or request.url.path.startswith(
        f"{PREFIX}/download/"
    ):
        return await http_error_response(request, exc)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": exc.status_code, "detail": safe_detail(exc.detail), "user": None},
        status_code=exc.status_code,
    )


def dashboard_pages(period: str, node: str | None = None) -> list[str]:
    """The dashboard URLs worth timing (harness/bench.py): every page a manager opens, for one
    period. The audit page is left out, as /report/audit is: it is a batch verification, not a
    query."""
    query = f"?period={period}" + (f"&node={node}" if node else "")
    pages = ["/", "/funding", "/areas", "/partners", "/trace?view=pupils&key=hub&period=" + period]
    pages += [f"/views/{name}" for name in VIEWS]
    return [f"{PREFIX}{p}{'' if '?' in p else query}" for p in pages]
