"""Organisations and their identifiers: rules with no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.errors import Invalid

_ORG_ID = re.compile(r"^(GB-CHC|GB-COH|GB-EDU|GB-LAE|GB-GOVUK|GB-SC|GB-NIC)-[A-Za-z0-9]+$")


def normalise_org_id(value: str) -> str:
    """Upper-case the org-id.guide prefix, strip spaces; reject anything that is not one."""
    cleaned = re.sub(r"\s+", "", value).upper()
    if not _ORG_ID.match(cleaned):
        raise Invalid("not an org-id identifier", {"org_id": f"{value!r} is not a GB-CHC/COH/EDU/LAE/GOVUK id"})
    return cleaned


@dataclass(frozen=True)
class Organisation:
    organisation_id: UUID
    name: str
    roles: tuple[OrganisationRole, ...]
    areas: tuple[str, ...]
    functions: tuple[StrategicFunction, ...]
    org_id: str | None = None
