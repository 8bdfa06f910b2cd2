"""The register brought forward from its own events after a restore (shared/node_recovery.py).

Each function writes what its event says, as the use case that emitted it wrote it. Events carry
the register's public description only: contacts, the offer, aims and identifiers other than a
school's URN stay blank for organisations registered after the backup (the notes say which).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.partners.models import (
    AgreementRow,
    OrganisationRow,
    SchoolPopulationRow,
    SettingRow,
    StateChangeRow,
)
from services.partners.services import COUNTS
from shared.contracts.partners import (
    AgreementEnded,
    AgreementSigned,
    OrganisationDetailsChanged,
    OrganisationRegistered,
    PartnerState,
    PartnerStateChanged,
    SchoolPopulationRecorded,
    SettingAdded,
)
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.envelope import ReceivedEvent
from shared.node_recovery import Restorer


async def _organisation(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, OrganisationRegistered)
    session.add(
        OrganisationRow(
            organisation_id=str(p.organisation_id),
            org_id=p.org_id,
            name=p.name,
            roles=[str(r) for r in p.roles],
            areas=list(p.areas),
            functions=[str(f) for f in p.functions],
            aims=[],
            identifiers={},
            registered_at=event.envelope.recorded_at,
            state=str(p.state or PartnerState.INTEREST),
        )
    )
    await session.flush()
    return [
        f"organisation {p.organisation_id} ({p.name}): contact, offer, aims and identifiers were "
        "not in its event"
    ]


async def _details(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, OrganisationDetailsChanged)
    row = await session.get_one(OrganisationRow, str(p.organisation_id))
    row.org_id, row.name, row.roles = p.org_id, p.name, [str(r) for r in p.roles]
    row.areas, row.functions = list(p.areas), [str(f) for f in p.functions]
    return [
        f"organisation {p.organisation_id}: a contact change after the backup was not in its event"
    ]


async def _state(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, PartnerStateChanged)
    row = await session.get_one(OrganisationRow, str(p.organisation_id))
    row.state, row.state_changed_at, row.state_changed_by = (
        str(p.to_state),
        p.decided_at,
        p.decided_by,
    )
    session.add(
        StateChangeRow(
            change_id=str(event.envelope.event_id),
            organisation_id=str(p.organisation_id),
            from_state=str(p.from_state),
            to_state=str(p.to_state),
            decided_by=p.decided_by,
            decided_at=p.decided_at,
            reason=p.reason,
        )
    )
    return []


async def _agreement(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, AgreementSigned)
    session.add(
        AgreementRow(
            agreement_id=str(p.agreement_id),
            organisation_id=str(p.organisation_id),
            kind=str(p.kind),
            title=p.title,
            starts_on=p.starts_on,
            ends_on=p.ends_on,
            functions=[str(f) for f in p.functions],
            areas=list(p.areas),
            signed_at=event.envelope.recorded_at,
        )
    )
    return []


async def _agreement_ended(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, AgreementEnded)
    row = await session.get_one(AgreementRow, str(p.agreement_id))
    row.ended_on, row.ended_reason = p.ended_on, p.reason
    return []


async def _setting(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, SettingAdded)
    session.add(
        OrganisationRow(
            organisation_id=str(p.organisation_id),
            org_id=p.org_id,
            name=p.name,
            roles=[str(OrganisationRole.EDUCATION_SETTING)],
            areas=[p.area],
            functions=[str(StrategicFunction.SCHOOLS)],
            aims=[],
            registered_at=event.envelope.recorded_at,
            state=str(PartnerState.APPROVED),
            identifiers={"school_urn": p.urn},
        )
    )
    await session.flush()
    session.add(
        SettingRow(
            urn=p.urn,
            organisation_id=str(p.organisation_id),
            la_code=p.la_code,
            phase=str(p.phase),
            setting_type=p.setting_type,
            status="",
            state_funded=p.state_funded,
        )
    )
    return [
        f"setting {p.urn}: its register status was not in its event (re-import the DfE register "
        "to refresh it)"
    ]


async def _population(session: AsyncSession, event: ReceivedEvent) -> list[str]:
    p = event.payload
    assert isinstance(p, SchoolPopulationRecorded)
    figures = {name: getattr(p, name) for name in COUNTS}
    row = await session.get(SchoolPopulationRow, (p.la_code, p.academic_year))
    if row is None:
        row = SchoolPopulationRow(la_code=p.la_code, academic_year=p.academic_year)
        session.add(row)
    row.area, row.source, row.figures, row.recorded_at = (
        p.area,
        p.source,
        figures,
        event.envelope.recorded_at,
    )
    return []


RESTORERS: dict[str, Restorer] = {
    "OrganisationRegistered": _organisation,
    "OrganisationDetailsChanged": _details,
    "PartnerStateChanged": _state,
    "AgreementSigned": _agreement,
    "AgreementEnded": _agreement_ended,
    "SettingAdded": _setting,
    "SchoolPopulationRecorded": _population,
}
