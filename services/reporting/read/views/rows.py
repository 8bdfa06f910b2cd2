"""Rows and percentages that both the accountability views and the school population build
(services/reporting/read/views/accountability.py, population.py), below both of them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

UNKNOWN_POPULATION = "unknown: no school population data in the system"


def share(part: int, whole: int) -> Decimal | None:
    """A percentage to one decimal place; None when there is nothing to share."""
    if whole == 0:
        return None
    return (Decimal(100 * part) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class AreaSchools(BaseModel):
    area: str
    engaged_schools: int = Field(description="Distinct URNs with activity or pupils in the year.")
    state_funded_schools: int = Field(
        description="State-funded settings on the register for the area."
    )
    state_funded_engaged: int
    state_funded_share: Decimal | None = Field(
        description="Percent of the area's state-funded schools engaged."
    )
    school_pupils: int | None = Field(
        default=None,
        description="Pupils in the area's state-funded schools (DfE census), if recorded.",
    )
    school_pupils_year: str | None = Field(
        default=None, description="The census year of school_pupils."
    )


class Characteristic(BaseModel):
    characteristic: str
    value: str
    pupils: int
    share: Decimal | None = Field(description="Percent of unique participants.")
    population_share: Decimal | None = None
    population: str = UNKNOWN_POPULATION
