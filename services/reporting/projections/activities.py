"""Projectors for activities events: activities, pupils by pseudonym,
corrections and partner returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, update

from services.reporting.models.activities import (
    ActivityCorrectionView,
    ActivityView,
    ParticipationView,
    PartnerReturnView,
    ReturnExpectedView,
)
from services.reporting.projections.writes import Insert, Projector, Update, Write
from shared.contracts.activities import (
    ActivityCorrected,
    ActivityDelivered,
    ActivityWithdrawn,
    Participant,
    ParticipationRecorded,
    ParticipationWithdrawn,
    PartnerReturnExpected,
    PartnerReturnSubmitted,
)
from shared.envelope import Received

_ACTIVITY = ActivityView.__table__
_PARTICIPATION = ParticipationView.__table__
_CORRECTION = ActivityCorrectionView.__table__
_RETURN = PartnerReturnView.__table__
_EXPECTED = ReturnExpectedView.__table__


def _activity_values(p: ActivityDelivered) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "title": p.title,
        "area": p.area,
        "starts_on": p.starts_on,
        "ends_on": p.ends_on,
        "hours": p.hours,
        "headcount": p.headcount,
        "level": p.level,
        "functions": list(p.functions),
        "aims": list(p.aims),
        "delivered_by": str(p.delivered_by),
        "setting_urn": p.setting_urn,
        "term": p.term,
        "academic_year": p.academic_year,
        "partner_return_id": str(p.partner_return_id) if p.partner_return_id else None,
    }


def activity_delivered(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ActivityDelivered)
    yield Insert(
        _ACTIVITY,
        {
            "node": event.envelope.node,
            "activity_id": str(p.activity_id),
            "event_id": str(event.envelope.event_id),
            **_activity_values(p),
        },
    )


def activity_corrected(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ActivityCorrected)
    node, activity_id = event.envelope.node, str(p.activity.activity_id)
    key = {"node": node, "activity_id": activity_id}
    yield Update(
        _ACTIVITY, key, {"event_id": str(event.envelope.event_id), **_activity_values(p.activity)}
    )
    yield _correction(event, activity_id, "corrected", 0, p.reason)


def activity_withdrawn(event: Received) -> Iterable[Write]:
    """The activity leaves the figures (the hub report sums activity_view);
    its pupils stop counting."""
    p = event.payload
    assert isinstance(p, ActivityWithdrawn)
    node, activity_id = event.envelope.node, str(p.activity_id)
    yield delete(_ACTIVITY).where(_ACTIVITY.c.node == node, _ACTIVITY.c.activity_id == activity_id)
    yield (
        update(_PARTICIPATION)
        .where(_PARTICIPATION.c.node == node, _PARTICIPATION.c.activity_id == activity_id)
        .values(withdrawn=True)
    )
    yield _correction(event, activity_id, "activity withdrawn", 0, p.reason)


def participation_recorded(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ParticipationRecorded)
    common = {
        "node": event.envelope.node,
        "activity_id": str(p.activity_id),
        "academic_year": p.academic_year,
        "event_id": str(event.envelope.event_id),
        "withdrawn": False,
    }
    for pupil in p.participants:
        yield Insert(_PARTICIPATION, {**common, **_pupil_values(pupil)})


def _pupil_values(pupil: Participant) -> dict[str, Any]:
    """The participant as stored, built by hand: a model_dump per pupil costs more than
    its insert."""
    return {
        "participation_id": str(pupil.participation_id),
        "pseudonym": pupil.pseudonym,
        "year_group": pupil.year_group,
        "send": pupil.send._value_,
        "fsm": pupil.fsm,
        "looked_after": pupil.looked_after,
        "ethnicity": pupil.ethnicity._value_,
        "gender": pupil.gender._value_,
        "school_urn": pupil.school_urn,
        "home_area": pupil.home_area,
    }


def participation_withdrawn(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ParticipationWithdrawn)
    yield (
        update(_PARTICIPATION)
        .where(
            _PARTICIPATION.c.node == event.envelope.node,
            _PARTICIPATION.c.participation_id.in_([str(i) for i in p.participation_ids]),
        )
        .values(withdrawn=True)
    )
    yield _correction(
        event, str(p.activity_id), "participations withdrawn", len(p.participation_ids), p.reason
    )


def _correction(
    event: Received, activity_id: str, change: str, participations: int, reason: str
) -> Insert:
    return Insert(
        _CORRECTION,
        {
            "event_id": str(event.envelope.event_id),
            "node": event.envelope.node,
            "activity_id": activity_id,
            "change": change,
            "participations": participations,
            "reason": reason,
        },
    )


def partner_return_expected(event: Received) -> Iterable[Write]:
    """Expecting a return again moves its due date: the latest expectation replaces the
    earlier one."""
    p = event.payload
    assert isinstance(p, PartnerReturnExpected)
    key = {
        "node": event.envelope.node,
        "partner_id": str(p.partner_id),
        "academic_year": p.academic_year,
    }
    yield delete(_EXPECTED).where(*(_EXPECTED.c[k] == v for k, v in key.items()))
    yield Insert(_EXPECTED, {**key, "due_on": p.due_on})


def partner_return_submitted(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, PartnerReturnSubmitted)
    yield Insert(
        _RETURN,
        {
            "node": event.envelope.node,
            "return_id": str(p.return_id),
            "partner_id": str(p.partner_id),
            "academic_year": p.academic_year,
            "submitted_on": p.submitted_on,
            "activities": p.activities,
            "participations": p.participations,
        },
    )


PROJECTORS: dict[str, Projector] = {
    "ActivityDelivered": activity_delivered,
    "ActivityCorrected": activity_corrected,
    "ActivityWithdrawn": activity_withdrawn,
    "ParticipationRecorded": participation_recorded,
    "ParticipationWithdrawn": participation_withdrawn,
    "PartnerReturnExpected": partner_return_expected,
    "PartnerReturnSubmitted": partner_return_submitted,
}
"""The projector of each event type of this context (it sees the latest payload version)."""
