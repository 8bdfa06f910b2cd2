"""Contracts published by the partners service: the hub's register of organisations.

Contact details stay in the node's register: they are personal data nobody at hub level needs.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import EventPayload, NodeRule, event
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.identity import Slug

SERVICE = "partners"


class PartnerState(StrEnum):
    """Where an organisation is in the partner lifecycle, from expression of interest to ended."""

    INTEREST = "interest"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class AgreementKind(StrEnum):
    SLA = "sla"
    COMMISSION = "commission"


class SettingPhase(StrEnum):
    """Phase of an education setting, as in the DfE register of schools (simplified)."""

    NURSERY = "nursery"
    PRIMARY = "primary"
    MIDDLE = "middle"
    SECONDARY = "secondary"
    ALL_THROUGH = "all_through"
    SIXTEEN_PLUS = "sixteen_plus"
    NOT_APPLICABLE = "not_applicable"


@event(SERVICE, "OrganisationRegistered", 1)
class OrganisationRegistered(EventPayload):
    """A node added an organisation (partner, setting, funder, lead) to its register."""

    node_fields = {"areas": NodeRule.HUB}
    organisation_id: UUID = Field(description="The node's own id for the organisation.")
    org_id: str | None = Field(
        default=None,
        description="org-id.guide identifier (GB-CHC-…, GB-COH-…, GB-EDU-…, GB-LAE-…).",
    )
    name: str = Field(min_length=1, max_length=200)
    roles: tuple[OrganisationRole, ...] = Field(min_length=1)
    areas: tuple[Slug, ...] = Field(default=(), description="Local authority areas served.")
    functions: tuple[StrategicFunction, ...] = Field(
        default=(), description="Functions it contributes to."
    )
    state: PartnerState | None = Field(
        default=None,
        description="Lifecycle state at registration (absent in early events: interest).",
    )


@event(SERVICE, "OrganisationDetailsChanged", 1)
class OrganisationDetailsChanged(EventPayload):
    """The register's details of an organisation changed; carries the whole new description."""

    node_fields = {"areas": NodeRule.HUB}
    organisation_id: UUID
    org_id: str | None = None
    name: str = Field(min_length=1, max_length=200)
    roles: tuple[OrganisationRole, ...] = Field(min_length=1)
    areas: tuple[Slug, ...] = ()
    functions: tuple[StrategicFunction, ...] = ()


@event(SERVICE, "PartnerStateChanged", 1)
class PartnerStateChanged(EventPayload):
    """An organisation moved along the partner lifecycle; who decided, when and why."""

    organisation_id: UUID
    from_state: PartnerState
    to_state: PartnerState
    decided_by: str = Field(
        min_length=1, max_length=200, description="Person or panel that decided."
    )
    decided_at: datetime
    reason: str | None = Field(default=None, max_length=2000)


@event(SERVICE, "AgreementSigned", 1)
class AgreementSigned(EventPayload):
    """A service level agreement or commission with an organisation was signed."""

    node_fields = {"areas": NodeRule.HUB}
    agreement_id: UUID
    organisation_id: UUID
    kind: AgreementKind
    title: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
    functions: tuple[StrategicFunction, ...] = ()
    areas: tuple[Slug, ...] = ()


@event(SERVICE, "AgreementEnded", 1)
class AgreementEnded(EventPayload):
    """An agreement was ended before (or on) its planned end date."""

    agreement_id: UUID
    organisation_id: UUID
    ended_on: date
    reason: str | None = Field(default=None, max_length=2000)


@event(SERVICE, "SettingAdded", 1)
class SettingAdded(EventPayload):
    """A school or other education setting joined the node's register (keyed by its DfE URN)."""

    node_fields = {"area": NodeRule.OWN}

    organisation_id: UUID
    urn: str = Field(pattern=r"^\d{6,7}$", description="DfE unique reference number.")
    org_id: str = Field(description="GB-EDU-<URN>.")
    name: str = Field(min_length=1, max_length=200)
    area: Slug = Field(description="Local authority area (node area) the setting is in.")
    la_code: str = Field(
        pattern=r"^\d{3}$", description="DfE local authority number, e.g. 331 for Coventry."
    )
    phase: SettingPhase
    setting_type: str = Field(
        max_length=100, description="DfE type of establishment, e.g. Academy converter."
    )
    state_funded: bool = Field(
        description="Counts towards the share of state-funded schools supported."
    )


Count = Annotated[int, Field(ge=0, le=10_000_000)] | None
"""A number of pupils; None where the source does not give it (unknown, never zero)."""


class PopulationFigures(BaseModel):
    """Pupils in an area's state-funded schools and their characteristics, as the DfE's "Schools,
    pupils and their characteristics" local authority table counts them (a characteristic it lacks
    is None)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pupils: int = Field(
        ge=1, le=10_000_000, description="Headcount of pupils in the area's state-funded schools."
    )
    sen_support: Count = Field(default=None, description="Pupils on SEN support.")
    ehcp: Count = Field(default=None, description="Pupils with an education, health and care plan.")
    fsm_eligible: Count = Field(
        default=None, description="Pupils known to be eligible for free school meals."
    )
    looked_after: Count = Field(
        default=None,
        description="Looked-after pupils (not in the DfE table; from the LA if known).",
    )
    ethnicity_white: Count = Field(default=None, description="DfE major ethnic group White.")
    ethnicity_mixed: Count = Field(
        default=None, description="DfE major ethnic group Mixed / multiple."
    )
    ethnicity_asian: Count = Field(
        default=None, description="DfE major ethnic group Asian / Asian British."
    )
    ethnicity_black: Count = Field(
        default=None, description="DfE major ethnic group Black / Black British."
    )
    ethnicity_other: Count = Field(default=None, description="DfE major ethnic group Any other.")
    ethnicity_unclassified: Count = Field(
        default=None, description="Ethnicity unclassified or refused."
    )
    gender_female: Count = Field(default=None, description="Girls.")
    gender_male: Count = Field(default=None, description="Boys.")


@event(SERVICE, "SchoolPopulationRecorded", 1)
class SchoolPopulationRecorded(EventPayload, PopulationFigures):
    """A node recorded its area's school population for a year
    (again when a revised release changes it)."""

    node_fields = {"area": NodeRule.OWN}

    area: Slug = Field(description="The node's local authority area.")
    la_code: str = Field(
        pattern=r"^\d{3}$", description="DfE local authority number, e.g. 331 for Coventry."
    )
    academic_year: str = Field(
        pattern=r"^\d{4}-\d{2}$", description="Academic year of the census, e.g. 2024-25."
    )
    source: str = Field(
        min_length=1,
        max_length=200,
        description="Publication the figures come from, with its year.",
    )
