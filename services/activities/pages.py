"""Web pages of partner returns (docs/partner-returns.md), server-rendered with the GOV.UK Design
System's patterns and no JavaScript: the partner's (`/return/…`, reached only through a session its
invitation link opened; its questions one thing per page, `steps.py`) and node staff's
(`/staff/returns/…`: invite, review, accept, send back).

Each page declares its scope and passes the one access policy (`shared.auth.authorize`): a partner's
session is a `partner` principal that reaches its own return only; staff sign in with their API
token (or send it as a bearer token). Forms carry a CSRF token and redirect after a POST.
"""

from __future__ import annotations

import hmac
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from services.activities import steps
from services.activities import web_returns as wr
from services.activities.mail import send_invitation
from services.activities.register import RegisterUnavailable, Setting, SettingsRegister
from services.activities.settings import ActivitiesSettings
from shared.auth import Ask, Principal, Role, Scope, authorize, declare, require
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.errors import Invalid, Refused
from shared.node_service import NodeService

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters.update(option=steps.option_label, when=steps.long_date)
STATIC = Path(__file__).parent / "static"
VOCABULARY = {
    "kinds": list(ActivityKind),
    "functions": list(StrategicFunction),
    "aims": list(Aim),
    "levels": list(Level),
}


class PageRoute(APIRoute):
    """A page answers a refusal (a rule, a closed return, no session) as a page with its status,
    where the API answers JSON: one place, so no page can forget it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except Refused as exc:
                return render(request, "refused.html", exc.status_code, reason=exc.reason)
            except HTTPException as exc:
                if exc.status_code not in (400, 401, 403, 404):
                    raise
                reason = str(exc.detail)
                return render(request, "refused.html", exc.status_code, reason=reason)

        return page


PAGES: dict[str, Any] = {
    "include_in_schema": False,
    "default_response_class": HTMLResponse,
    "route_class": PageRoute,
}
partner_router = APIRouter(prefix="/return", **PAGES)
staff_router = APIRouter(prefix="/staff", **PAGES)


def _service(request: Request) -> NodeService:
    service: NodeService = request.app.state.service
    return service


def _settings(request: Request) -> ActivitiesSettings:
    settings: ActivitiesSettings = request.app.state.activities_settings
    return settings


def partner_cookie(node: str) -> str:
    """Per node: the demo's services share one host, and a browser keys cookies by host."""
    return f"hl_return_{node}"


def staff_cookie(node: str) -> str:
    return f"hl_staff_{node}"


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("node", _service(request).node)
    return TEMPLATES.TemplateResponse(request, name, context | VOCABULARY, status_code=status)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


async def _form(request: Request, session_token: str | None) -> dict[str, Any]:
    """The posted form; a browser session's carries its CSRF token (a bearer token needs none)."""
    form = await request.form()
    if session_token is not None:
        sent = str(form.get("csrf", ""))
        if not hmac.compare_digest(sent, wr.csrf_token(session_token)):
            raise HTTPException(403, "form expired or not ours: go back, reload and try again")
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form[key] for key in form}


def _public_url(request: Request) -> str:
    return _settings(request).public_url or str(request.base_url)


# --- the partner ---------------------------------------------------------------------------------


class PartnerSession:
    """A partner's signed-in state on one request: who, which return, and the session's token."""

    def __init__(self, principal: Principal, row: Any, token: str) -> None:
        self.principal, self.row, self.token = principal, row, token

    @property
    def csrf(self) -> str:
        return wr.csrf_token(self.token)


async def partner_session(request: Request) -> PartnerSession:
    service = _service(request)
    token = request.cookies.get(partner_cookie(service.node), "")
    row = await wr.session_return(token, service.unit_of_work()) if token else None
    if row is None:
        raise HTTPException(401, "open the link the music hub sent you to reach your return")
    principal = Principal(row.partner_name, Role.PARTNER, service.node, return_id=row.web_return_id)
    require(principal, request.method, Scope.PARTNER, Ask(partner_return=row.web_return_id))
    request.state.principal = principal
    return PartnerSession(principal, row, token)


PartnerDep = Annotated[PartnerSession, Depends(partner_session)]


@partner_router.get("/start/{token}")
@declare(Scope.OPEN)
async def start_page(request: Request, token: str) -> HTMLResponse:
    """The start page an invitation opens; the link is used only by pressing Start."""
    try:
        row = await wr.check_link(token, _service(request).unit_of_work())
    except (wr.LinkRefused, Refused) as exc:
        return render(request, "refused.html", exc.status_code, reason=exc.reason)
    return render(request, "start.html", row=row, token=token)


@partner_router.post("/start/{token}")
@declare(Scope.OPEN)
async def start(request: Request, token: str) -> Response:
    service, settings = _service(request), _settings(request)
    try:
        session = await wr.open_link(token, service.unit_of_work(), settings.session_days)
    except (wr.LinkRefused, Refused) as exc:
        return render(request, "refused.html", exc.status_code, reason=exc.reason)
    response = see_other("/return/")
    response.set_cookie(
        partner_cookie(service.node),
        session,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/return",
    )
    return response


@partner_router.get("/")
@declare(Scope.PARTNER)
async def tasks(request: Request, partner: PartnerDep) -> HTMLResponse:
    return render(request, "tasks.html", s=partner, row=partner.row)


def _flow(group: str) -> steps.Flow:
    if group not in steps.FLOWS:
        raise HTTPException(404, "no such part of a return")
    return steps.FLOWS[group]


def _step_url(flow: steps.Flow, index: int, values: dict[str, Any]) -> str:
    query = urlencode(steps.pairs_of(values))
    return f"/return/{flow.group}/new/{flow.steps[index].name}" + (f"?{query}" if query else "")


async def _matches(request: Request, text: str) -> tuple[list[Setting], str | None]:
    """Settings of the node's register matching a search, or why there are none to show."""
    if not text.strip():
        return [], None
    register: SettingsRegister = request.app.state.settings_register
    try:
        found = await register.search(text)
    except RegisterUnavailable:
        return [], "The register of schools cannot be searched just now: give the school’s URN."
    return found, None if found else f"No school or setting in the register matches “{text}”."


async def _step_page(
    request: Request,
    partner: PartnerSession,
    flow: steps.Flow,
    index: int,
    values: dict[str, Any],
    errors: dict[str, str],
    q: str = "",
) -> HTMLResponse:
    found, note = await _matches(request, q)
    step = flow.steps[index]
    return render(
        request,
        "step.html",
        400 if errors else 200,
        s=partner,
        row=partner.row,
        flow=flow,
        step=step,
        fields={name: steps.FIELDS[name] for name in step.fields},
        last=index == len(flow.steps) - 1,
        back=_step_url(flow, index - 1, values) if index else "/return/",
        action=f"/return/{flow.group}/new/{step.name}",
        carried=steps.pairs_of(values, step.fields),
        search_carried=steps.pairs_of(values),
        values=values,
        errors=errors,
        q=q,
        found=found,
        note=note,
    )


@partner_router.get("/{group}/new")
@declare(Scope.PARTNER)
async def new_entry(group: str, partner: PartnerDep) -> Response:
    """Adding an activity, WCET or CPD starts at its first question."""
    return see_other(_step_url(_flow(group), 0, {}))


@partner_router.get("/{group}/new/{step}")
@declare(Scope.PARTNER)
async def step_page(
    request: Request, group: str, step: str, partner: PartnerDep, q: str = ""
) -> HTMLResponse:
    flow = _flow(group)
    values = steps.values_of(request.query_params.multi_items())
    return await _step_page(request, partner, flow, _index(flow, step), values, {}, q[:100])


def _index(flow: steps.Flow, step: str) -> int:
    try:
        return flow.index(step)
    except Invalid:
        raise HTTPException(404, "no such question") from None


@partner_router.post("/{group}/new/{step}")
@declare(Scope.PARTNER)
async def answer_step(request: Request, group: str, step: str, partner: PartnerDep) -> Response:
    """Check this page's answers (and those before it); the next page, or at the last, save."""
    await _form(request, partner.token)
    flow, form = _flow(group), await request.form()
    index = _index(flow, step)
    values = steps.values_of(form.multi_items())
    errors = steps.step_errors(flow, index, values, partner.row.academic_year)
    if not errors and index < len(flow.steps) - 1:
        return see_other(_step_url(flow, index + 1, values))
    if not errors:
        errors = await _save(request, partner, flow, values)
        if not errors:
            return see_other("/return/")
        index = steps.first_step_with(flow, errors)
    return await _step_page(request, partner, flow, index, values, errors)


async def _save(
    request: Request, partner: PartnerSession, flow: steps.Flow, values: dict[str, Any]
) -> dict[str, str]:
    service = _service(request)
    try:
        answer = wr.ANSWERS[flow.group].model_validate(values)
        await wr.add_answer(
            partner.row.web_return_id, flow.group, answer, service.node, service.unit_of_work()
        )
    except ValidationError as exc:
        return _field_errors(exc)
    except Invalid as exc:
        fields = exc.fields or {flow.steps[-1].fields[0]: exc.reason}
        return {name: steps.message(name, text) for name, text in fields.items()}
    return {}


def _field_errors(exc: ValidationError) -> dict[str, str]:
    named = ((str(e["loc"][0]) if e["loc"] else "title", e["msg"]) for e in exc.errors())
    return {name: steps.message(name, text) for name, text in named}


@partner_router.post("/{group}/{index}/remove")
@declare(Scope.PARTNER)
async def remove_entry(request: Request, group: str, index: int, partner: PartnerDep) -> Response:
    await _form(request, partner.token)
    flow = _flow(group)
    uow = _service(request).unit_of_work()
    await wr.remove_answer(partner.row.web_return_id, flow.group, index, uow)
    return see_other("/return/check")


@partner_router.get("/participants")
@declare(Scope.PARTNER)
async def participants(request: Request, partner: PartnerDep) -> HTMLResponse:
    return render(request, "participants.html", s=partner, row=partner.row)


@partner_router.post("/participants")
@declare(Scope.PARTNER)
async def upload(request: Request, partner: PartnerDep) -> Response:
    form = await _form(request, partner.token)
    file = form.get("register")
    if not isinstance(file, UploadFile) or not file.filename:
        return render(
            request,
            "participants.html",
            400,
            s=partner,
            row=partner.row,
            error="Choose a register file (.csv or .xlsx)",
        )
    service = _service(request)
    suffix = Path(file.filename).suffix.lower()[:6]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"register{suffix}"
        path.write_bytes(await file.read())
        await wr.upload_register(
            partner.row.web_return_id,
            path,
            service.node,
            service.settings.nodes,
            service.unit_of_work(),
        )
    return see_other("/return/participants")


@partner_router.get("/schools")
@declare(Scope.PARTNER)
async def schools(request: Request, partner: PartnerDep) -> HTMLResponse:
    return render(request, "schools.html", s=partner, row=partner.row, error=None)


@partner_router.post("/schools")
@declare(Scope.PARTNER)
async def save_schools(request: Request, partner: PartnerDep) -> Response:
    form = await _form(request, partner.token)
    urns = str(form.get("schools", "")).replace(",", " ").split()
    try:
        await wr.set_schools(partner.row.web_return_id, urns, _service(request).unit_of_work())
    except Invalid as exc:
        error = exc.fields.get("schools", exc.reason)
        return render(request, "schools.html", 400, s=partner, row=partner.row, error=error)
    return see_other("/return/")


@partner_router.get("/check")
@declare(Scope.PARTNER)
async def check(request: Request, partner: PartnerDep) -> HTMLResponse:
    return render(request, "check.html", s=partner, row=partner.row, error=None)


@partner_router.post("/submit")
@declare(Scope.PARTNER)
async def submit(request: Request, partner: PartnerDep) -> Response:
    await _form(request, partner.token)
    try:
        await wr.submit(partner.row.web_return_id, date.today(), _service(request).unit_of_work())
    except Invalid as exc:
        error = next(iter(exc.fields.values()), exc.reason)
        return render(request, "check.html", 400, s=partner, row=partner.row, error=error)
    return see_other("/return/done")


@partner_router.get("/done")
@declare(Scope.PARTNER)
async def done(request: Request, partner: PartnerDep) -> HTMLResponse:
    return render(request, "done.html", s=partner, row=partner.row)


# --- node staff ----------------------------------------------------------------------------------


class StaffSession:
    def __init__(self, principal: Principal, token: str | None) -> None:
        self.principal, self.token = principal, token

    @property
    def csrf(self) -> str:
        return wr.csrf_token(self.token) if self.token else ""


STAFF_SESSION_SECONDS = 8 * 3600


def _staff_sessions(request: Request) -> dict[str, tuple[Principal, float]]:
    """Signed-in staff by the SHA-256 of their cookie, and when each session ends (monotonic):
    kept in this process, so a restart signs staff out."""
    sessions: dict[str, tuple[Principal, float]] = request.app.state.staff_sessions
    return sessions


def _signed_in(request: Request) -> tuple[Principal | None, str | None]:
    """Staff by bearer token (as the API takes them), by their sign-in cookie, or in development
    (no tokens configured) anyone as the node's staff."""
    service = _service(request)
    authenticator = request.app.state.authenticator
    if authenticator is None:
        return Principal("development", Role.NODE_STAFF, service.node), None
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        found = authenticator.authenticate(credential)
        if found is None:
            raise HTTPException(401, "a valid bearer token is required")
        return found, None
    cookie = request.cookies.get(staff_cookie(service.node), "")
    found = _staff_sessions(request).get(wr.digest(cookie)) if cookie else None
    principal = found[0] if found and found[1] > time.monotonic() else None
    return principal, cookie if principal else None


async def staff_session(request: Request) -> StaffSession:
    principal, token = _signed_in(request)
    if principal is None:
        if request.method == "GET":
            raise HTTPException(303, headers={"Location": "/staff/sign-in"})
        raise HTTPException(401, "sign in first")
    authorize(principal, request, _service(request).node)
    return StaffSession(principal, token)


StaffDep = Annotated[StaffSession, Depends(staff_session)]


@staff_router.get("/sign-in")
@declare(Scope.OPEN)
async def sign_in_page(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", error=None)


@staff_router.post("/sign-in")
@declare(Scope.OPEN)
async def sign_in(request: Request) -> Response:
    """Staff sign in with their API token; the cookie names a session kept in this process."""
    form = await request.form()
    authenticator = request.app.state.authenticator
    node = _service(request).node
    token = str(form.get("token", ""))
    principal = authenticator.authenticate(token) if authenticator and token else None
    if authenticator is None:
        principal = Principal("development", Role.NODE_STAFF, node)
    if principal is None or principal.role is not Role.NODE_STAFF or principal.node != node:
        return render(request, "sign_in.html", 400, error=f"That is not a token of {node}'s staff")
    session = secrets.token_urlsafe(32)
    sessions, now = _staff_sessions(request), time.monotonic()
    for digest in [d for d, (_, ends) in sessions.items() if ends <= now]:
        del sessions[digest]
    sessions[wr.digest(session)] = (principal, now + STAFF_SESSION_SECONDS)
    response = see_other("/staff/returns")
    response.set_cookie(
        staff_cookie(node),
        session,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/staff",
        max_age=STAFF_SESSION_SECONDS,
    )
    return response


@staff_router.get("/returns")
@declare(Scope.NODE)
async def returns_list(request: Request, staff: StaffDep, year: str | None = None) -> HTMLResponse:
    lines = await wr.list_web_returns(year, date.today(), _service(request).unit_of_work())
    return render(request, "staff_list.html", s=staff, lines=lines, year=year or "")


@staff_router.get("/returns/invite")
@declare(Scope.NODE)
async def invite_page(request: Request, staff: StaffDep) -> HTMLResponse:
    return render(request, "staff_invite.html", s=staff, values={}, errors={})


def _sent(request: Request, row: Any, link: wr.Link) -> bool:
    return send_invitation(
        _settings(request),
        link.email,
        row.partner_name,
        row.academic_year,
        row.due_on.isoformat(),
        link.url(_public_url(request)),
    )


async def _link_page(request: Request, staff: StaffSession, link: wr.Link) -> HTMLResponse:
    """A new link is shown once, here (not after a redirect: it is stored only as a hash)."""
    row = await wr.get_web_return(link.web_return_id, _service(request).unit_of_work())
    sent = _sent(request, row, link)
    url = link.url(_public_url(request))
    return render(request, "staff_link.html", s=staff, row=row, url=url, link=link, sent=sent)


@staff_router.post("/returns/invite")
@declare(Scope.NODE)
async def invite(request: Request, staff: StaffDep) -> HTMLResponse:
    form = await _form(request, staff.token)
    values = {k: v for k, v in form.items() if k != "csrf" and v != ""}
    values.setdefault("valid_days", _settings(request).invitation_days)
    try:
        values |= await _school(request, values.pop("school_urn", None), values)
        link = await wr.invite(wr.Invite.model_validate(values), _service(request).unit_of_work())
    except ValidationError as exc:
        return render(
            request, "staff_invite.html", 400, s=staff, values=form, errors=_field_errors(exc)
        )
    except Refused as exc:
        errors = exc.fields or {"partner_id": exc.reason}
        return render(request, "staff_invite.html", 400, s=staff, values=form, errors=errors)
    return await _link_page(request, staff, link)


async def _school(request: Request, urn: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """A school invited by URN: its organisation and name from the node's settings register."""
    if urn is None:
        return {}
    if "partner_id" in values:
        raise Invalid("two organisations", {"school_urn": "give an organisation id or a URN"})
    register: SettingsRegister = request.app.state.settings_register
    try:
        found = await register.find(urn.strip())
    except RegisterUnavailable:
        raise Invalid("register unavailable", {"school_urn": UNAVAILABLE}) from None
    if found is None:
        node = _service(request).node
        raise Invalid(
            "unknown URN", {"school_urn": f"no school with this URN in {node}'s register"}
        )
    return {
        "partner_id": found.organisation_id,
        "partner_name": values.get("partner_name", found.name),
    }


UNAVAILABLE = "the register of schools cannot be searched just now: try again later"


@staff_router.post("/returns/remind")
@declare(Scope.NODE)
async def remind(request: Request, staff: StaffDep) -> HTMLResponse:
    await _form(request, staff.token)
    service = _service(request)
    reminded = await wr.remind(
        None, date.today(), service.unit_of_work, _settings(request).invitation_days
    )
    base = _public_url(request)
    shown = [(line, link.url(base), _sent(request, line, link)) for line, link in reminded]
    return render(request, "staff_reminded.html", s=staff, reminded=shown)


@staff_router.get("/returns/{web_return_id}")
@declare(Scope.NODE)
async def review(request: Request, web_return_id: UUID, staff: StaffDep) -> HTMLResponse:
    try:
        row = await wr.get_web_return(str(web_return_id), _service(request).unit_of_work())
    except Refused as exc:
        return render(request, "refused.html", exc.status_code, reason=exc.reason)
    return render(request, "staff_review.html", s=staff, row=row, error=None)


async def _act(
    request: Request, staff: StaffSession, web_return_id: UUID, act: Callable[[], Awaitable[Any]]
) -> Response:
    try:
        await act()
    except Refused as exc:
        row = await wr.get_web_return(str(web_return_id), _service(request).unit_of_work())
        error = next(iter(exc.fields.values()), exc.reason)
        return render(request, "staff_review.html", 400, s=staff, row=row, error=error)
    return see_other(f"/staff/returns/{web_return_id}")


@staff_router.post("/returns/{web_return_id}/accept")
@declare(Scope.NODE)
async def accept(request: Request, web_return_id: UUID, staff: StaffDep) -> Response:
    await _form(request, staff.token)
    service = _service(request)
    keys = request.app.state.pseudonymiser
    return await _act(
        request,
        staff,
        web_return_id,
        lambda: wr.accept(str(web_return_id), service.node, service.unit_of_work, keys),
    )


@staff_router.post("/returns/{web_return_id}/send-back")
@declare(Scope.NODE)
async def send_back(request: Request, web_return_id: UUID, staff: StaffDep) -> Response:
    form = await _form(request, staff.token)
    uow = _service(request).unit_of_work()
    comments = str(form.get("comments", ""))
    return await _act(
        request, staff, web_return_id, lambda: wr.send_back(str(web_return_id), comments, uow)
    )


@staff_router.post("/returns/{web_return_id}/resend")
@declare(Scope.NODE)
async def resend(request: Request, web_return_id: UUID, staff: StaffDep) -> Response:
    await _form(request, staff.token)
    try:
        link = await wr.resend(
            str(web_return_id), _service(request).unit_of_work(), _settings(request).invitation_days
        )
    except Refused as exc:
        return render(request, "refused.html", exc.status_code, reason=exc.reason)
    return await _link_page(request, staff, link)


@staff_router.post("/returns/{web_return_id}/revoke")
@declare(Scope.NODE)
async def revoke(request: Request, web_return_id: UUID, staff: StaffDep) -> Response:
    await _form(request, staff.token)
    uow = _service(request).unit_of_work()
    return await _act(request, staff, web_return_id, lambda: wr.revoke(str(web_return_id), uow))
