"""What each view's chart shows, as plain data: the catalogue declares it with the view
(services/reporting/read/catalogue.py) and the dashboard draws it
(services/reporting/dashboard/charts.py), so a new view's chart is declared once, beside the view,
and drawn like every other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.reporting.read.present import level_name, level_order, name, words


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    """One value per label; None is drawn as nothing and labelled 'unknown'."""


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    value: int


@dataclass(frozen=True)
class Bars:
    """Horizontal bars: one group per label, one bar per series."""

    title: str
    desc: str
    labels: list[str]
    series: list[Series]
    chart_id: str
    fmt: str = "{:,.0f}"


@dataclass(frozen=True)
class Flows:
    """A Sankey diagram: flows between columns of nodes named '<column>:<label>'."""

    title: str
    desc: str
    links: list[Link]
    columns: dict[str, int]
    headings: list[str]
    chart_id: str
    fmt: Callable[[int], str] = str
    width: int = 1100
    height: int = 420


Chart = Bars | Flows
ChartOf = Callable[[Any], Chart]
"""A view's result → its chart."""


def _place(area: str | None) -> str:
    return name(area) if area else "Not known"


def describe(rows: list[Any], key: str, value: str, unit: str) -> str:
    """The chart's text description: every figure it draws, for screen readers."""
    parts = [f"{_place(getattr(r, key))}: {getattr(r, value):,} {unit}" for r in rows]
    return "; ".join(parts) if parts else "No figures for these filters."


def reach_chart(result: Any) -> Bars:
    rows = result.breakdowns["area"].rows
    return Bars(
        "Unique pupils and participations by home area",
        describe(rows, "group", "unique_pupils", "unique pupils"),
        [_place(r.group) for r in rows],
        [
            Series("unique pupils", [r.unique_pupils for r in rows]),
            Series("participations", [r.participations for r in rows]),
        ],
        "reach",
    )


def schools_chart(rows: list[Any]) -> Bars:
    desc = (
        "; ".join(
            f"{name(a.area)}: {a.state_funded_engaged} of {a.state_funded_schools} "
            "state-funded schools engaged"
            for a in rows
        )
        or "No schools for these filters."
    )
    return Bars(
        "State-funded schools engaged against the area's state-funded schools",
        desc,
        [name(a.area) for a in rows],
        [
            Series("engaged", [a.state_funded_engaged for a in rows]),
            Series("state-funded schools in the area", [a.state_funded_schools for a in rows]),
        ],
        "schools",
    )


def inclusion_chart(rows: list[Any]) -> Bars:
    source = rows[0].population if rows else ""
    desc = (
        "Share of unique participants with each characteristic beside the school population's "
        f"share ({source}). "
        + "; ".join(
            f"{words(c.characteristic)} {words(c.value)}: {c.share}% against "
            f"{f'{c.population_share}%' if c.population_share is not None else 'unknown'}"
            for c in rows
        )
    )
    return Bars(
        "Participants by characteristic (percent) against the school population",
        desc,
        [f"{words(c.characteristic)}: {words(c.value)}" for c in rows],
        [
            Series(
                "participants %", [float(c.share) if c.share is not None else None for c in rows]
            ),
            Series(
                "school population %",
                [
                    float(c.population_share) if c.population_share is not None else None
                    for c in rows
                ],
            ),
        ],
        "inclusion",
        fmt="{:.1f}",
    )


def progression_chart(result: Any) -> Flows:
    """Levels stacked from none and the first level up, each node with its count of pupils."""
    order = sorted(
        result.transitions, key=lambda t: (level_order(t.from_level), level_order(t.to_level))
    )
    links = [
        Link(f"0:{level_name(t.from_level)}", f"1:{level_name(t.to_level)}", t.pupils)
        for t in order
    ]
    ranked = sorted(
        {
            (int(side), level)
            for t in order
            for side, level in (("0", t.from_level), ("1", t.to_level))
        },
        key=lambda sl: (sl[0], level_order(sl[1])),
    )
    columns = {f"{side}:{level_name(level)}": side for side, level in ranked}
    desc = (
        "; ".join(
            f"{t.pupils} pupils from {level_name(t.from_level).lower()} in {result.previous_year} "
            f"to {level_name(t.to_level).lower()}"
            for t in order
        )
        or "No pupils for these filters."
    )
    return Flows(
        f"Pupils' highest level, {result.previous_year} to {result.academic_year}",
        desc,
        links,
        columns,
        [result.previous_year, result.academic_year],
        "progression",
        fmt=lambda n: f"{n:,} pupils",
        width=640,
        height=300,
    )


def budget_chart(lines: list[Any]) -> Bars:
    labels = [
        f"{name(b.node)} · {words(b.function) if b.function else 'all'} · "
        f"{name(b.area) if b.area else 'all areas'}"
        for b in lines
    ]
    desc = (
        "; ".join(
            f"{lab}: budget £{b.budget_pence / 100:,.2f}, actual £{b.actual_pence / 100:,.2f}"
            for lab, b in zip(labels, lines, strict=True)
        )
        or "No budget lines for this period."
    )
    return Bars(
        "Budget against actual spend (£)",
        desc,
        labels,
        [
            Series("budget", [b.budget_pence / 100 for b in lines]),
            Series("actual", [b.actual_pence / 100 for b in lines]),
        ],
        "budget",
        fmt="£{:,.0f}",
    )
