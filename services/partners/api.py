"""HTTP routes of the partners service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from services.partners.models import AgreementRow, OrganisationRow, SchoolPopulationRow, SettingRow
from services.partners.services import (
    AddSetting,
    ChangeDetails,
    ChangeState,
    EndAgreement,
    RecordSchoolPopulation,
    RegisterOrganisation,
    SignAgreement,
    add_setting,
    change_details,
    change_state,
    end_agreement,
    expiring_agreements,
    get_organisation,
    list_organisations,
    list_school_population,
    list_settings,
    record_school_population,
    register_organisation,
    sign_agreement,
)
from shared.contracts.partners import PartnerState
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.node_service import ServiceDep, UnitOfWorkDep

router = APIRouter(prefix="/organisations", tags=["organisations"])
agreements = APIRouter(prefix="/agreements", tags=["agreements"])
settings = APIRouter(prefix="/settings", tags=["education settings"])
population = APIRouter(prefix="/school-population", tags=["school population"])


class AgreementOut(BaseModel):
    agreement_id: UUID
    organisation_id: UUID
    kind: str
    title: str
    starts_on: date
    ends_on: date
    functions: list[str]
    areas: list[str]
    ended_on: date | None

    @classmethod
    def of(cls, row: AgreementRow) -> AgreementOut:
        return cls.model_validate(row, from_attributes=True)


class OrganisationOut(BaseModel):
    organisation_id: UUID
    name: str
    org_id: str | None
    roles: list[str]
    areas: list[str]
    functions: list[str]
    state: str

    @classmethod
    def of(cls, row: OrganisationRow) -> OrganisationOut:
        return cls.model_validate(row, from_attributes=True)


class OrganisationDetail(OrganisationOut):
    aims: list[str]
    identifiers: dict[str, str]
    contact_name: str | None
    contact_email: str | None
    offer: str | None
    state_changed_at: datetime | None
    state_changed_by: str | None
    agreements: list[AgreementOut]


class StateChangeOut(BaseModel):
    organisation_id: UUID
    from_state: str
    to_state: str
    decided_by: str
    decided_at: datetime


class SettingOut(BaseModel):
    organisation_id: UUID
    urn: str
    name: str
    la_code: str
    phase: str
    setting_type: str
    status: str
    state_funded: bool

    @classmethod
    def of(cls, row: SettingRow, name: str) -> SettingOut:
        return cls(
            organisation_id=UUID(row.organisation_id),
            urn=row.urn,
            name=name,
            la_code=row.la_code,
            phase=row.phase,
            setting_type=row.setting_type,
            status=row.status,
            state_funded=row.state_funded,
        )


class SettingAddedOut(BaseModel):
    organisation_id: UUID
    added: bool


@router.post(
    "",
    status_code=201,
    response_model=OrganisationOut,
    summary="Register an organisation (expression of interest)",
)
async def post_organisation(cmd: RegisterOrganisation, uow: UnitOfWorkDep) -> OrganisationOut:
    org = await register_organisation(cmd, uow)
    return OrganisationOut(
        organisation_id=org.organisation_id,
        name=org.name,
        org_id=org.org_id,
        roles=list(org.roles),
        areas=list(org.areas),
        functions=list(org.functions),
        state=org.state,
    )


@router.get("", response_model=list[OrganisationOut], summary="Search this node's register")
async def get_organisations(
    uow: UnitOfWorkDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the name, or an exact org-id")
    ] = None,
    role: OrganisationRole | None = None,
    area: str | None = None,
    function: StrategicFunction | None = None,
    state: PartnerState | None = None,
) -> list[OrganisationOut]:
    rows = await list_organisations(
        uow, text=q, role=role, area=area, function=function, state=state
    )
    return [OrganisationOut.of(r) for r in rows]


@router.get(
    "/{organisation_id}",
    response_model=OrganisationDetail,
    summary="One organisation and its agreements",
)
async def get_one(organisation_id: UUID, uow: UnitOfWorkDep) -> OrganisationDetail:
    row, signed = await get_organisation(organisation_id, uow)
    return OrganisationDetail.model_validate(
        {
            **OrganisationOut.of(row).model_dump(),
            **{
                k: getattr(row, k)
                for k in (
                    "aims",
                    "identifiers",
                    "contact_name",
                    "contact_email",
                    "offer",
                    "state_changed_at",
                    "state_changed_by",
                )
            },
            "agreements": [AgreementOut.of(a) for a in signed],
        }
    )


@router.patch(
    "/{organisation_id}", response_model=OrganisationOut, summary="Change an organisation's details"
)
async def patch_organisation(
    organisation_id: UUID, cmd: ChangeDetails, uow: UnitOfWorkDep
) -> OrganisationOut:
    return OrganisationOut.of(await change_details(organisation_id, cmd, uow))


@router.post(
    "/{organisation_id}/state-changes",
    status_code=201,
    response_model=StateChangeOut,
    summary="Move an organisation along the partner lifecycle",
)
async def post_state_change(
    organisation_id: UUID, cmd: ChangeState, uow: UnitOfWorkDep
) -> StateChangeOut:
    change = await change_state(organisation_id, cmd, uow)
    return StateChangeOut.model_validate(change, from_attributes=True)


@router.post(
    "/{organisation_id}/agreements",
    status_code=201,
    response_model=AgreementOut,
    summary="Record a signed SLA or commission",
)
async def post_agreement(
    organisation_id: UUID, cmd: SignAgreement, uow: UnitOfWorkDep
) -> AgreementOut:
    return AgreementOut.of(await sign_agreement(organisation_id, cmd, uow))


@agreements.get(
    "", response_model=list[AgreementOut], summary="Agreements in force ending within N days"
)
async def get_expiring(
    uow: UnitOfWorkDep, expiring_within_days: Annotated[int, Query(ge=0, le=3660)] = 90
) -> list[AgreementOut]:
    return [AgreementOut.of(a) for a in await expiring_agreements(uow, expiring_within_days)]


@agreements.post("/{agreement_id}/end", response_model=AgreementOut, summary="End an agreement")
async def post_end(agreement_id: UUID, cmd: EndAgreement, uow: UnitOfWorkDep) -> AgreementOut:
    return AgreementOut.of(await end_agreement(agreement_id, cmd, uow))


@settings.post(
    "",
    status_code=201,
    response_model=SettingAddedOut,
    summary="Add a school or setting by URN (the same URN again changes nothing: 200)",
)
async def post_setting(
    cmd: AddSetting, uow: UnitOfWorkDep, service: ServiceDep, response: Response
) -> SettingAddedOut:
    organisation_id, added = await add_setting(cmd, uow, service.node)
    if not added:
        response.status_code = 200
    return SettingAddedOut(organisation_id=organisation_id, added=added)


@settings.get(
    "", response_model=list[SettingOut], summary="Schools and settings in this node's register"
)
async def get_settings(
    uow: UnitOfWorkDep,
    q: Annotated[
        str | None, Query(max_length=100, description="Part of a name, or a whole URN")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> list[SettingOut]:
    return [SettingOut.of(row, name) for row, name in await list_settings(uow, q, limit)]


class PopulationOut(BaseModel):
    la_code: str
    academic_year: str
    area: str
    source: str
    figures: dict[str, int | None]

    @classmethod
    def of(cls, row: SchoolPopulationRow) -> PopulationOut:
        return cls.model_validate(row, from_attributes=True)


class PopulationRecordedOut(BaseModel):
    outcome: str = Field(
        description="recorded, revised (published again) or unchanged (nothing published: 200)"
    )


@population.post(
    "",
    status_code=201,
    response_model=PopulationRecordedOut,
    summary=(
        "Record the area's school population for an academic year (the same figures again: 200)"
    ),
)
async def post_population(
    cmd: RecordSchoolPopulation, uow: UnitOfWorkDep, service: ServiceDep, response: Response
) -> PopulationRecordedOut:
    outcome = await record_school_population(cmd, uow, service.node)
    if outcome == "unchanged":
        response.status_code = 200
    return PopulationRecordedOut(outcome=outcome)


@population.get(
    "", response_model=list[PopulationOut], summary="The area's school population by academic year"
)
async def get_population(uow: UnitOfWorkDep) -> list[PopulationOut]:
    return [PopulationOut.of(row) for row in await list_school_population(uow)]
