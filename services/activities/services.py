"""Use cases of the activities service: activities, the pupils in them,
corrections and partner returns.

UPNs come in and are pseudonymised here; only pseudonyms and categories are emitted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, insert, select, tuple_

from services.activities.domain import (
    DeliveryDate,
    ReturnStatus,
    batches_by_activity,
    check_dates,
    chunks,
    return_status,
)
from services.activities.models import (
    ActivityRow,
    ExpectedReturnRow,
    ParticipationRow,
    PartnerReturnRow,
)
from shared.contracts.activities import (
    MAX_PARTICIPANTS_PER_EVENT,
    ActivityCorrected,
    ActivityDelivered,
    ActivityWithdrawn,
    Ethnicity,
    Gender,
    Participant,
    ParticipationRecorded,
    ParticipationWithdrawn,
    PartnerReturnExpected,
    PartnerReturnSubmitted,
    Send,
    Urn,
    YearGroup,
)
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.envelope import new_event_id, utcnow
from shared.errors import Invalid, NotFound, Refused
from shared.identity import Slug
from shared.outbox import UnitOfWork
from shared.periods import academic_year
from shared.pseudonym import InvalidUPN, Pseudonymiser, normalise_upn

RETURN_NAMESPACE = UUID("5b0c1a52-6f0e-4c55-9b8e-0d1f3a6c2e71")


class RecordActivity(BaseModel):
    """Record an activity delivered in this node's area."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    delivered_by: UUID = Field(
        description="organisation_id of the deliverer in the partners register"
    )
    area: Slug
    setting_urn: str | None = Field(default=None, pattern=r"^\d{6,7}$")
    starts_on: DeliveryDate
    ends_on: DeliveryDate
    hours: Decimal = Field(default=Decimal(0), ge=0, max_digits=9, decimal_places=2)
    headcount: int = Field(ge=0, le=1_000_000)
    functions: list[StrategicFunction] = []
    aims: list[Aim] = []
    level: Level | None = None
    term: str | None = Field(default=None, max_length=40)


class Pupil(BaseModel):
    """A pupil as a school or partner reports them: by UPN (kept on this node only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    upn: str = Field(
        description="Unique Pupil Number: check letter and 12 digits. Never leaves the node."
    )
    year_group: YearGroup
    send: Send = Send.NONE
    fsm: bool = False
    looked_after: bool = False
    ethnicity: Ethnicity = Ethnicity.UNCLASSIFIED
    gender: Gender = Gender.NOT_KNOWN
    school_urn: Urn | None = None
    home_area: Slug

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str) -> str:
        try:
            return normalise_upn(value)
        except InvalidUPN as exc:
            raise ValueError(str(exc)) from None


class RecordParticipation(BaseModel):
    """Pupils who took part in an activity already recorded at this node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pupils: list[Pupil] = Field(min_length=1, max_length=5000)


def _split(value: Any) -> Any:
    """Register cells list functions and aims separated by ';' (or ',')."""
    if isinstance(value, str):
        return [p.strip() for p in value.replace(",", ";").split(";") if p.strip()]
    return [] if value is None else value


class RegisterRow(BaseModel):
    """One register line: an activity with a headcount,
    or one pupil's participation in an activity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    activity_ref: str = Field(
        min_length=1, max_length=120, description="The register's own id for the activity."
    )
    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    delivered_by: UUID
    area: Slug
    setting_urn: str | None = Field(default=None, pattern=r"^\d{6,7}$")
    starts_on: DeliveryDate
    ends_on: DeliveryDate
    term: str | None = Field(default=None, max_length=40)
    hours: Decimal = Field(default=Decimal(0), ge=0, max_digits=9, decimal_places=2)
    headcount: int | None = Field(default=None, ge=0, le=1_000_000)
    functions: list[StrategicFunction] = []
    aims: list[Aim] = []
    level: Level | None = None
    upn: str | None = None
    year_group: YearGroup | None = None
    send: Send = Send.NONE
    fsm: bool = False
    looked_after: bool = False
    ethnicity: Ethnicity = Ethnicity.UNCLASSIFIED
    gender: Gender = Gender.NOT_KNOWN
    school_urn: Urn | None = None
    home_area: Slug | None = None

    _lists = field_validator("functions", "aims", mode="before")(lambda cls, v: _split(v))

    @field_validator("send", "fsm", "looked_after", "ethnicity", "gender", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any, info: Any) -> Any:
        """An empty register cell means the default (none, no, unclassified, not known)."""
        return cls.model_fields[info.field_name].default if value is None else value

    @field_validator("setting_urn", "school_urn", "year_group", "term", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_upn(value)
        except InvalidUPN as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _pupil_or_headcount(self) -> RegisterRow:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        if self.upn is None and self.headcount is None:
            raise ValueError("give a upn (a pupil row) or a headcount (an activity row)")
        if self.upn is not None and (self.year_group is None or self.home_area is None):
            raise ValueError("a pupil row needs year_group and home_area")
        return self

    def activity_fields(self) -> dict[str, object]:
        return self.model_dump(include=set(RecordActivity.model_fields))

    def pupil(self) -> Pupil | None:
        if self.upn is None:
            return None
        # every field was validated on this row with the same types: no need to validate again
        return Pupil.model_construct(**{name: getattr(self, name) for name in Pupil.model_fields})


class ImportRegister(BaseModel):
    """A batch of register rows, imported in one transaction
    (the CLI sends whole files in batches)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: list[RegisterRow] = Field(min_length=1, max_length=5000)
    partner_return_id: UUID | None = None


@dataclass
class ImportOutcome:
    activities_added: int = 0
    activities_existing: int = 0
    participations_added: int = 0
    participations_existing: int = 0
    events: int = 0

    def add(self, other: ImportOutcome) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class CorrectActivity(RecordActivity):
    """The whole corrected record of an activity, and why."""

    reason: str = Field(min_length=1, max_length=500)


class Withdraw(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class WithdrawParticipations(Withdraw):
    """Pupils recorded in an activity by mistake, named by UPN as the school reports them."""

    upns: list[str] = Field(min_length=1, max_length=2000)


class ExpectReturn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    partner_id: UUID
    academic_year: str = Field(pattern=r"^\d{4}-\d{2}$")
    due_on: date


class SubmitReturn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    partner_id: UUID
    academic_year: str = Field(pattern=r"^\d{4}-\d{2}$")
    submitted_on: date
    file_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    activities: int = Field(ge=0, le=10_000_000)  # bounded: SQLite integers are 64-bit
    participations: int = Field(ge=0, le=100_000_000)


class ReturnLine(BaseModel):
    partner_id: UUID
    academic_year: str
    due_on: date | None
    submitted_on: date | None
    status: ReturnStatus
    activities: int = 0
    participations: int = 0


def return_id_for(partner_id: UUID, year: str, file_digest: str) -> UUID:
    """Deterministic, so re-importing the same return file
    (even after a crash) is the same return."""
    return uuid.uuid5(RETURN_NAMESPACE, f"{partner_id}/{year}/{file_digest}")


# --- activities -------------------------------------------------------------------------------


def _activity_values(activity_id: UUID, cmd: RecordActivity, **extra: Any) -> dict[str, Any]:
    values = cmd.model_dump(include=set(RecordActivity.model_fields))
    values.update(
        activity_id=str(activity_id),
        delivered_by=str(cmd.delivered_by),
        functions=[str(f) for f in cmd.functions],
        aims=[str(a) for a in cmd.aims],
        academic_year=academic_year(cmd.starts_on),
        recorded_at=utcnow(),
        **extra,
    )
    return values


def _delivered(values: dict[str, Any]) -> ActivityDelivered:
    return ActivityDelivered.model_validate(
        {k: v for k, v in values.items() if k in ActivityDelivered.model_fields}
    )


async def record_activity(cmd: RecordActivity, uow: UnitOfWork) -> UUID:
    check_dates(cmd.starts_on, cmd.ends_on)
    activity_id = new_event_id()
    async with uow:
        values = _activity_values(activity_id, cmd, withdrawn=False)
        await uow.session.execute(insert(ActivityRow), [values])
        await uow.emit(_delivered(values))
        await uow.commit()
    return activity_id


async def list_activities(uow: UnitOfWork) -> list[ActivityRow]:
    async with uow:
        return list(
            (await uow.session.scalars(select(ActivityRow).order_by(ActivityRow.starts_on))).all()
        )


async def _live_activity(uow: UnitOfWork, activity_id: UUID) -> ActivityRow:
    row = await uow.session.get(ActivityRow, str(activity_id))
    if row is None:
        raise NotFound(f"no activity {activity_id} at this node")
    if row.withdrawn:
        raise Refused(f"activity {activity_id} was withdrawn")
    return row


async def correct_activity(activity_id: UUID, cmd: CorrectActivity, uow: UnitOfWork) -> None:
    """Replace an activity's record; the correction is an event,
    so the original stays in history."""
    check_dates(cmd.starts_on, cmd.ends_on)
    async with uow:
        row = await _live_activity(uow, activity_id)
        values = _activity_values(activity_id, cmd, partner_return_id=row.partner_return_id)
        for name, value in values.items():
            if name not in {"activity_id", "recorded_at"}:
                setattr(row, name, value)
        await uow.emit(ActivityCorrected(activity=_delivered(values), reason=cmd.reason))
        await uow.commit()


async def withdraw_activity(activity_id: UUID, cmd: Withdraw, uow: UnitOfWork) -> None:
    async with uow:
        row = await _live_activity(uow, activity_id)
        row.withdrawn = True
        await uow.emit(ActivityWithdrawn(activity_id=activity_id, reason=cmd.reason))
        await uow.commit()


# --- participations ---------------------------------------------------------------------------


def _participation_values(
    activity_id: str, year: str, pupil: Pupil, pseudonym: str
) -> dict[str, Any]:
    return {
        "participation_id": str(new_event_id()),
        "activity_id": activity_id,
        "academic_year": year,
        "pseudonym": pseudonym,
        "withdrawn": False,
        **pupil.model_dump(mode="json"),
    }


def _participant(values: dict[str, Any]) -> Participant:
    return Participant.model_validate({k: v for k, v in values.items() if k != "upn"})


async def _add_participations(
    uow: UnitOfWork,
    pupils: Sequence[tuple[ActivityRow | dict[str, Any], Pupil]],
    pseudonymiser: Pseudonymiser,
) -> tuple[int, int, int]:
    """Insert pupils not yet in their activity and emit them; returns
    (added, already there, events)."""
    keyed = []
    for activity, pupil in pupils:
        activity_id = (
            activity["activity_id"] if isinstance(activity, dict) else activity.activity_id
        )
        year = activity["academic_year"] if isinstance(activity, dict) else activity.academic_year
        keyed.append(
            (
                activity_id,
                year or academic_year(date.today()),
                pupil,
                pseudonymiser.pseudonym(pupil.upn),
            )
        )
    existing: set[tuple[str, str]] = set()
    for part in chunks(keyed, 400):
        pairs = [(a, p) for a, _, _, p in part]
        result = await uow.session.execute(
            select(ParticipationRow.activity_id, ParticipationRow.pseudonym).where(
                tuple_(ParticipationRow.activity_id, ParticipationRow.pseudonym).in_(pairs),
                ParticipationRow.withdrawn.is_(False),
            )
        )
        existing.update((a, p) for a, p in result)
    fresh: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for activity_id, year, pupil, pseudonym in keyed:
        if (activity_id, pseudonym) not in existing:
            existing.add((activity_id, pseudonym))
            fresh.setdefault((activity_id, year), []).append(
                _participation_values(activity_id, year, pupil, pseudonym)
            )
    rows = [values for group in fresh.values() for values in group]
    if rows:
        await uow.session.execute(insert(ParticipationRow), rows)
    events = 0
    for (activity_id, year), group in fresh.items():
        for batch in chunks(group, MAX_PARTICIPANTS_PER_EVENT):
            participants = tuple(_participant(v) for v in batch)
            await uow.emit(
                ParticipationRecorded(
                    activity_id=UUID(activity_id), academic_year=year, participants=participants
                )
            )
            events += 1
    return len(rows), len(keyed) - len(rows), events


async def record_participation(
    activity_id: UUID, cmd: RecordParticipation, uow: UnitOfWork, pseudonymiser: Pseudonymiser
) -> ImportOutcome:
    """Record pupils in an activity; a pupil already recorded in it is not added again."""
    async with uow:
        activity = await _live_activity(uow, activity_id)
        added, existing, events = await _add_participations(
            uow, [(activity, p) for p in cmd.pupils], pseudonymiser
        )
        await uow.commit()
    return ImportOutcome(
        participations_added=added, participations_existing=existing, events=events
    )


async def withdraw_participations(
    activity_id: UUID, cmd: WithdrawParticipations, uow: UnitOfWork
) -> int:
    """Withdraw pupils from an activity by UPN; refuses UPNs not recorded in it."""
    try:
        upns = [normalise_upn(u) for u in cmd.upns]
    except InvalidUPN as exc:
        raise Invalid("not a UPN", {"upns": str(exc)}) from None
    async with uow:
        await _live_activity(uow, activity_id)
        rows = (
            await uow.session.scalars(
                select(ParticipationRow).where(
                    ParticipationRow.activity_id == str(activity_id),
                    ParticipationRow.upn.in_(upns),
                    ParticipationRow.withdrawn.is_(False),
                )
            )
        ).all()
        if len(rows) != len(set(upns)):
            raise NotFound(
                f"{len(set(upns)) - len(rows)} of the pupils are not recorded in this activity"
            )
        for row in rows:
            row.withdrawn = True
        ids = tuple(UUID(r.participation_id) for r in rows)
        await uow.emit(
            ParticipationWithdrawn(
                activity_id=activity_id, participation_ids=ids, reason=cmd.reason
            )
        )
        await uow.commit()
    return len(rows)


# --- registers --------------------------------------------------------------------------------


async def import_register(
    cmd: ImportRegister, uow: UnitOfWork, pseudonymiser: Pseudonymiser
) -> ImportOutcome:
    """Import register rows in one transaction. Activities are found by activity_ref and pupils by
    (activity, pseudonym), so importing the same rows again adds nothing. Give each activity's rows
    in one batch where you can: its headcount is counted from them, and pupils imported into it
    later raise it by a correction event."""
    outcome = ImportOutcome()
    groups: dict[str, list[RegisterRow]] = {}
    for row in cmd.rows:
        groups.setdefault(row.activity_ref, []).append(row)
    return_id = str(cmd.partner_return_id) if cmd.partner_return_id else None
    async with uow:
        # locked (PostgreSQL; SQLite's writer lock already serialises):
        # concurrent imports recount in turn
        earlier = list(
            await uow.session.scalars(
                select(ActivityRow)
                .where(ActivityRow.source_key.in_(list(groups)))
                .with_for_update()
            )
        )
        found = {
            a.source_key: {"activity_id": a.activity_id, "academic_year": a.academic_year}
            for a in earlier
        }
        new_rows = []
        for ref, rows in groups.items():
            if ref in found:
                outcome.activities_existing += 1
                continue
            first = rows[0]
            named = sum(1 for r in rows if r.upn)
            headcount = first.headcount if first.headcount is not None else named
            cmd_activity = RecordActivity.model_validate(
                {**first.activity_fields(), "headcount": headcount}
            )
            values = _activity_values(
                new_event_id(),
                cmd_activity,
                source_key=ref,
                partner_return_id=return_id,
                withdrawn=False,
            )
            new_rows.append(values)
            found[ref] = values
        if new_rows:
            await uow.session.execute(insert(ActivityRow), new_rows)
            for values in new_rows:
                await uow.emit(_delivered(values))
        outcome.activities_added = len(new_rows)
        pupils = [(found[r.activity_ref], p) for r in cmd.rows if (p := r.pupil()) is not None]
        added, existing, events = await _add_participations(uow, pupils, pseudonymiser)
        events += await _recount_headcounts(
            uow,
            [
                a
                for a in earlier
                if a.source_key is not None and _counted_from_pupils(groups[a.source_key])
            ],
        )
        await uow.commit()
    outcome.participations_added, outcome.participations_existing = added, existing
    outcome.events = len(new_rows) + events
    return outcome


def _counted_from_pupils(rows: list[RegisterRow]) -> bool:
    """An activity whose register rows name pupils and give no headcount is counted from
    its pupils."""
    return any(r.upn for r in rows) and all(r.headcount is None for r in rows)


async def _recount_headcounts(uow: UnitOfWork, activities: list[ActivityRow]) -> int:
    """Pupils imported later into an activity raise its headcount, by a correction event;
    re-importing the same file finds the count unchanged and emits nothing. Returns the events
    emitted."""
    if not activities:
        return 0
    live: dict[str, int] = dict(
        (
            await uow.session.execute(
                select(ParticipationRow.activity_id, func.count())
                .where(
                    ParticipationRow.activity_id.in_([a.activity_id for a in activities]),
                    ParticipationRow.withdrawn.is_(False),
                )
                .group_by(ParticipationRow.activity_id)
            )
        ).all()
    )
    emitted = 0
    for row in activities:
        pupils = live.get(row.activity_id, 0)
        if row.withdrawn or pupils <= row.headcount:
            continue
        row.headcount = pupils
        values = {c.name: getattr(row, c.name) for c in ActivityRow.__table__.columns}
        await uow.emit(
            ActivityCorrected(
                activity=_delivered(values),
                reason="headcount recounted from a later register import",
            )
        )
        emitted += 1
    return emitted


# --- partner returns --------------------------------------------------------------------------


async def expect_return(cmd: ExpectReturn, uow: UnitOfWork) -> None:
    """Note that a partner owes a return for a year by a date (setting it again moves the date)."""
    async with uow:
        row = await uow.session.get(ExpectedReturnRow, (str(cmd.partner_id), cmd.academic_year))
        if row is None:
            uow.session.add(
                ExpectedReturnRow(
                    partner_id=str(cmd.partner_id),
                    academic_year=cmd.academic_year,
                    due_on=cmd.due_on,
                )
            )
        else:
            row.due_on = cmd.due_on
        await uow.emit(PartnerReturnExpected(**cmd.model_dump()))
        await uow.commit()


async def submit_return(cmd: SubmitReturn, uow: UnitOfWork) -> tuple[UUID, bool]:
    """Record a partner's return; the same file for the same partner and year is recorded once.
    Returns the return id and whether it was new."""
    return_id = return_id_for(cmd.partner_id, cmd.academic_year, cmd.file_digest)
    async with uow:
        if await uow.session.get(PartnerReturnRow, str(return_id)) is not None:
            return return_id, False
        uow.session.add(
            PartnerReturnRow(
                return_id=str(return_id), **cmd.model_dump() | {"partner_id": str(cmd.partner_id)}
            )
        )
        await uow.emit(PartnerReturnSubmitted(return_id=return_id, **cmd.model_dump()))
        await uow.commit()
    return return_id, True


async def import_partner_return(
    rows: Sequence[RegisterRow],
    partner_id: UUID,
    year: str,
    submitted_on: date,
    digest: str,
    uow_for: Callable[[], UnitOfWork],
    pseudonymiser: Pseudonymiser,
    batch_size: int = 1000,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[ImportOutcome, UUID]:
    """A partner's return, whether a file (`hub activities import --partner`) or filled in on the
    web: its rows imported in batches tagged with the return, then `PartnerReturnSubmitted` once.
    The return is identified by partner, year and `digest`, so doing it again adds nothing."""
    return_id = return_id_for(partner_id, year, digest)
    total = ImportOutcome()
    for batch in batches_by_activity(rows, lambda r: r.activity_ref, batch_size):
        cmd = ImportRegister.model_construct(rows=batch, partner_return_id=return_id)
        total.add(await import_register(cmd, uow_for(), pseudonymiser))
        if on_batch is not None:
            on_batch(len(batch))
    cmd_return = SubmitReturn(
        partner_id=partner_id,
        academic_year=year,
        submitted_on=submitted_on,
        file_digest=digest,
        activities=len({r.activity_ref for r in rows}),
        participations=sum(1 for r in rows if r.upn),
    )
    _, new = await submit_return(cmd_return, uow_for())
    total.events += int(new)
    return total, return_id


async def return_statuses(year: str, today: date, uow: UnitOfWork) -> list[ReturnLine]:
    """Every expected or received return of a year: received, late, missing or not yet due."""
    async with uow:
        expected = {
            r.partner_id: r.due_on
            for r in await uow.session.scalars(
                select(ExpectedReturnRow).where(ExpectedReturnRow.academic_year == year)
            )
        }
        received: dict[str, PartnerReturnRow] = {}
        for r in await uow.session.scalars(
            select(PartnerReturnRow)
            .where(PartnerReturnRow.academic_year == year)
            .order_by(PartnerReturnRow.submitted_on)
        ):
            received.setdefault(r.partner_id, r)
    lines = []
    for partner in sorted(set(expected) | set(received)):
        got = received.get(partner)
        lines.append(
            ReturnLine(
                partner_id=UUID(partner),
                academic_year=year,
                due_on=expected.get(partner),
                submitted_on=got.submitted_on if got else None,
                status=return_status(
                    expected.get(partner), got.submitted_on if got else None, today
                ),
                activities=got.activities if got else 0,
                participations=got.participations if got else 0,
            )
        )
    return lines
