"""The auditor's pages: a grant's trail as a table with its downloads, and one applied event with
its payload and its node signature checked against the hub stream. Every trail entry and every
figure-trace row links to its event's page."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import func, select

from services.reporting.dashboard.routes import Page, User, page_guard, render
from services.reporting.deps import ReadSession
from services.reporting.models import AppliedEventRow
from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.read.exports.registry import EXPORTERS
from services.reporting.read.exports.tables import to_json
from services.reporting.read.exports.trail import trails
from services.reporting.read.labels import Names, label
from services.reporting.read.names import load_names
from services.reporting.read.params import ViewParams
from services.reporting.read.views.funding import activity_pounds, load_ledger
from services.reporting.read.views.trail import grant_trail
from shared.auth import Ask, Scope, declare, named_by_filters, named_in_path, require
from shared.envelope import Envelope, InvalidEvent, parse_event
from shared.http import without_upns

router = APIRouter(prefix="/dashboard", include_in_schema=False, dependencies=[Depends(page_guard)])
"""Included before the pages' router: /download/trail.* is not a view's download."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": "text/csv", "xlsx": XLSX, "json": "application/json"}


# ---------------------------------------------------------------- grant trail


@router.get("/trace/grant/{ledger_node}/{entry_id}")
@declare(Scope.NODE, named_in_path)
async def grant_page(
    request: Request, session: ReadSession, user: User, f: Page, ledger_node: str, entry_id: str
) -> Response:
    ledger = await load_ledger(session)
    if (ledger_node, entry_id) not in ledger.entries:
        raise HTTPException(404, f"no entry {entry_id} at {ledger_node}")
    trail = grant_trail(ledger, ledger_node, entry_id, await load_names(session))
    ids = {a for r in trail.rows for a in r.activity_ids}
    return await render(
        request,
        session,
        "grant.html",
        user,
        f,
        grant=ledger.entries[(ledger_node, entry_id)],
        trail=trail,
        activities=await _activities(session, ids),
        source=label(ledger.entries[(ledger_node, entry_id)].source or "income"),
        download=f.query(node=ledger_node) + f"&entry={entry_id}",
    )


async def _activities(session: ReadSession, ids: set[str]) -> dict[str, tuple[str, str]]:
    """Activities by id: their title and the event that recorded them as they stand (its page)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(ActivityView.activity_id, ActivityView.title, ActivityView.event_id).where(
            ActivityView.activity_id.in_(ids)
        )
    )
    return {a: (title, event_id) for a, title, event_id in rows}


@router.get("/download/trail.{fmt}")
@declare(Scope.NODE, named_by_filters)
async def download_trail(
    request: Request,
    session: ReadSession,
    user: User,
    f: Page,
    fmt: Literal["csv", "xlsx", "json"],
    entry: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    """One grant's trail (``?node=…&entry=…``), or every grant's of the period (one node's when
    the filters or the user's scope name one), through the exporter registry."""
    if entry and not f.node:
        raise HTTPException(422, "entry needs the node whose ledger holds it (?node=)")
    p = f.view_params(request)
    key = f"{f.node}/{entry}" if entry else None
    name = f"trail-{f.node}-{entry}" if entry else f"trails-{f.period}"
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    try:
        if fmt == "json":
            body = to_json(await trails(session, p, key))
            return Response(body, media_type=MEDIA[fmt], headers=headers)
        data = await _trail_data(session, p, key)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from exc
    files = EXPORTERS["trail"].write[fmt](data)
    content = files[0][1] if fmt == "xlsx" else dict(files)["trail.csv"]
    return Response(content, media_type=MEDIA[fmt], headers=headers)


async def _trail_data(session: ReadSession, p: ViewParams, key: str | None) -> Any:
    exporter = EXPORTERS["trail"]
    if key is None or exporter.load_one is None:
        return await exporter.load(session, p)
    return await exporter.load_one(session, p, key)


# ---------------------------------------------------------------- one event


@dataclass(frozen=True)
class Signature:
    """The node signature of an applied event, checked now against the hub stream's message."""

    status: str
    ok: bool | None
    """True verified, False a problem, None not checked."""


@router.get("/events/{event_id}")
@declare(Scope.NODE, named_by_filters)
async def event_page(
    request: Request, session: ReadSession, user: User, f: Page, event_id: str
) -> Response:
    row = await session.get(AppliedEventRow, event_id)
    if row is None:
        raise HTTPException(404, f"no applied event {event_id}")
    require(user, "GET", Scope.NODE, Ask(node=row.node))  # the event's node is known only now
    envelope, signature = await _stored(request, row)
    activity = await _activity_of(session, row.event_id, envelope)
    names = await load_names(session)
    return await render(
        request,
        session,
        "event.html",
        user,
        f,
        row=row,
        envelope=envelope,
        payload=_readable(_clean(envelope.payload), names) if envelope else None,
        signature=signature,
        activity=activity,
        pupils=await _pupil_events(session, activity) if activity else [],
        funded_by=activity_pounds(await load_ledger(session), activity.activity_id).sources
        if activity
        else [],
        names=names,
    )


async def _activity_of(
    session: ReadSession, event_id: str, envelope: Envelope | None
) -> ActivityView | None:
    """The activity the event recorded (as it stands), or whose pupils it recorded."""
    found = await session.scalar(select(ActivityView).where(ActivityView.event_id == event_id))
    if found is not None or envelope is None or "activity_id" not in envelope.payload:
        return found
    return await session.scalar(
        select(ActivityView).where(
            ActivityView.node == envelope.node,
            ActivityView.activity_id == str(envelope.payload["activity_id"]),
        )
    )


async def _pupil_events(session: ReadSession, a: ActivityView) -> list[tuple[str, int]]:
    """The events recording the activity's pupils (still counted), with how many each records."""
    rows = await session.execute(
        select(ParticipationView.event_id, func.count())
        .where(
            ParticipationView.node == a.node,
            ParticipationView.activity_id == a.activity_id,
            ParticipationView.withdrawn.is_(False),
        )
        .group_by(ParticipationView.event_id)
        .order_by(ParticipationView.event_id)
    )
    return [(event_id, int(n)) for event_id, n in rows]


async def _stored(request: Request, row: AppliedEventRow) -> tuple[Envelope | None, Signature]:
    """The event's envelope from the hub stream, and its signature checked with the node keys."""
    service = request.app.state.reporting
    try:
        message = await service.hub_message(row.stream_seq)
    except (ConnectionError, TimeoutError) as exc:
        return None, Signature(f"the hub stream could not be read ({exc})", None)
    if message is None:
        return None, Signature("the hub stream no longer holds the message", None)
    data, headers = message
    if hashlib.sha256(data).hexdigest() != row.digest:
        return None, Signature("the stream's message is not the event that was applied", False)
    try:
        envelope = parse_event(data).envelope
    except InvalidEvent as exc:
        return None, Signature(f"not an event: {exc.reason}", False)
    return envelope, _signature(service.keys, envelope, data, headers)


def _signature(keys: Any, envelope: Envelope, data: bytes, headers: Any) -> Signature:
    if keys is None:
        return Signature("no node keys are configured at the hub", None)
    problem = keys.problem(envelope, data, headers)
    if problem:
        return Signature(problem, False)
    return Signature(f"signed with {envelope.node}'s node key", True)


_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
"""A UUID: an id of something with no name (a participation, an entry) is shown shortened."""
ORGANISATION_FIELDS = frozenset(
    {"delivered_by", "organisation_id", "recipient_organisation_id", "partner_id"}
)


def _readable(value: Any, names: Names, key: str = "") -> Any:
    """A payload with names beside the ids people do not read: partners, schools by URN."""
    if isinstance(value, dict):
        return {k: _readable(v, names, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v, names, key) for v in value]
    if isinstance(value, str) and key in ORGANISATION_FIELDS and value in names.organisations:
        return f"{value} ({names.organisations[value]})"
    if isinstance(value, str) and key.endswith("urn") and value in names.schools:
        return f"{value} ({names.schools[value]})"
    if isinstance(value, str) and key == "activity_id" and value in names.activities:
        return f"{names.activities[value]} ({value})"
    if isinstance(value, str) and _ID.match(value):
        return f"{value[:8]}…{value[-4:]}"  # an id nobody names: short, like a commit's
    return value


def _clean(value: Any) -> Any:
    """A payload to show: anything shaped like a UPN removed from its text."""
    if isinstance(value, str):
        return without_upns(value)  # payloads hold pseudonyms only; a page never shows a UPN
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
