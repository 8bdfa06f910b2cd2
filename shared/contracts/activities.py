"""Contracts published by the activities service: what was delivered, to whom,
and corrections to it.

Pupils appear only as pseudonyms (``shared.pseudonym``) and reporting categories, never by UPN.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import EventPayload, NodeRule, event, upcaster
from shared.contracts.vocabulary import ActivityKind, Aim, Level, StrategicFunction
from shared.identity import Slug

SERVICE = "activities"


@event(SERVICE, "ActivityDelivered", 1)
class ActivityDeliveredV1(EventPayload):
    """First shape (kept so v1 events stay readable): a single participant count, no hours."""

    node_fields = {"area": NodeRule.HUB}

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
    """An activity was delivered in an area: who delivered it, when,
    for how long and for how many."""

    node_fields = {"area": NodeRule.HUB}

    activity_id: UUID = Field(description="The node's id for the activity.")
    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    delivered_by: UUID = Field(description="organisation_id of the delivering organisation.")
    area: Slug = Field(description="Local authority area the activity took place in.")
    setting_urn: str | None = Field(
        default=None, description="DfE URN of the school or setting, if any."
    )
    starts_on: date
    ends_on: date
    hours: Decimal = Field(default=Decimal(0), ge=0, max_digits=9, decimal_places=2)
    headcount: int = Field(
        ge=0, description="Participants counted (not necessarily unique pupils)."
    )
    functions: tuple[StrategicFunction, ...] = ()
    aims: tuple[Aim, ...] = ()
    level: Level | None = None
    term: str | None = Field(
        default=None, max_length=40, description="Term(s) of delivery, e.g. autumn 2024."
    )
    academic_year: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}$", description="Academic year it counts in."
    )
    partner_return_id: UUID | None = Field(
        default=None, description="The partner return it came in, if any."
    )


@upcaster("ActivityDelivered", 1)
def _activity_delivered_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 renamed ``participants`` to ``headcount`` and added hours (unknown in v1, so zero)."""
    data["headcount"] = data.pop("participants")
    data.setdefault("hours", "0")
    return data


class Send(StrEnum):
    """Special educational needs provision, as in the school census."""

    NONE = "none"
    SUPPORT = "support"
    EHCP = "ehcp"


class Ethnicity(StrEnum):
    """DfE major ethnic groups (the level hubs report at)."""

    WHITE = "white"
    MIXED = "mixed"
    ASIAN = "asian"
    BLACK = "black"
    OTHER = "other"
    UNCLASSIFIED = "unclassified"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    NOT_KNOWN = "not_known"


YearGroup = Annotated[
    str, Field(pattern=r"^(N1|N2|R|[1-9]|1[0-3])$", description="N1, N2, R or 1-13.")
]
Pseudonym = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of the UPN (never the UPN).")
]
Urn = Annotated[str, Field(pattern=r"^\d{6,7}$", description="DfE URN of a school or setting.")]
AcademicYear = Annotated[
    str, Field(pattern=r"^\d{4}-\d{2}$", description="Academic year, e.g. 2024-25.")
]


class Participant(BaseModel):
    """One pupil's participation in an activity: a pseudonym and the categories hubs report,
    nothing more."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    participation_id: UUID
    pseudonym: Pseudonym
    year_group: YearGroup
    send: Send = Send.NONE
    fsm: bool = Field(default=False, description="Free school meals / pupil premium.")
    looked_after: bool = False
    ethnicity: Ethnicity = Ethnicity.UNCLASSIFIED
    gender: Gender = Gender.NOT_KNOWN
    school_urn: Urn | None = None
    home_area: Slug = Field(
        description="The pupil's own local authority area (reports attribute to it)."
    )


MAX_PARTICIPANTS_PER_EVENT = 400
"""Keeps an event well under the 256 KiB limit; larger activities are published in
several events."""


@event(SERVICE, "ParticipationRecorded", 1)
class ParticipationRecorded(EventPayload):
    """Pupils took part in an activity in an academic year
    (recorded once, by the deliverer's node)."""

    activity_id: UUID
    academic_year: AcademicYear
    participants: tuple[Participant, ...] = Field(
        min_length=1, max_length=MAX_PARTICIPANTS_PER_EVENT
    )


@event(SERVICE, "ParticipationWithdrawn", 1)
class ParticipationWithdrawn(EventPayload):
    """Participations recorded by mistake; reports stop counting them, history keeps them."""

    activity_id: UUID
    participation_ids: tuple[UUID, ...] = Field(min_length=1, max_length=2000)
    reason: str = Field(min_length=1, max_length=500)


@event(SERVICE, "ActivityCorrected", 1)
class ActivityCorrected(EventPayload):
    """The corrected whole record of an activity; replaces what was delivered before in reports."""

    node_fields = {"activity.area": NodeRule.HUB}

    activity: ActivityDelivered
    reason: str = Field(min_length=1, max_length=500)


@event(SERVICE, "ActivityWithdrawn", 1)
class ActivityWithdrawn(EventPayload):
    """An activity recorded by mistake: reports drop it and its participations."""

    activity_id: UUID
    reason: str = Field(min_length=1, max_length=500)


@event(SERVICE, "PartnerReturnExpected", 1)
class PartnerReturnExpected(EventPayload):
    """A delivery partner owes the node a return of its activity for a period, by a date."""

    partner_id: UUID = Field(description="organisation_id of the partner.")
    academic_year: AcademicYear
    due_on: date


@event(SERVICE, "PartnerReturnSubmitted", 1)
class PartnerReturnSubmitted(EventPayload):
    """A partner's return for a period was imported through its lead organisation's node."""

    return_id: UUID
    partner_id: UUID
    academic_year: AcademicYear
    submitted_on: date
    file_digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file imported.")
    activities: int = Field(ge=0)
    participations: int = Field(ge=0)
