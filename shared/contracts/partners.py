"""Contracts published by the partners service: the hub's register of organisations."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from shared.contracts import EventPayload, event
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.identity import Slug

SERVICE = "partners"


@event(SERVICE, "OrganisationRegistered", 1)
class OrganisationRegistered(EventPayload):
    """A node added an organisation (partner, setting, funder, lead) to its register."""

    organisation_id: UUID = Field(description="The node's own id for the organisation.")
    org_id: str | None = Field(
        default=None, description="org-id.guide identifier (GB-CHC-…, GB-COH-…, GB-EDU-…, GB-LAE-…)."
    )
    name: str = Field(min_length=1, max_length=200)
    roles: tuple[OrganisationRole, ...] = Field(min_length=1)
    areas: tuple[Slug, ...] = Field(default=(), description="Local authority areas served.")
    functions: tuple[StrategicFunction, ...] = Field(default=(), description="Functions it contributes to.")
