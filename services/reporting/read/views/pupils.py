"""A year's live participations joined to their activities: what every pupil-based view counts.

Read once per transaction and year, in only the columns the views ask for: a view that counts
pupils by activity (reach, levels, kinds, continuation) reads just the columns of the covering
index ``ix_participation_view_live`` (no table rows), and one that needs a pupil's school or
characteristics reads those too. A later request for columns a load already holds is served from
it, so the views of one request (the annual return) read a year once. Where the service holds years
between data versions (views/year_rows.py), a year comes from there in the index's columns or in
all of them, joined once per version for every request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.read.params import Filters
from services.reporting.read.queries import (
    held_in_transaction,
    per_transaction,
    row_type,
    rows_decoded_once,
)
from services.reporting.read.views.year_rows import (
    ALL_HELD,
    INDEX_HELD,
    HeldYear,
    YearRows,
    live_rows,
)
from services.reporting.read.views.year_rows import SESSION_KEY as YEAR_ROWS_KEY

_PART = ParticipationView.__table__
_ACT = ActivityView.__table__
_ActRow = row_type(_ACT)
T = TypeVar("T")

ALL_COLUMNS: tuple[str, ...] = ALL_HELD
"""Every participation column but its change stamp (the default: what callers reading any
attribute get)."""
INDEX_COLUMNS = ("node", "activity_id", "pseudonym", "home_area", "year_group")
"""Columns of ``ix_participation_view_live``: read without touching the table's rows."""
PROFILE_COLUMNS = (
    *INDEX_COLUMNS,
    *("school_urn", "send", "fsm", "looked_after", "ethnicity", "gender"),
)
"""What the schools and inclusion views read: their school and characteristics too."""
_JOINED_BY = frozenset({"node", "activity_id"})


class PupilRecord(NamedTuple):
    """One live participation (the columns asked for) with the activity it belongs to."""

    p: ParticipationView
    a: ActivityView


async def pupil_records(
    session: AsyncSession,
    year: str,
    filters: Filters = Filters(),
    columns: Iterable[str] = ALL_COLUMNS,
) -> list[PupilRecord]:
    """Live participations of a year (activity and participation not withdrawn), filtered, in
    (node, participation id) order; each record's ``p`` holds `columns` (and the node and activity
    id). Plain rows, not ORM objects, read once per transaction: a view that needs them several
    times reads the same snapshot."""
    return _filtered(await _records(session, year, frozenset(columns) | _JOINED_BY), filters)


def years_held(session: AsyncSession) -> bool:
    """Whether the session's service holds years between data versions (views/year_rows.py):
    then reading a year again costs only what changed since."""
    return session.info.get(YEAR_ROWS_KEY) is not None


def held_pupil_records(
    session: AsyncSession, year: str, filters: Filters, columns: Iterable[str]
) -> list[PupilRecord] | None:
    """`pupil_records` if this transaction has read them already (in these columns or more),
    else None: for a figure SQL counts more cheaply than a first read of the year would."""
    loads: dict[frozenset[str], list[PupilRecord]] | None = held_in_transaction(
        session, ("pupil_records", year)
    )
    wanted = frozenset(columns) | _JOINED_BY
    for have, records in (loads or {}).items():
        if wanted <= have:
            return _filtered(records, filters)
    return None


def _filtered(records: list[PupilRecord], filters: Filters) -> list[PupilRecord]:
    if filters == Filters():
        return list(records)
    return [
        r
        for r in records
        if filters.keeps_activity(r.a) and (filters.area is None or r.p.home_area == filters.area)
    ]


async def _records(session: AsyncSession, year: str, wanted: frozenset[str]) -> list[PupilRecord]:
    loads: dict[frozenset[str], list[PupilRecord]] = await per_transaction(
        session, ("pupil_records", year), _no_loads
    )
    held = [records for have, records in loads.items() if wanted <= have]
    if held:
        return held[0]
    years: YearRows | None = session.info.get(YEAR_ROWS_KEY)
    held_as = next((c for c in (INDEX_HELD, ALL_HELD) if wanted <= frozenset(c)), None)
    if years is not None and held_as is not None:
        join = await _held_join(session, year, await years.year(session, year, held_as))
        joins = await per_transaction(session, ("held_joins", year), _no_joins)
        joins[frozenset(held_as)] = join
        loads[frozenset(held_as)] = join.records
        return join.records
    records = await _load_pupil_records(session, year, tuple(c for c in ALL_COLUMNS if c in wanted))
    loads[wanted] = records
    return records


async def _no_loads() -> dict[frozenset[str], list[PupilRecord]]:
    return {}


async def _no_joins() -> dict[frozenset[str], _HeldJoin]:
    return {}


async def figure_of_records(
    session: AsyncSession,
    year: str,
    filters: Filters,
    columns: Iterable[str],
    compute: Callable[[list[PupilRecord]], T],
) -> T:
    """`compute(pupil_records(session, year, filters, columns))`, kept with the year's held join:
    computed again only with the join, not at each data version while the year's rows and
    activities are as they were (a burst of another year's events). Without held years, computed
    each time. `compute` reads the records alone; its result is shared: read it, never change it."""
    records = await pupil_records(session, year, filters, columns)
    joins = held_in_transaction(session, ("held_joins", year)) or {}
    wanted = frozenset(columns) | _JOINED_BY
    join = next((j for have, j in joins.items() if wanted <= have), None)
    if join is None:
        return compute(records)
    key = (compute, filters)
    if key not in join.figures:
        if len(join.figures) >= FIGURES_KEPT:  # filters come and go: the oldest made goes
            del join.figures[next(iter(join.figures))]
        join.figures[key] = compute(records)
    figure: T = join.figures[key]
    return figure


FIGURES_KEPT = 8
"""Figures kept with a held join (a year's profiles are a dictionary per pupil): the year's
hub-wide ones and a few filtered ones."""


async def activities_of(
    session: AsyncSession, year: str, filters: Filters = Filters()
) -> list[ActivityView]:
    rows = await _year_activities(session, year)
    return [
        a
        for a in rows
        if filters.keeps_activity(a) and (filters.area is None or a.area == filters.area)
    ]


async def _year_activities(session: AsyncSession, year: str) -> list[ActivityView]:
    """The activities recorded under `year`, read once per transaction (the pupils' join too)."""
    return await per_transaction(
        session, ("activities_of", year), lambda: _load_activities(session, year)
    )


async def _load_pupil_records(
    session: AsyncSession, year: str, columns: tuple[str, ...]
) -> list[PupilRecord]:
    """Participations joined to their activities in Python: each activity's row (dates, JSON) is
    decoded once, not once per pupil, which is most of the cost of the join in SQL."""
    return await _joined(session, year, await live_rows(session, year, columns))


@dataclass(frozen=True)
class _HeldJoin:
    """A held year's rows joined to their activities, with the activities they were joined with:
    the year's, and the others its rows name (recorded under another year, or not at all)."""

    records: list[PupilRecord]
    year_activities: list[ActivityView]
    outside_keys: frozenset[tuple[str, str]]
    outside: dict[tuple[str, str], Any]
    figures: dict[Hashable, Any] = field(default_factory=dict)
    """What `figure_of_records` made of the records, by function and filters."""


async def _held_join(session: AsyncSession, year: str, held_year: HeldYear) -> _HeldJoin:
    """The held year's rows joined, once per data version for every request; the join made at an
    earlier version is used again while the rows (year_rows.py) and every activity they were joined
    with are as they were then (an activity corrected changes its pupils' records, not its rows)."""
    if held_year.joined is not None:
        current: _HeldJoin = held_year.joined
        return current
    activities = await _year_activities(session, year)
    kept: _HeldJoin | None = held_year.carried
    if (
        kept is not None
        and kept.year_activities == activities
        and await _activities_by_key(session, kept.outside_keys) == kept.outside
    ):
        held_year.joined = kept
        return kept
    joined = await _join(session, activities, held_year.rows())
    held_year.joined = joined
    return joined


async def _joined(session: AsyncSession, year: str, pupils: list[Any]) -> list[PupilRecord]:
    """Each participation with its activity (one without a stored activity is left out)."""
    return (await _join(session, await _year_activities(session, year), pupils)).records


async def _join(
    session: AsyncSession, year_activities: list[ActivityView], pupils: list[Any]
) -> _HeldJoin:
    """`pupils` joined to the year's activities, and to any other activity they name, by key."""
    found = {(a.node, a.activity_id): a for a in year_activities}
    keys = list(zip(map(_NODE, pupils), map(_ACTIVITY_ID, pupils), strict=True))
    outside_keys = frozenset(set(keys) - found.keys())
    outside = await _activities_by_key(session, outside_keys)
    records = _joined_with(pupils, list(map((found | outside).get, keys)))
    return _HeldJoin(records, year_activities, outside_keys, outside)


_NODE, _ACTIVITY_ID = attrgetter("node"), attrgetter("activity_id")


def _joined_with(pupils: list[Any], activities: list[Any]) -> list[PupilRecord]:
    """Each pupil paired with its activity (None: none stored, left out); without a Python frame
    per pupil, for a year is ~250k of them."""
    pairs: Iterable[tuple[Any, Any]] = zip(pupils, activities, strict=True)
    if None in activities:
        pairs = ((p, a) for p, a in pairs if a is not None)
    return list(map(partial(tuple.__new__, PupilRecord), pairs))


_KEYS_PER_QUERY = 500


async def _activities_by_key(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored activities of `keys` (node, activity id), a few hundred a query: those of other
    years than the one read whole (normally none)."""
    by_node: dict[str, list[str]] = defaultdict(list)
    for node, activity_id in keys:
        by_node[node].append(activity_id)
    found: dict[tuple[str, str], Any] = {}
    for node, ids in by_node.items():
        for start in range(0, len(ids), _KEYS_PER_QUERY):
            chunk = ids[start : start + _KEYS_PER_QUERY]
            query = select(*_ACT.c).where(_ACT.c.node == node, _ACT.c.activity_id.in_(chunk))
            found.update(
                ((a.node, a.activity_id), a)
                for a in map(_ActRow._make, await rows_decoded_once(session, query))
            )
    return found


async def _load_activities(session: AsyncSession, year: str) -> list[ActivityView]:
    query = (
        select(*_ACT.c)
        .where(_ACT.c.academic_year == year)
        .order_by(_ACT.c.node, _ACT.c.activity_id)
    )
    return list(map(_ActRow._make, await rows_decoded_once(session, query)))
