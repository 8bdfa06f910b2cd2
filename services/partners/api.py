"""HTTP routes of the partners service."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from shared.node_service import UnitOfWorkDep
from services.partners.services import RegisterOrganisation, list_organisations, register_organisation

router = APIRouter(prefix="/organisations", tags=["organisations"])


class OrganisationOut(BaseModel):
    organisation_id: UUID
    name: str
    org_id: str | None
    roles: list[str]
    areas: list[str]
    functions: list[str]


@router.post("", status_code=201, response_model=OrganisationOut, summary="Register an organisation")
async def post_organisation(cmd: RegisterOrganisation, uow: UnitOfWorkDep) -> OrganisationOut:
    org = await register_organisation(cmd, uow)
    return OrganisationOut(
        organisation_id=org.organisation_id,
        name=org.name,
        org_id=org.org_id,
        roles=list(org.roles),
        areas=list(org.areas),
        functions=list(org.functions),
    )


@router.get("", response_model=list[OrganisationOut], summary="This node's register")
async def get_organisations(uow: UnitOfWorkDep) -> list[OrganisationOut]:
    return [
        OrganisationOut(
            organisation_id=UUID(row.organisation_id),
            name=row.name,
            org_id=row.org_id,
            roles=row.roles,
            areas=row.areas,
            functions=row.functions,
        )
        for row in await list_organisations(uow)
    ]
