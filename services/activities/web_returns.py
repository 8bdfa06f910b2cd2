"""Use cases of partner returns on the web (docs/partner-returns.md): invitations, the partner's
draft, and review at the node.

A return is node data, like the pupils in it: the partner fills it in at its lead organisation's
node, and nothing leaves the node until staff accept it, which imports it through the same use
case as `hub activities import --partner` (`import_partner_return`), so the hub counts it the same.
Links and sessions are random tokens of which only the SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import delete, select, update

from services.activities.domain import DeliveryDate, register_problems
from services.activities.models import ReturnInvitationRow, ReturnSessionRow, WebReturnRow
from services.activities.services import (
    ExpectReturn,
    ImportOutcome,
    RegisterRow,
    expect_return,
    import_partner_return,
)
from shared.contracts.activities import Urn, YearGroup
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.envelope import utcnow
from shared.errors import Invalid, NotFound, Refused
from shared.outbox import UnitOfWork
from shared.periods import academic_year
from shared.pseudonym import Pseudonymiser
from shared.tabular import RowProblem, TabularError, validate_rows

WebStatus = Literal["invited", "draft", "submitted", "accepted", "returned"]
EDITABLE = ("invited", "draft", "returned")
REQUIRED_COLUMNS = {"activity_ref", "kind", "title", "starts_on", "ends_on"}
"""A partner's register need not name itself (`delivered_by`) nor the area (the node's)."""
MAX_REF = 100


class LinkRefused(Refused):
    """An invitation link that is unknown, expired, revoked or already used: gone, whoever asks
    (not 403: the start page is open to anyone holding a live link)."""

    status_code = 410


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from it, so nothing more is stored."""
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


class Invite(BaseModel):
    """Invite a partner organisation (or a school, by its organisation_id) to a year's return."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partner_id: UUID = Field(description="organisation_id in the node's partners register")
    partner_name: str = Field(min_length=1, max_length=200)
    academic_year: str = Field(pattern=r"^\d{4}-\d{2}$")
    due_on: date
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    valid_days: int = Field(default=14, ge=1, le=90)


class ActivityAnswer(BaseModel):
    """One activity as the partner gives it on the form (counts: a headcount, no pupils)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    setting_urn: str | None = Field(default=None, pattern=r"^\d{6,7}$")
    starts_on: DeliveryDate
    ends_on: DeliveryDate
    hours: str = "0"
    headcount: int = Field(ge=0, le=1_000_000)
    functions: list[StrategicFunction] = []
    aims: list[Aim] = []
    level: Level | None = None


Hours = Annotated[Decimal, Field(ge=0, le=100_000, max_digits=9, decimal_places=2)]


class _Dated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _in_order(self) -> _Dated:
        if self.ends_on < self.starts_on:
            raise ValueError("the last day is before the first")
        return self


class WcetAnswer(_Dated):
    """One whole-class ensemble teaching programme: a school, its year groups and instrument.
    Published as an `ActivityDelivered` of kind wcet; year groups and weeks stay at the node."""

    setting_urn: Urn
    instrument: str = Field(min_length=1, max_length=60)
    year_groups: list[YearGroup] = Field(min_length=1, max_length=15)
    weeks: int = Field(ge=1, le=52)
    hours: Hours
    pupils: int = Field(ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _year_groups(cls, data: Any) -> Any:
        """Year groups typed as "3, 4" or "Year 4"; "R" for reception."""
        if isinstance(data, dict) and isinstance(data.get("year_groups"), str):
            text = data["year_groups"].upper().replace("YEARS", " ").replace("YEAR", " ")
            data = {**data, "year_groups": text.replace(",", " ").replace("AND", " ").split()}
        return data


class CpdAnswer(_Dated):
    """Continuing professional development given to schools' staff. Published as an
    `ActivityDelivered` of kind cpd (attendees as its headcount, its school when only one);
    sessions and a list of several schools stay at the node."""

    title: str = Field(min_length=1, max_length=200)
    sessions: int = Field(ge=1, le=500)
    hours: Hours
    attendees: int = Field(ge=1, le=100_000)
    schools: list[Urn] = Field(default=[], max_length=200)


Group = Literal["activities", "wcet", "cpd"]
ANSWERS: dict[str, type[BaseModel]] = {
    "activities": ActivityAnswer,
    "wcet": WcetAnswer,
    "cpd": CpdAnswer,
}
"""The question groups a partner adds entries to, each checked by its model."""


@dataclass(frozen=True)
class Link:
    """A fresh invitation: the token is shown (and sent) once and never stored."""

    web_return_id: str
    token: str
    expires_at: datetime
    email: str | None

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/return/start/{self.token}"


@dataclass(frozen=True)
class WebReturnLine:
    web_return_id: str
    partner_id: str
    partner_name: str
    academic_year: str
    due_on: date
    status: WebStatus
    late: bool
    activities: int
    pupils: int


def _now() -> datetime:
    return utcnow()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


async def _by_id(uow: UnitOfWork, web_return_id: str) -> WebReturnRow:
    row = await uow.session.get(WebReturnRow, web_return_id)
    if row is None:
        raise NotFound(f"no web return {web_return_id} at this node")
    return row


async def _new_link(uow: UnitOfWork, row: WebReturnRow, days: int) -> Link:
    """A new link for `row`; any earlier link not yet used stops working."""
    now = _now()
    await uow.session.execute(
        update(ReturnInvitationRow)
        .where(
            ReturnInvitationRow.web_return_id == row.web_return_id,
            ReturnInvitationRow.used_at.is_(None),
            ReturnInvitationRow.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=days)
    uow.session.add(
        ReturnInvitationRow(
            token_digest=digest(token),
            web_return_id=row.web_return_id,
            expires_at=expires,
            created_at=now,
        )
    )
    return Link(row.web_return_id, token, expires, row.email)


# --- node staff ---------------------------------------------------------------------------------


async def _accepted(uow: UnitOfWork, cmd: Invite) -> bool:
    status = await uow.session.scalar(
        select(WebReturnRow.status).where(
            WebReturnRow.partner_id == str(cmd.partner_id),
            WebReturnRow.academic_year == cmd.academic_year,
        )
    )
    return status == "accepted"


async def invite(cmd: Invite, uow: UnitOfWork) -> Link:
    """Invite a partner to its return for a year: records the return as expected by the due date
    (`PartnerReturnExpected`, as `POST /returns/expected` does) and issues a single-use link."""
    async with uow:  # refused before anything is recorded or published
        if await _accepted(uow, cmd):
            raise Refused(
                "this return was already accepted", {"partner_id": "its return is accepted"}
            )
    await expect_return(
        ExpectReturn(partner_id=cmd.partner_id, academic_year=cmd.academic_year, due_on=cmd.due_on),
        uow,
    )
    async with uow:
        row = await uow.session.scalar(
            select(WebReturnRow).where(
                WebReturnRow.partner_id == str(cmd.partner_id),
                WebReturnRow.academic_year == cmd.academic_year,
            )
        )
        if row is None:
            row = WebReturnRow(
                web_return_id=str(uuid.uuid4()),
                partner_id=str(cmd.partner_id),
                academic_year=cmd.academic_year,
                status="invited",
                answers={"activities": [], "schools": [], "counts_only": False},
                register_rows=[],
                register_problems=[],
                created_at=_now(),
            )
            uow.session.add(row)
        row.partner_name, row.due_on, row.email = cmd.partner_name, cmd.due_on, cmd.email
        link = await _new_link(uow, row, cmd.valid_days)
        await uow.commit()
    return link


async def resend(web_return_id: str, uow: UnitOfWork, days: int = 14) -> Link:
    """A new link for a return not yet submitted or accepted (the unused one stops working)."""
    async with uow:
        row = await _by_id(uow, web_return_id)
        if row.status not in EDITABLE:
            raise Refused(f"this return is {row.status}: no link is needed")
        link = await _new_link(uow, row, days)
        await uow.commit()
    return link


async def revoke(web_return_id: str, uow: UnitOfWork) -> int:
    """Stop every unused link of a return and sign its partner out; returns links revoked."""
    async with uow:
        await _by_id(uow, web_return_id)
        result = await uow.session.execute(
            update(ReturnInvitationRow)
            .where(
                ReturnInvitationRow.web_return_id == web_return_id,
                ReturnInvitationRow.used_at.is_(None),
                ReturnInvitationRow.revoked_at.is_(None),
            )
            .values(revoked_at=_now())
        )
        await uow.session.execute(
            delete(ReturnSessionRow).where(ReturnSessionRow.web_return_id == web_return_id)
        )
        await uow.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE's is a CursorResult


def _line(row: WebReturnRow, today: date) -> WebReturnLine:
    rows = row.register_rows or []
    return WebReturnLine(
        web_return_id=row.web_return_id,
        partner_id=row.partner_id,
        partner_name=row.partner_name,
        academic_year=row.academic_year,
        due_on=row.due_on,
        status=row.status,  # type: ignore[arg-type]  # the column holds only these states
        late=row.status in EDITABLE and today > row.due_on,
        activities=sum(len(row.answers.get(g, [])) for g in ANSWERS)
        + len({r["activity_ref"] for r in rows}),
        pupils=sum(1 for r in rows if r.get("upn")),
    )


async def list_web_returns(year: str | None, today: date, uow: UnitOfWork) -> list[WebReturnLine]:
    """Every web return (of a year): invited, draft, submitted, accepted or returned; and late."""
    async with uow:
        query = select(WebReturnRow).order_by(WebReturnRow.partner_name)
        if year:
            query = query.where(WebReturnRow.academic_year == year)
        return [_line(r, today) for r in await uow.session.scalars(query)]


async def get_web_return(web_return_id: str, uow: UnitOfWork) -> WebReturnRow:
    async with uow:
        return await _by_id(uow, web_return_id)


async def send_back(web_return_id: str, comments: str, uow: UnitOfWork) -> None:
    """Return a submitted return to its partner with comments; they can edit and submit again."""
    if not comments.strip():
        raise Invalid("say what to change", {"comments": "say what the partner should change"})
    async with uow:
        row = await _by_id(uow, web_return_id)
        if row.status != "submitted":
            raise Refused(f"only a submitted return can be sent back; this one is {row.status}")
        row.status, row.comments = "returned", comments.strip()[:2000]
        await uow.commit()


async def overdue(year: str | None, today: date, uow: UnitOfWork) -> list[str]:
    return [line.web_return_id for line in await list_web_returns(year, today, uow) if line.late]


async def remind(
    year: str | None, today: date, uow_for: Callable[[], UnitOfWork], days: int = 14
) -> list[tuple[WebReturnLine, Link]]:
    """A fresh link for every overdue return not yet submitted (to send or print), in one action."""
    lines = {line.web_return_id: line for line in await list_web_returns(year, today, uow_for())}
    return [(lines[i], await resend(i, uow_for(), days)) for i in lines if lines[i].late]


def answer_rows(row: WebReturnRow, node: str) -> list[RegisterRow]:
    """The return as register rows, as a file would give them: the activities given on the forms
    (with their counts) and the register uploaded; refs made unique to this return."""
    prefix = f"WEB-{row.web_return_id[:8]}-"
    rows = [
        RegisterRow.model_validate(
            {
                **answer,
                "activity_ref": f"{prefix}A{number}",
                "delivered_by": row.partner_id,
                "area": node,
            }
        )
        for number, answer in enumerate(row.answers.get("activities", []), start=1)
    ]
    common = {"delivered_by": row.partner_id, "area": node}
    for letter, group, as_row in (("W", "wcet", _wcet_row), ("C", "cpd", _cpd_row)):
        rows += [
            RegisterRow.model_validate(
                {**as_row(entry), **common, "activity_ref": f"{prefix}{letter}{n}"}
            )
            for n, entry in enumerate(row.answers.get(group, []), start=1)
        ]
    rows += [
        RegisterRow.model_validate({**r, "activity_ref": prefix + "R-" + r["activity_ref"]})
        for r in row.register_rows or []
    ]
    return rows


def term_of(day: date) -> str:
    """The term an activity starts in, as the annual return's WCET terms list them."""
    season = "autumn" if day.month >= 9 else "spring" if day.month <= 3 else "summer"
    return f"{season} {day.year}"


def _year_groups(groups: list[str]) -> str:
    if groups == ["R"]:
        return "Reception"
    named = ["Reception" if g == "R" else g for g in groups]
    return ("Year " if len(named) == 1 else "Years ") + ", ".join(named)


def _for_schools(answer: dict[str, Any]) -> dict[str, Any]:
    """What a WCET and a CPD row share: work supporting schools, over the answer's dates (its term
    from when it starts) and hours."""
    return {
        "starts_on": answer["starts_on"],
        "ends_on": answer["ends_on"],
        "term": term_of(date.fromisoformat(answer["starts_on"])),
        "hours": answer["hours"],
        "functions": [StrategicFunction.SCHOOLS],
        "aims": [Aim.SUPPORT_SCHOOLS],
    }


def _wcet_row(answer: dict[str, Any]) -> dict[str, Any]:
    """A WCET programme as the register row an import would carry."""
    return {
        **_for_schools(answer),
        "kind": ActivityKind.WCET,
        "title": f"Whole class {answer['instrument']}, {_year_groups(answer['year_groups'])}",
        "setting_urn": answer["setting_urn"],
        "headcount": answer["pupils"],
        "level": Level.BEGINNER,
    }


def _cpd_row(answer: dict[str, Any]) -> dict[str, Any]:
    """CPD given as a register row: attendees counted; its school where there is only one."""
    schools = answer.get("schools", [])
    return {
        **_for_schools(answer),
        "kind": ActivityKind.CPD,
        "title": answer["title"],
        "setting_urn": schools[0] if len(schools) == 1 else None,
        "headcount": answer["attendees"],
    }


def answers_digest(rows: Sequence[RegisterRow]) -> str:
    """What identifies the return's content, as a file's SHA-256 does for an import."""
    body = json.dumps([r.model_dump(mode="json") for r in rows], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


async def accept(
    web_return_id: str,
    node: str,
    uow_for: Callable[[], UnitOfWork],
    keys: Pseudonymiser,
) -> ImportOutcome:
    """Accept a submitted return: imported exactly as `hub activities import --partner --year`
    imports a file (activities, pupils by pseudonym, `PartnerReturnSubmitted`). Accepting again
    after an interruption adds nothing."""
    row = await get_web_return(web_return_id, uow_for())
    if row.status not in ("submitted", "accepted"):
        raise Refused(f"only a submitted return can be accepted; this one is {row.status}")
    assert row.submitted_on is not None
    rows = answer_rows(row, node)
    outcome, return_id = await import_partner_return(
        rows,
        UUID(row.partner_id),
        row.academic_year,
        row.submitted_on,
        answers_digest(rows),
        uow_for,
        keys,
    )
    async with (uow := uow_for()):
        stored = await _by_id(uow, web_return_id)
        stored.status, stored.partner_return_id = "accepted", str(return_id)
        await uow.commit()
    return outcome


# --- the partner ----------------------------------------------------------------------------------


async def _live_link(uow: UnitOfWork, token: str) -> ReturnInvitationRow:
    wanted = digest(token)
    link = await uow.session.get(ReturnInvitationRow, wanted)
    if link is None or not hmac.compare_digest(link.token_digest, wanted):
        raise LinkRefused("this link is not one we issued")
    if link.revoked_at is not None:
        raise LinkRefused("this link was withdrawn: ask the hub for a new one")
    if link.used_at is not None:
        raise LinkRefused("this link was already used: ask the hub for a new one")
    if _aware(link.expires_at) <= _now():
        raise LinkRefused("this link has expired: ask the hub for a new one")
    return link


async def check_link(token: str, uow: UnitOfWork) -> WebReturnRow:
    """The return a link opens, without using it (mail scanners fetch links too)."""
    async with uow:
        link = await _live_link(uow, token)
        return await _by_id(uow, link.web_return_id)


async def open_link(token: str, uow: UnitOfWork, session_days: int = 30) -> str:
    """Use a link: it is spent, and a session (returned, to keep in a cookie) reaches its return."""
    async with uow:
        link = await _live_link(uow, token)
        link.used_at = _now()
        row = await _by_id(uow, link.web_return_id)
        if row.status == "invited":
            row.status = "draft"
        session = secrets.token_urlsafe(32)
        uow.session.add(
            ReturnSessionRow(
                session_digest=digest(session),
                web_return_id=row.web_return_id,
                expires_at=_now() + timedelta(days=session_days),
            )
        )
        await uow.commit()
    return session


async def session_return(session_token: str, uow: UnitOfWork) -> WebReturnRow | None:
    """The one return a partner's session reaches, while it lasts."""
    wanted = digest(session_token)
    async with uow:
        found = await uow.session.get(ReturnSessionRow, wanted)
        if (
            found is None
            or not hmac.compare_digest(found.session_digest, wanted)
            or _aware(found.expires_at) <= _now()
        ):
            return None
        return await uow.session.get(WebReturnRow, found.web_return_id)


async def _editable(uow: UnitOfWork, web_return_id: str) -> WebReturnRow:
    row = await _by_id(uow, web_return_id)
    if row.status not in EDITABLE:
        raise Refused(f"this return is {row.status} and can no longer be changed")
    return row


def check_activity(answer: ActivityAnswer, year: str, partner_id: str, node: str) -> None:
    """The importer's checks on a form's activity (a register row of it), and the return's year."""
    try:
        RegisterRow.model_validate(
            {
                **answer.model_dump(mode="json"),
                "activity_ref": "form",
                "delivered_by": partner_id,
                "area": node,
            }
        )
    except ValidationError as exc:
        fields = {str(e["loc"][0]) if e["loc"] else "starts_on": e["msg"] for e in exc.errors()}
        raise Invalid("activity refused", fields) from None
    if academic_year(answer.starts_on) != year:
        raise Invalid(
            "activity outside the return's year",
            {"starts_on": f"this return is for {year}: the activity must start in it"},
        )


def check_year(starts_on: date, year: str) -> None:
    if academic_year(starts_on) != year:
        raise Invalid(
            "outside the return's year",
            {"starts_on": f"this return is for {year}: it must start in it"},
        )


def check_answer(answer: BaseModel, year: str, partner_id: str, node: str) -> None:
    """An entry of any group: an activity as the importer checks it; every one in the year."""
    if isinstance(answer, ActivityAnswer):
        check_activity(answer, year, partner_id, node)
    check_year(answer.starts_on, year)  # type: ignore[attr-defined]


async def add_answer(
    web_return_id: str, group: Group, answer: BaseModel, node: str, uow: UnitOfWork
) -> None:
    """Add an activity, a WCET programme or CPD given to the draft."""
    async with uow:
        row = await _editable(uow, web_return_id)
        check_answer(answer, row.academic_year, row.partner_id, node)
        entries = [*row.answers.get(group, []), answer.model_dump(mode="json")]
        row.answers = {**row.answers, group: entries}
        row.status = "draft" if row.status == "invited" else row.status
        await uow.commit()


async def add_activity(
    web_return_id: str, answer: ActivityAnswer, node: str, uow: UnitOfWork
) -> None:
    await add_answer(web_return_id, "activities", answer, node, uow)


async def remove_answer(web_return_id: str, group: Group, index: int, uow: UnitOfWork) -> None:
    async with uow:
        row = await _editable(uow, web_return_id)
        entries = list(row.answers.get(group, []))
        if not 0 <= index < len(entries):
            raise NotFound("no such entry in this return")
        del entries[index]
        row.answers = {**row.answers, group: entries}
        await uow.commit()


async def remove_activity(web_return_id: str, index: int, uow: UnitOfWork) -> None:
    await remove_answer(web_return_id, "activities", index, uow)


async def set_schools(web_return_id: str, urns: list[str], uow: UnitOfWork) -> None:
    """The schools the partner worked with, by DfE URN."""
    bad = [u for u in urns if not (u.isdigit() and 6 <= len(u) <= 7)]
    if bad:
        raise Invalid("not URNs", {"schools": f"{bad[0][:20]!r} is not a URN (6 or 7 digits)"})
    async with uow:
        row = await _editable(uow, web_return_id)
        row.answers = {**row.answers, "schools": sorted(set(urns))}
        await uow.commit()


class PartnerRegisterRow(RegisterRow):
    """A register row as a partner uploads it: who delivered it and where default to the partner
    and the node."""

    delivered_by: UUID | None = None  # type: ignore[assignment]  # filled in: the partner
    area: str | None = None  # type: ignore[assignment]  # filled in: the node's area


def check_register(
    path: Path, year: str, partner_id: str, node: str, nodes: Sequence[str]
) -> tuple[list[RegisterRow], list[RowProblem]]:
    """The importer's checks (every row, column and reason), and the partner's own: only its own
    deliveries, in the return's year."""
    try:
        result = validate_rows(path, PartnerRegisterRow, required=REQUIRED_COLUMNS)
    except TabularError as exc:
        return [], exc.problems
    problems = list(result.problems)
    rows: list[tuple[int, RegisterRow]] = []
    for number, raw in result.rows:
        own = _own_problems(number, raw, year, partner_id)
        problems += own
        if not own:
            values = raw.model_dump() | {"delivered_by": partner_id, "area": raw.area or node}
            try:
                rows.append((number, RegisterRow.model_validate(values)))
            except ValidationError as exc:  # the area given: not a slug
                problems += [
                    RowProblem(number, str(e["loc"][0]) if e["loc"] else "area", e["msg"])
                    for e in exc.errors()
                ]
    problems += register_problems(rows, node, nodes)
    return [r for _, r in rows], sorted(problems, key=lambda p: (p.row, p.column))


def _own_problems(
    number: int, row: PartnerRegisterRow, year: str, partner_id: str
) -> list[RowProblem]:
    problems = []
    if row.delivered_by is not None and str(row.delivered_by) != partner_id:
        problems.append(
            RowProblem(number, "delivered_by", "must be your own organisation (or blank)")
        )
    if academic_year(row.starts_on) != year:
        problems.append(RowProblem(number, "starts_on", f"not in {year}, this return's year"))
    if len(row.activity_ref) > MAX_REF:
        problems.append(RowProblem(number, "activity_ref", f"longer than {MAX_REF} characters"))
    return problems


async def upload_register(
    web_return_id: str, path: Path, node: str, nodes: Sequence[str], uow: UnitOfWork
) -> list[RowProblem]:
    """Check an uploaded register; keep it if it has no problem, else keep its problems to show."""
    async with uow:
        row = await _editable(uow, web_return_id)
        rows, problems = check_register(path, row.academic_year, row.partner_id, node, nodes)
        if problems:
            row.register_problems = [[p.row, p.column, p.reason] for p in problems[:500]]
        else:
            row.register_rows = [r.model_dump(mode="json") for r in rows]
            row.register_problems = []
        row.status = "draft" if row.status == "invited" else row.status
        await uow.commit()
    return problems


async def submit(web_return_id: str, today: date, uow: UnitOfWork) -> None:
    async with uow:
        row = await _editable(uow, web_return_id)
        if not any(row.answers.get(g) for g in ANSWERS) and not row.register_rows:
            raise Invalid(
                "nothing to submit",
                {"activities": "add an activity, WCET or CPD, or upload a register first"},
            )
        row.status, row.submitted_on = "submitted", today
        await uow.commit()


def as_dict(row: WebReturnRow, node: str) -> dict[str, Any]:
    """A return's answers for staff review; its register's pupils are counted, not listed."""
    return {
        "web_return_id": row.web_return_id,
        "partner_id": row.partner_id,
        "partner_name": row.partner_name,
        "academic_year": row.academic_year,
        "due_on": row.due_on.isoformat(),
        "status": row.status,
        "submitted_on": row.submitted_on.isoformat() if row.submitted_on else None,
        "comments": row.comments,
        "activities": row.answers.get("activities", []),
        "wcet": row.answers.get("wcet", []),
        "cpd": row.answers.get("cpd", []),
        "schools": row.answers.get("schools", []),
        "register_rows": len(row.register_rows or []),
        "partner_return_id": row.partner_return_id,
    }
