"""Projectors for activities events."""

from __future__ import annotations

from collections.abc import Iterable

from shared.contracts.activities import ActivityDelivered
from shared.envelope import ReceivedEvent
from services.reporting.models import ActivityView
from services.reporting.projections import Insert, Write, projects


@projects("ActivityDelivered")
def activity_delivered(event: ReceivedEvent) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, ActivityDelivered)
    yield Insert(
        ActivityView.__table__,
        {
            "node": event.envelope.node,
            "activity_id": str(p.activity_id),
            "kind": p.kind,
            "title": p.title,
            "area": p.area,
            "starts_on": p.starts_on,
            "ends_on": p.ends_on,
            "hours": p.hours,
            "headcount": p.headcount,
            "level": p.level,
            "functions": list(p.functions),
            "event_id": str(event.envelope.event_id),
        },
    )
