"""The public transparency report: pupil counts with small numbers suppressed, DfE style.

Primary suppression: a count from 1 to ``threshold - 1`` is shown as ``c``. Secondary: when a
table shows its total and only one cell is suppressed, that cell is the total minus the others,
so the next smallest cell is suppressed too; a total below the threshold hides the whole table.
Zeros are shown: they identify nobody.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.read.params import ViewParams
from services.reporting.read.queries import ReportStamp
from services.reporting.read.views.accountability import inclusion_report, schools_report
from services.reporting.read.views.activities import reach

SUPPRESSED = "c"
DEFAULT_THRESHOLD = 10


class PublishedRow(BaseModel):
    group: str
    pupils: str = Field(description="A count, or 'c' where suppressed.")


class PublishedTable(BaseModel):
    name: str
    total: str
    rows: list[PublishedRow]


class TransparencyReport(BaseModel):
    stamp: ReportStamp
    academic_year: str
    threshold: int = Field(description="Counts below this (and above zero) are suppressed.")
    tables: list[PublishedTable]


def suppress(
    cells: dict[str, int], total: int, threshold: int = DEFAULT_THRESHOLD
) -> tuple[dict[str, str], str]:
    """Published cells and total for counts that partition (or cover) the total."""
    if 0 < total < threshold:
        return {k: SUPPRESSED if v else "0" for k, v in cells.items()}, SUPPRESSED
    hidden = {k for k, v in cells.items() if 0 < v < threshold}
    if len(hidden) == 1:
        candidates = sorted((v, k) for k, v in cells.items() if k not in hidden and v > 0)
        if candidates:
            hidden.add(candidates[0][1])
    return {k: SUPPRESSED if k in hidden else str(v) for k, v in cells.items()}, str(total)


def published(name: str, cells: dict[str, int], total: int, threshold: int) -> PublishedTable:
    shown, shown_total = suppress(cells, total, threshold)
    return PublishedTable(
        name=name,
        total=shown_total,
        rows=[PublishedRow(group=k, pupils=v) for k, v in shown.items()],
    )


async def transparency_report(
    session: AsyncSession, p: ViewParams, threshold: int = DEFAULT_THRESHOLD
) -> TransparencyReport:
    """Unique pupils by area, kind and year group, WCET pupils by year group,
    and characteristics."""
    # schools first: it reads the year's pupils in inclusion's columns too, and reach then counts
    # its three dimensions from those rows (one read of the year, not three distinct counts by SQL)
    schools = await schools_report(session, p.period, p.filters)
    tables = []
    for dimension in ("area", "kind", "year_group"):
        r = await reach(session, p.period, dimension, p.filters.node)
        tables.append(
            published(
                f"pupils by {dimension}",
                {str(row.group): row.unique_pupils for row in r.rows},
                r.unique_pupils,
                threshold,
            )
        )
    wcet = schools.wcet
    tables.append(
        published("WCET pupils by year group", wcet.pupils_by_year_group, wcet.pupils, threshold)
    )
    inclusion = await inclusion_report(session, p.period, p.filters)
    for characteristic in ("send", "fsm", "looked_after", "ethnicity", "gender"):
        cells = {
            c.value: c.pupils
            for c in inclusion.characteristics
            if c.characteristic == characteristic
        }
        tables.append(
            published(f"pupils by {characteristic}", cells, inclusion.unique_pupils, threshold)
        )
    return TransparencyReport(
        stamp=schools.stamp, academic_year=p.period, threshold=threshold, tables=tables
    )
