"""Use cases of the activities service."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from shared.contracts.activities import ActivityDelivered
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.envelope import new_event_id, utcnow
from shared.identity import Slug
from shared.outbox import UnitOfWork
from services.activities.domain import check_dates
from services.activities.models import ActivityRow


class RecordActivity(BaseModel):
    """Record an activity delivered in this node's area."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    delivered_by: UUID = Field(description="organisation_id of the deliverer in the partners register")
    area: Slug
    setting_urn: str | None = Field(default=None, pattern=r"^\d{6,7}$")
    starts_on: date
    ends_on: date
    hours: Decimal = Field(default=Decimal(0), ge=0, max_digits=9, decimal_places=2)
    headcount: int = Field(ge=0, le=1_000_000)
    functions: list[StrategicFunction] = []
    aims: list[Aim] = []
    level: Level | None = None


async def record_activity(cmd: RecordActivity, uow: UnitOfWork) -> UUID:
    check_dates(cmd.starts_on, cmd.ends_on)
    activity_id = new_event_id()
    async with uow:
        uow.session.add(
            ActivityRow(
                activity_id=str(activity_id),
                kind=cmd.kind,
                title=cmd.title,
                delivered_by=str(cmd.delivered_by),
                area=cmd.area,
                setting_urn=cmd.setting_urn,
                starts_on=cmd.starts_on,
                ends_on=cmd.ends_on,
                hours=cmd.hours,
                headcount=cmd.headcount,
                functions=list(cmd.functions),
                aims=list(cmd.aims),
                level=cmd.level,
                recorded_at=utcnow(),
            )
        )
        await uow.emit(ActivityDelivered(activity_id=activity_id, **cmd.model_dump()))
        await uow.commit()
    return activity_id


async def list_activities(uow: UnitOfWork) -> list[ActivityRow]:
    async with uow:
        return list((await uow.session.scalars(select(ActivityRow).order_by(ActivityRow.starts_on))).all())
