"""Shared vocabulary of the National Plan for Music Education, used across contracts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

Pence = Annotated[
    int, Field(ge=0, le=10**13, description="Money in integer pence (GBP); never a float.")
]


class StrategicFunction(StrEnum):
    """The five strategic functions every hub activity and pound is attributed to."""

    PARTNERSHIPS = "partnerships"
    SCHOOLS = "schools"
    PROGRESSION = "progression"
    INCLUSION = "inclusion"
    SUSTAINABILITY = "sustainability"


class Aim(StrEnum):
    """The three aims of the National Plan for Music Education (2022)."""

    SUPPORT_SCHOOLS = "support_schools"
    ENGAGE_ALL = "engage_all"
    PROGRESS_TALENT = "progress_talent"


class OrganisationRole(StrEnum):
    HUB_LEAD = "hub_lead"
    COLLABORATIVE_LEAD = "collaborative_lead"
    HUB_MEMBER = "hub_member"
    DELIVERY_PARTNER = "delivery_partner"
    EDUCATION_SETTING = "education_setting"
    FUNDER = "funder"


class ActivityKind(StrEnum):
    """Kinds of delivery in the annual hub data return."""

    WCET = "wcet"
    TUITION = "tuition"
    ENSEMBLE = "ensemble"
    SEND_INCLUSION = "send_inclusion"
    EARLY_YEARS = "early_years"
    WORKSHOP = "workshop"
    PERFORMANCE = "performance"
    CPD = "cpd"
    EXAM = "exam"
    INSTRUMENT_LOAN = "instrument_loan"


class Level(StrEnum):
    """Progression level of an activity."""

    EARLY_YEARS = "early_years"
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class FundingStream(StrEnum):
    """DfE grants come as revenue and capital, which may not be mixed."""

    REVENUE = "revenue"
    CAPITAL = "capital"


class IncomeSource(StrEnum):
    DFE_GRANT = "dfe_grant"
    LOCAL_AUTHORITY = "local_authority"
    SCHOOLS = "schools"
    PARENTS = "parents"
    TRUSTS = "trusts"
    FUNDRAISING = "fundraising"
    EARNED = "earned"
    OTHER = "other"
