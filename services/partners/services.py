"""Use cases of the partners service: plain async functions over a unit of work."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from shared.contracts.partners import OrganisationRegistered
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.envelope import new_event_id, utcnow
from shared.errors import Refused
from shared.identity import Slug
from shared.outbox import UnitOfWork
from services.partners.domain import Organisation, normalise_org_id
from services.partners.models import OrganisationRow


class RegisterOrganisation(BaseModel):
    """Add an organisation to this node's register."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    roles: list[OrganisationRole] = Field(min_length=1)
    areas: list[Slug] = []
    functions: list[StrategicFunction] = []
    org_id: str | None = Field(default=None, description="org-id.guide identifier, e.g. GB-CHC-1036733")


async def register_organisation(cmd: RegisterOrganisation, uow: UnitOfWork) -> Organisation:
    org_id = normalise_org_id(cmd.org_id) if cmd.org_id else None
    organisation = Organisation(
        organisation_id=new_event_id(),
        name=cmd.name.strip(),
        roles=tuple(dict.fromkeys(cmd.roles)),
        areas=tuple(dict.fromkeys(cmd.areas)),
        functions=tuple(dict.fromkeys(cmd.functions)),
        org_id=org_id,
    )
    async with uow:
        if org_id and await uow.session.scalar(select(OrganisationRow.organisation_id).where(OrganisationRow.org_id == org_id)):
            raise Refused("organisation already registered", {"org_id": f"{org_id} is already in this register"})
        uow.session.add(
            OrganisationRow(
                organisation_id=str(organisation.organisation_id),
                org_id=org_id,
                name=organisation.name,
                roles=list(organisation.roles),
                areas=list(organisation.areas),
                functions=list(organisation.functions),
                registered_at=utcnow(),
            )
        )
        await uow.emit(
            OrganisationRegistered(
                organisation_id=organisation.organisation_id,
                org_id=org_id,
                name=organisation.name,
                roles=organisation.roles,
                areas=organisation.areas,
                functions=organisation.functions,
            )
        )
        await uow.commit()
    return organisation


async def list_organisations(uow: UnitOfWork) -> list[OrganisationRow]:
    async with uow:
        return list((await uow.session.scalars(select(OrganisationRow).order_by(OrganisationRow.name))).all())
