"""Activities and participations brought forward from their own events after a restore
(shared/node_recovery.py).

A pupil's UPN never leaves the node, so participations recorded after the backup come back with
their pseudonym and characteristics but no UPN (blank; the notes count them): the node can no
longer find those pupils by UPN until their register is imported again. An imported activity's
register reference (``source_key``) is not in its event either.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.models import (
    ActivityRow,
    ExpectedReturnRow,
    ParticipationRow,
    PartnerReturnRow,
)
from shared.contracts.activities import (
    ActivityCorrected,
    ActivityDelivered,
    ActivityWithdrawn,
    ParticipationRecorded,
    ParticipationWithdrawn,
    PartnerReturnExpected,
    PartnerReturnSubmitted,
)
from shared.envelope import ReceivedEvent
from shared.node_recovery import Restorer

UNKNOWN_UPN = ""


def _activity_values(p: ActivityDelivered) -> dict[str, Any]:
    values = p.model_dump(mode="json", include=set(ActivityRow.__table__.columns.keys()))
    values.update(starts_on=p.starts_on, ends_on=p.ends_on, hours=p.hours)
    return values


async def _delivered(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ActivityDelivered)
    await session.execute(
        insert(ActivityRow),
        [{**_activity_values(p), "recorded_at": event.envelope.recorded_at, "withdrawn": False}],
    )
    return []


async def _corrected(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ActivityCorrected)
    row = await session.get_one(ActivityRow, str(p.activity.activity_id))
    for name, value in _activity_values(p.activity).items():
        if name not in {"activity_id", "recorded_at"}:
            setattr(row, name, value)
    return []


async def _withdrawn(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ActivityWithdrawn)
    (await session.get_one(ActivityRow, str(p.activity_id))).withdrawn = True
    return []


async def _participations(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ParticipationRecorded)
    rows = [
        {
            **pupil.model_dump(mode="json"),
            "activity_id": str(p.activity_id),
            "academic_year": p.academic_year,
            "upn": UNKNOWN_UPN,
            "withdrawn": False,
        }
        for pupil in p.participants
    ]
    await session.execute(insert(ParticipationRow), rows)
    return [
        f"activity {p.activity_id}: {len(rows)} participation(s) restored without their UPN "
        "(import the register again)"
    ]


async def _participations_withdrawn(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, ParticipationWithdrawn)
    for participation_id in p.participation_ids:
        (await session.get_one(ParticipationRow, str(participation_id))).withdrawn = True
    return []


async def _return_expected(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, PartnerReturnExpected)
    row = await session.get(ExpectedReturnRow, (str(p.partner_id), p.academic_year))
    if row is None:
        session.add(
            ExpectedReturnRow(
                partner_id=str(p.partner_id), academic_year=p.academic_year, due_on=p.due_on
            )
        )
    else:
        row.due_on = p.due_on
    return []


async def _return_submitted(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, PartnerReturnSubmitted)
    session.add(
        PartnerReturnRow(
            return_id=str(p.return_id),
            partner_id=str(p.partner_id),
            academic_year=p.academic_year,
            submitted_on=p.submitted_on,
            file_digest=p.file_digest,
            activities=p.activities,
            participations=p.participations,
        )
    )
    await session.flush()
    return []


RESTORERS: dict[str, Restorer] = {
    "ActivityDelivered": _delivered,
    "ActivityCorrected": _corrected,
    "ActivityWithdrawn": _withdrawn,
    "ParticipationRecorded": _participations,
    "ParticipationWithdrawn": _participations_withdrawn,
    "PartnerReturnExpected": _return_expected,
    "PartnerReturnSubmitted": _return_submitted,
}
