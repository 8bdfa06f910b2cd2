"""Contracts published by the activities service: what was delivered and to how many."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import Field

from shared.contracts import EventPayload, event, upcaster
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.identity import Slug

SERVICE = "activities"


@event(SERVICE, "ActivityDelivered", 1)
class ActivityDeliveredV1(EventPayload):
    """First shape (kept so v1 events stay readable): a single participant count, no hours."""

    activity_id: UUID
    kind: ActivityKind
    title: str
    delivered_by: UUID
    area: Slug
    starts_on: date
    ends_on: date
    participants: int = Field(ge=0)


@event(SERVICE, "ActivityDelivered", 2)
class ActivityDelivered(EventPayload):
    """An activity was delivered in an area: who delivered it, when, for how long and for how many."""

    activity_id: UUID = Field(description="The node's id for the activity.")
    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    delivered_by: UUID = Field(description="organisation_id of the delivering organisation.")
    area: Slug = Field(description="Local authority area the activity took place in.")
    setting_urn: str | None = Field(default=None, description="DfE URN of the school or setting, if any.")
    starts_on: date
    ends_on: date
    hours: Decimal = Field(default=Decimal(0), ge=0, max_digits=9, decimal_places=2)
    headcount: int = Field(ge=0, description="Participants counted (not necessarily unique pupils).")
    functions: tuple[StrategicFunction, ...] = ()
    aims: tuple[Aim, ...] = ()
    level: Level | None = None


@upcaster("ActivityDelivered", 1)
def _activity_delivered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 renamed ``participants`` to ``headcount`` and added hours (unknown in v1, so zero)."""
    data["headcount"] = data.pop("participants")
    data.setdefault("hours", "0")
    return data
