"""The school population beside the participants: each area's pupils in state-funded schools and
their characteristics, as its node recorded them from the DfE's local authority table.

An area counts with its latest population at or before the report's year (the DfE publishes a
year's census in the summer after it), and the note names the year and source used. Hub-wide,
the areas recorded are added up; a share is known only where every area counted gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.partners import SchoolPopulationView
from services.reporting.read.views.rows import AreaSchools, Characteristic, share

COUNTED = {
    ("send", "support"): "sen_support",
    ("send", "ehcp"): "ehcp",
    ("fsm", "yes"): "fsm_eligible",
    ("looked_after", "yes"): "looked_after",
    **{
        ("ethnicity", g): f"ethnicity_{g}"
        for g in ("white", "mixed", "asian", "black", "other", "unclassified")
    },
    **{("gender", g): f"gender_{g}" for g in ("female", "male")},
}
"""(characteristic, value) as inclusion reports it → the population count that gives it."""
REST = {
    ("send", "none"): ("sen_support", "ehcp"),
    ("fsm", "no"): ("fsm_eligible",),
    ("looked_after", "no"): ("looked_after",),
}
"""Values that are the pupils left once the named counts are taken away."""
ORDER = ("send", "fsm", "looked_after", "ethnicity", "gender")


@dataclass(frozen=True)
class Population:
    """The school population of one or more areas, each at its latest year up to the report's."""

    rows: list[SchoolPopulationView]

    @property
    def pupils(self) -> int:
        return sum(r.pupils for r in self.rows)

    def count(self, characteristic: str, value: str) -> int | None:
        """Pupils with that value across the areas; None unless every area's source gives it."""
        total = 0
        for r in self.rows:
            if (characteristic, value) in COUNTED and COUNTED[(characteristic, value)] in r.counts:
                total += r.counts[COUNTED[(characteristic, value)]]
            elif (characteristic, value) in REST and all(
                n in r.counts for n in REST[(characteristic, value)]
            ):
                total += r.pupils - sum(r.counts[n] for n in REST[(characteristic, value)])
            else:
                return None
        return total

    def note(self) -> str:
        years = ", ".join(f"{r.area} {r.academic_year}" for r in self.rows)
        sources = "; ".join(sorted({r.source for r in self.rows}))
        return f"{self.pupils:,} pupils in state-funded schools ({years}; {sources})"


async def school_population(
    session: AsyncSession, year: str, area: str | None = None, node: str | None = None
) -> Population:
    """Each area's latest recorded population at or before `year`: one area's, else the areas `node`
    recorded (its own: the baseline for one node's participants), else every area's."""
    query = select(SchoolPopulationView).where(SchoolPopulationView.academic_year <= year)
    if area is not None:
        query = query.where(SchoolPopulationView.area == area)
    elif node is not None:
        query = query.where(SchoolPopulationView.node == node)
    latest: dict[str, SchoolPopulationView] = {}
    for row in await session.scalars(
        query.order_by(SchoolPopulationView.area, SchoolPopulationView.academic_year)
    ):
        latest[row.area] = row
    return Population(list(latest.values()))


async def with_population(
    session: AsyncSession,
    year: str,
    area: str | None,
    rows: list[Characteristic],
    participants: int,
    node: str | None = None,
) -> list[Characteristic]:
    """Inclusion rows beside the population's shares (the area's, else the node's own areas', else
    the hub's); values the population has but no participant does get a row."""
    population = await school_population(session, year, area, node)
    if not population.rows:
        return await _unknown(
            session, year, area or (f"the areas {node} recorded" if node else None), rows
        )
    present = {(r.characteristic, r.value) for r in rows}
    rows = rows + [
        Characteristic(characteristic=c, value=v, pupils=0, share=share(0, participants))
        for c, v in [*COUNTED, *REST]
        if (c, v) not in present and population.count(c, v) is not None
    ]
    return [
        _beside(r, population)
        for r in sorted(rows, key=lambda r: (ORDER.index(r.characteristic), r.value))
    ]


async def _unknown(
    session: AsyncSession, year: str, area: str | None, rows: list[Characteristic]
) -> list[Characteristic]:
    """Say which population is missing when some are recorded (the rows' default says none is)."""
    if not await session.scalar(select(func.count()).select_from(SchoolPopulationView)):
        return rows
    missing = (
        f"unknown: no school population recorded{f' for {area}' if area else ''} "
        f"for {year} or before"
    )
    return [r.model_copy(update={"population": missing}) for r in rows]


def _beside(row: Characteristic, population: Population) -> Characteristic:
    count = population.count(row.characteristic, row.value)
    if count is None:
        return row.model_copy(
            update={
                "population": f"unknown: not in the school population data ({population.note()})"
            }
        )
    return row.model_copy(
        update={
            "population_share": share(count, population.pupils),
            "population": population.note(),
        }
    )


async def with_school_pupils(
    session: AsyncSession, year: str, areas: list[AreaSchools]
) -> list[AreaSchools]:
    """Each area's pupils in state-funded schools (and the census year) beside its schools,
    where recorded."""
    population = {r.area: r for r in (await school_population(session, year)).rows}
    return [
        a.model_copy(
            update={
                "school_pupils": population[a.area].pupils,
                "school_pupils_year": population[a.area].academic_year,
            }
        )
        if a.area in population
        else a
        for a in areas
    ]
