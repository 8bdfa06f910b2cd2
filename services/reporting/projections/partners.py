"""Projectors for partners events."""

from __future__ import annotations

from collections.abc import Iterable

from shared.contracts.partners import OrganisationRegistered
from shared.envelope import ReceivedEvent
from services.reporting.models import OrganisationView
from services.reporting.projections import Insert, Write, projects


@projects("OrganisationRegistered")
def organisation_registered(event: ReceivedEvent) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, OrganisationRegistered)
    yield Insert(
        OrganisationView.__table__,
        {
            "node": event.envelope.node,
            "organisation_id": str(p.organisation_id),
            "org_id": p.org_id,
            "name": p.name,
            "roles": list(p.roles),
            "areas": list(p.areas),
            "functions": list(p.functions),
            "event_id": str(event.envelope.event_id),
        },
    )
