"""Projectors for partners events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete

from services.reporting.models.partners import (
    AgreementView,
    OrganisationView,
    SchoolPopulationView,
    SettingView,
)
from services.reporting.projections.writes import Insert, Projector, Update, Write
from shared.contracts.partners import (
    AgreementEnded,
    AgreementSigned,
    OrganisationDetailsChanged,
    OrganisationRegistered,
    PartnerState,
    PartnerStateChanged,
    PopulationFigures,
    SchoolPopulationRecorded,
    SettingAdded,
)
from shared.envelope import Received


def organisation_registered(event: Received) -> Iterable[Write]:
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
            "state": p.state or PartnerState.INTEREST,
            "state_event_id": None,
            "details_event_id": None,
        },
    )


def _organisation(event: Received, organisation_id: object, **values: Any) -> Update:
    key = {"node": event.envelope.node, "organisation_id": str(organisation_id)}
    return Update(OrganisationView.__table__, key, values)


def organisation_details_changed(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, OrganisationDetailsChanged)
    yield _organisation(
        event,
        p.organisation_id,
        org_id=p.org_id,
        name=p.name,
        roles=list(p.roles),
        areas=list(p.areas),
        functions=list(p.functions),
        details_event_id=str(event.envelope.event_id),
    )


def partner_state_changed(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, PartnerStateChanged)
    yield _organisation(
        event, p.organisation_id, state=p.to_state, state_event_id=str(event.envelope.event_id)
    )


def agreement_signed(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, AgreementSigned)
    yield Insert(
        AgreementView.__table__,
        {
            "node": event.envelope.node,
            "agreement_id": str(p.agreement_id),
            "organisation_id": str(p.organisation_id),
            "kind": p.kind,
            "title": p.title,
            "starts_on": p.starts_on,
            "ends_on": p.ends_on,
            "ended_on": None,
            "functions": list(p.functions),
            "areas": list(p.areas),
        },
    )


def agreement_ended(event: Received) -> Iterable[Write]:
    p = event.payload
    assert isinstance(p, AgreementEnded)
    key = {"node": event.envelope.node, "agreement_id": str(p.agreement_id)}
    yield Update(AgreementView.__table__, key, {"ended_on": p.ended_on})


def setting_added(event: Received) -> Iterable[Write]:
    """A setting is an organisation too (role education_setting),
    plus what the schools share needs."""
    p = event.payload
    assert isinstance(p, SettingAdded)
    node = event.envelope.node
    yield Insert(
        OrganisationView.__table__,
        {
            "node": node,
            "organisation_id": str(p.organisation_id),
            "org_id": p.org_id,
            "name": p.name,
            "roles": ["education_setting"],
            "areas": [p.area],
            "functions": ["schools"],
            "event_id": str(event.envelope.event_id),
            "state": None,  # settings are not in the partner lifecycle
            "state_event_id": None,
            "details_event_id": None,
        },
    )
    yield Insert(
        SettingView.__table__,
        {
            "node": node,
            "urn": p.urn,
            "organisation_id": str(p.organisation_id),
            "area": p.area,
            "la_code": p.la_code,
            "phase": p.phase,
            "setting_type": p.setting_type,
            "state_funded": p.state_funded,
        },
    )


def school_population_recorded(event: Received) -> Iterable[Write]:
    """The latest record of an area's year replaces an earlier one (a revised release)."""
    p = event.payload
    assert isinstance(p, SchoolPopulationRecorded)
    table = SchoolPopulationView.__table__
    yield delete(table).where(table.c.area == p.area, table.c.academic_year == p.academic_year)
    counts = {name: getattr(p, name) for name in PopulationFigures.model_fields if name != "pupils"}
    yield Insert(
        table,
        {
            "area": p.area,
            "academic_year": p.academic_year,
            "node": event.envelope.node,
            "la_code": p.la_code,
            "source": p.source,
            "pupils": p.pupils,
            "counts": {k: v for k, v in counts.items() if v is not None},
            "event_id": str(event.envelope.event_id),
        },
    )


PROJECTORS: dict[str, Projector] = {
    "OrganisationRegistered": organisation_registered,
    "OrganisationDetailsChanged": organisation_details_changed,
    "PartnerStateChanged": partner_state_changed,
    "AgreementSigned": agreement_signed,
    "AgreementEnded": agreement_ended,
    "SettingAdded": setting_added,
    "SchoolPopulationRecorded": school_population_recorded,
}
"""The projector of each event type of this context (it sees the latest payload version)."""
