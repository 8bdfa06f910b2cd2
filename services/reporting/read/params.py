"""What every view is asked for: a period and filters (services/reporting/read/catalogue.py lists
the views). Below the views and the catalogue, so that any view can take them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.reporting.models.activities import ActivityView
from shared.periods import PeriodKind, academic_year, parse_period


@dataclass(frozen=True)
class Filters:
    """What every view can be narrowed to; None means hub-wide."""

    node: str | None = None
    area: str | None = None
    function: str | None = None
    aim: str | None = None

    def keeps_activity(self, a: ActivityView) -> bool:
        return (
            (self.node is None or a.node == self.node)
            and (self.function is None or self.function in (a.functions or []))
            and (self.aim is None or self.aim in (a.aims or []))
        )


@dataclass(frozen=True)
class ViewParams:
    """A view's period (academic year unless kind says financial) and filters;
    `nodes` come from settings."""

    hub: str
    nodes: list[str]
    period: str
    kind: PeriodKind = "academic"
    filters: Filters = field(default_factory=Filters)
    today: date = field(default_factory=date.today)
    threshold: int = 10
    """Transparency report: counts below this are suppressed."""

    def __post_init__(self) -> None:
        parse_period(self.period, self.kind)  # refuse '2025' or '2025-27' early, with the reason

    @classmethod
    def default_period(cls, today: date | None = None) -> str:
        """The last complete academic year: the one annual returns report on."""
        return parse_period(academic_year(today or date.today()), "academic").previous().name
