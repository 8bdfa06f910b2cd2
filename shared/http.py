"""What every service's HTTP app shares at its edge: body-size and rate limits counted as the body
arrives, security headers on every response, error bodies that quote little of the input and never
a UPN, and API docs served from vendored Swagger UI (no CDN).

Each is pure ASGI or an exception handler, installed once by ``shared.node_service.create_http_app``
(reporting included), so no route can step around them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Scope as AccessScope
from shared.auth import declare, token_digest

DOCS_ASSETS = Path(__file__).parent / "static" / "swagger-ui"
DOCS_PREFIX = "/docs/assets"
EXCERPT_CHARS = 40
"""The most of a refused input an error body quotes: enough to find it,
too little to echo a payload."""
MESSAGE_CHARS = 300
"""The longest error message sent: ours are shorter, unless one quotes what it refuses."""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src "
        "'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: browsers would then send `Origin: null` on our own forms
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
_UPN_LIKE = re.compile(
    r"(?P<uuid>(?<![0-9A-Za-z-])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![0-9A-Za-z-]))"
    r"|[A-Za-z]?\d{11,}[A-Za-z]?"
)
"""A UPN (a letter and 12 digits; temporary UPNs end in a letter) and anything near enough to be one
mistyped, its letter left off included: never quoted back, whichever field it was put in. Amounts
are quoted in pounds (``£1,000.00``), which this never matches. A whole UUID (the ids of entries,
activities, organisations) is matched first and quoted as it is: one in a hundred or so ends in a
run of digits, and no UPN fits its last twelve characters."""


def without_upns(text: str) -> str:
    """`text` with anything UPN-like replaced by ``[removed]`` (whole UUIDs kept)."""
    return _UPN_LIKE.sub(_removed, text)


def _removed(match: re.Match[str]) -> str:
    return match["uuid"] or "[removed]"


# ---------------------------------------------------------------- limits


class BodyTooLarge(HTTPException):
    """Raised from `receive` as soon as a body passes the limit, whoever is reading it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class LimitsMiddleware:
    """Refuse bodies over `max_bytes` (413) and clients over `per_minute` requests (429).

    Pure ASGI: a declared Content-Length over the limit is refused before reading; otherwise bytes
    are counted as the server hands them over, chunked or not, and the read stops with a 413 the
    moment the count passes the limit, so an oversized body is never held in memory or parsed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, per_minute: int) -> None:
        self.app = app
        self._max_bytes = max_bytes
        self._per_minute = per_minute
        self._windows: dict[str, tuple[int, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_bytes):
            await self._too_large(scope, receive, send)
            return
        if not self._allow(_client_key(scope, headers)):
            await JSONResponse(
                {"detail": "rate limit exceeded; retry in a minute"},
                status_code=429,
                headers={"Retry-After": "60"},
            )(scope, receive, send)
            return
        await self._counting(scope, receive, send)

    async def _counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    raise BodyTooLarge(self._max_bytes)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except (
            BodyTooLarge
        ):  # read outside FastAPI's exception handling (e.g. by another middleware)
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self._max_bytes} bytes"},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    def _allow(self, key: str) -> bool:
        minute = int(time.monotonic() // 60)
        window, count = self._windows.get(key, (minute, 0))
        if window != minute:
            window, count = minute, 0
        if count >= self._per_minute:
            return False
        self._windows[key] = (window, count + 1)
        if len(self._windows) > 10_000:  # forget idle clients; bounded memory under address churn
            self._windows = {k: v for k, v in self._windows.items() if v[0] == minute}
        return True


def _client_key(scope: Scope, headers: Headers) -> str:
    auth = headers.get("authorization")
    if auth:
        return "t:" + token_digest(auth)
    client = scope.get("client")
    return "ip:" + (client[0] if client else "?")


# ---------------------------------------------------------------- security headers


class SecurityHeaders:
    """Add SECURITY_HEADERS to every response (pages, JSON, errors, static files) that
    lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


# ---------------------------------------------------------------- error bodies


def redact(text: str) -> str:
    """`text` with anything UPN-like replaced and cut to EXCERPT_CHARS."""
    text = without_upns(text)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def excerpt(value: Any) -> str:
    """A short, UPN-free quotation of a refused input, whatever its type or size."""
    if isinstance(value, str):
        return redact(value)
    try:
        text = json.dumps(jsonable_encoder(value), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = type(value).__name__
    return redact(text)


def safe_detail(detail: Any) -> Any:
    """An error detail as it may be sent: UPNs removed from every string, a message that quotes a
    long input cut at MESSAGE_CHARS, structure kept."""
    if isinstance(detail, str):
        text = without_upns(detail)
        return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"
    if isinstance(detail, list):
        return [safe_detail(d) for d in detail]
    if isinstance(detail, dict):
        return {k: safe_detail(v) for k, v in detail.items()}
    return detail


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors with `input` cut to an excerpt, `ctx` and `url` dropped, UPNs removed."""
    out = []
    for error in errors:
        item = {
            "loc": [redact(str(p)) if isinstance(p, str) else p for p in error.get("loc", ())],
            "msg": safe_detail(str(error.get("msg", ""))),
            "type": error.get("type", ""),
        }
        if "input" in error:
            item["input"] = excerpt(error["input"])
        out.append(item)
    return out


async def validation_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """422 with field-level reasons; unlike FastAPI's own, the input is never echoed whole."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": field_errors(exc.errors())})


async def http_error_response(_request: Request, exc: Exception) -> Response:
    """FastAPI's JSON error answer with the detail redacted
    (a message may quote what was asked for)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(
        {"detail": safe_detail(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def internal_error_response(_request: Request, _exc: Exception) -> JSONResponse:
    """A 500 is answered outside every middleware (Starlette's ServerErrorMiddleware), so it carries
    the security headers itself; the traceback goes to the log, never to the client."""
    return JSONResponse({"detail": "internal error"}, status_code=500, headers=SECURITY_HEADERS)


def install(app: FastAPI) -> None:
    """The security headers, field-level error bodies that quote little, and a bare 500,
    on `app`."""
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    app.add_exception_handler(HTTPException, http_error_response)
    app.add_exception_handler(Exception, internal_error_response)


# ---------------------------------------------------------------- docs


def docs_page(title: str, openapi_url: str) -> HTMLResponse:
    """Swagger UI from the vendored assets; its start-up is a static file too, so the CSP holds."""
    return HTMLResponse(f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{DOCS_PREFIX}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{DOCS_PREFIX}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PREFIX}/docs-init.js"></script>
</body>
</html>""")


def mount_docs(app: FastAPI, asyncapi: dict[str, Any]) -> None:
    """Serve `/docs` (and its assets) from this repository, FastAPI's own pages load them from a
    CDN, and `/asyncapi.json`, the AsyncAPI document of the events this app sends or receives."""
    title, openapi_url = f"{app.title}: API", app.openapi_url or "/openapi.json"

    @declare(AccessScope.OPEN)  # what the API is, not its data: as open as /openapi.json
    async def docs() -> HTMLResponse:
        return docs_page(title, openapi_url)

    @declare(AccessScope.OPEN)  # the events' shapes, not their data: as open as /openapi.json
    async def events() -> JSONResponse:
        return JSONResponse(asyncapi)

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/asyncapi.json", events, include_in_schema=False)
    app.mount(DOCS_PREFIX, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
