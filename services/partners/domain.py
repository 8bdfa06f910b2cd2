"""Organisations, identifiers, the partner lifecycle, agreements and settings: rules with no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from shared.contracts.partners import PartnerState
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.errors import Invalid

_PREFIXES = ("GB-CHC", "GB-COH", "GB-EDU", "GB-LAE", "GB-GOVUK", "GB-SC", "GB-NIC")
_ORG_ID = re.compile(rf"^({'|'.join(_PREFIXES)})-([A-Z0-9]+)$")
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "GB-CHC": (re.compile(r"^\d{6,8}$"), "a charity number is 6 to 8 digits"),
    "GB-COH": (
        re.compile(r"^([A-Z]{2}\d{6}|\d{8})$"),
        "a company number is 8 characters, e.g. 01234567 or SC123456",
    ),
    "GB-EDU": (re.compile(r"^\d{6,7}$"), "a school URN is 6 or 7 digits"),
    "GB-LAE": (re.compile(r"^[A-Z]{3,4}$"), "a local authority code is 3 or 4 letters, e.g. COV"),
}

LA_AREAS: dict[str, tuple[str, str]] = {
    "331": ("coventry", "COV"),
    "937": ("warwickshire", "WAR"),
    "334": ("solihull", "SOL"),
}
"""DfE local authority number → (area slug, GB-LAE code) for the areas this hub knows."""

TRANSITIONS: dict[PartnerState, frozenset[PartnerState]] = {
    PartnerState.INTEREST: frozenset({PartnerState.UNDER_REVIEW, PartnerState.ENDED}),
    PartnerState.UNDER_REVIEW: frozenset({PartnerState.APPROVED, PartnerState.ENDED}),
    PartnerState.APPROVED: frozenset({PartnerState.ACTIVE, PartnerState.ENDED}),
    PartnerState.ACTIVE: frozenset({PartnerState.SUSPENDED, PartnerState.ENDED}),
    PartnerState.SUSPENDED: frozenset({PartnerState.ACTIVE, PartnerState.ENDED}),
    PartnerState.ENDED: frozenset(),
}
"""Allowed moves; ended is final (a returning partner expresses interest again as a new record)."""


def normalise_org_id(value: str) -> str:
    """Canonical org-id.guide form, so two nodes' records of one organisation compare equal."""
    cleaned = re.sub(r"[\s]+", "", value).upper()
    match = _ORG_ID.match(cleaned)
    if not match:
        raise Invalid(
            "not an org-id identifier",
            {"org_id": f"{value!r} is not a GB-CHC/COH/EDU/LAE/GOVUK id"},
        )
    prefix, local = match.groups()
    if prefix == "GB-COH" and local.isdigit() and len(local) < 8:
        local = local.zfill(
            8
        )  # Companies House numbers are 8 characters; spreadsheets drop the zeros
    rule = _RULES.get(prefix)
    if rule and not rule[0].match(local):
        raise Invalid("not an org-id identifier", {"org_id": f"{value!r}: {rule[1]}"})
    return f"{prefix}-{local}"


@dataclass(frozen=True)
class Identifiers:
    """Official numbers as people type them; `org_id` picks the one that identifies
    the organisation."""

    charity_number: str | None = None
    company_number: str | None = None
    school_urn: str | None = None
    la_code: str | None = None

    def org_id(self) -> str | None:
        """Charity first (it is what funders match on), then company, school, local authority."""
        for prefix, value in (
            ("GB-CHC", self.charity_number),
            ("GB-COH", self.company_number),
            ("GB-EDU", self.school_urn),
            ("GB-LAE", self.la_code),
        ):
            if value and value.strip():
                return normalise_org_id(f"{prefix}-{value}")
        return None


def resolve_org_id(org_id: str | None, identifiers: Identifiers) -> str | None:
    """The explicit org-id if given (normalised), else the one derived from the official numbers."""
    return normalise_org_id(org_id) if org_id else identifiers.org_id()


def check_transition(
    current: PartnerState, target: PartnerState, *, has_agreement_in_force: bool
) -> None:
    """Refuse a move the lifecycle does not allow, saying which moves are."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "none: ended is final"
        raise Invalid(
            f"cannot move from {current} to {target}",
            {"to_state": f"from {current} the allowed states are: {options}"},
        )
    if target is PartnerState.ACTIVE and not has_agreement_in_force:
        raise Invalid(
            "an active partner works under an agreement",
            {"to_state": "sign an agreement in force today before making the partner active"},
        )


def check_agreement_dates(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise Invalid(
            "agreement ends before it starts",
            {"ends_on": f"{ends_on} is before starts_on {starts_on}"},
        )


def in_force(starts_on: date, ends_on: date, ended_on: date | None, on: date) -> bool:
    return starts_on <= on <= ends_on and (ended_on is None or on < ended_on)


def setting_area(la_code: str, node: str) -> str:
    """A node registers the settings of its own area; another known area's setting is refused."""
    known = LA_AREAS.get(la_code)
    if known and known[0] != node:
        raise Invalid(
            "setting is in another area", {"la_code": f"LA {la_code} is {known[0]}, not {node}"}
        )
    return node


def population_area(la_code: str, node: str, recorded: frozenset[str] = frozenset()) -> str:
    """A node records the school population of its own LA only. Where the hub does not know the
    node's LA, the first LA code it records becomes its own (`recorded`: the codes it holds)."""
    own = {code for code, (area, _) in LA_AREAS.items() if area == node} or set(recorded)
    if la_code in own or (not own and la_code not in LA_AREAS):
        return node
    expected = (
        f"{node}'s is {', '.join(sorted(own))}" if own else f"{la_code} is {LA_AREAS[la_code][0]}"
    )
    raise Invalid(
        "school population of another area", {"la_code": f"LA {la_code} is not {node}: {expected}"}
    )


STATE_FUNDED_TYPES = frozenset(
    {
        "community school",
        "voluntary aided school",
        "voluntary controlled school",
        "foundation school",
        "academy converter",
        "academy sponsor led",
        "free schools",
        "free school",
        "studio schools",
        "university technical college",
        "community special school",
        "foundation special school",
        "academy special converter",
        "academy special sponsor led",
        "free schools special",
        "pupil referral unit",
        "academy alternative provision converter",
        "local authority nursery school",
    }
)
"""DfE establishment types funded by the state: the denominator of the share of
schools supported."""


def is_state_funded(setting_type: str) -> bool:
    return setting_type.strip().lower() in STATE_FUNDED_TYPES


@dataclass(frozen=True)
class Organisation:
    organisation_id: UUID
    name: str
    roles: tuple[OrganisationRole, ...]
    areas: tuple[str, ...]
    functions: tuple[StrategicFunction, ...]
    org_id: str | None = None
    state: PartnerState = PartnerState.INTEREST
