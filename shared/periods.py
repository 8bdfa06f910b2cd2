"""Reporting periods. Dates are stored; both year views are derived from them.

Grant (academic) years run 1 September to 31 August; council-run services keep 1 April to
31 March financial years. A year is named by its start and end, e.g. ``2024-25``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

PeriodKind = Literal["academic", "financial"]
_START_MONTH = {"academic": 9, "financial": 4}
_NAME = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    kind: PeriodKind
    start_year: int

    @property
    def name(self) -> str:
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}"

    @property
    def starts_on(self) -> date:
        return date(self.start_year, _START_MONTH[self.kind], 1)

    @property
    def ends_on(self) -> date:
        """Last day inside the period."""
        month = _START_MONTH[self.kind]
        return date.fromordinal(date(self.start_year + 1, month, 1).toordinal() - 1)

    def contains(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def next(self) -> Period:
        return Period(self.kind, self.start_year + 1)

    def previous(self) -> Period:
        return Period(self.kind, self.start_year - 1)

    def __str__(self) -> str:
        return f"{self.kind} year {self.name}"


def period_of(day: date, kind: PeriodKind) -> Period:
    """The academic or financial year a date falls in."""
    start_month = _START_MONTH[kind]
    return Period(kind, day.year if day.month >= start_month else day.year - 1)


def academic_year(day: date) -> str:
    return period_of(day, "academic").name


def financial_year(day: date) -> str:
    return period_of(day, "financial").name


def parse_period(name: str, kind: PeriodKind) -> Period:
    """``2024-25`` → the period starting in 2024; refuses names whose two halves do not follow."""
    match = _NAME.match(name)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise ValueError(f"{name!r} is not a year like 2024-25")
    return Period(kind, int(match.group(1)))
