"""A year's live participations held between data versions, brought up to date by what changed.

Reading a year's participations is most of a pupil view's first computation at a new data version,
and a batch of events changes few of them. Every participation row carries the ingest position
after the batch that last wrote it (``change_stamp``, set where batches are written:
projections/writes.py), and the index covering a year's rows carries the stamp too. So a year read
at one position is brought to a later one by reading the rows stamped after it: new rows are added,
withdrawn ones dropped, from the index and a few table rows, not the whole year.

The held rows are trusted only while the database's history extends the one they were read from:
the position they were read at must still hold the chain hash it had then (a restored or rebuilt
database with another history is read afresh). Plain rows, shared by every request: read them,
never change them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, namedtuple
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import Boolean, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import AppliedEventRow
from services.reporting.models.activities import ParticipationView
from services.reporting.read.queries import plain_rows
from services.reporting.read.versioned import Version, data_version
from shared.memory import kept_out_of_collections

SESSION_KEY = "year_rows"
"""Where a read session finds the held years (its sessionmaker's ``info``); absent: every request
reads the year itself."""

_PART = ParticipationView.__table__

ALL_HELD: tuple[str, ...] = tuple(c.name for c in _PART.c if c.name != "change_stamp")
"""Every column but the stamp: for views that need a pupil's school, characteristics or event."""
INDEX_HELD = ("node", "participation_id", "activity_id", "pseudonym", "home_area", "year_group")
"""What the index covering a year's rows holds (``ix_participation_view_live``): read, and brought
up to date, without touching the table's rows, for views that count by activity and pupil."""


@cache
def row_class(columns: tuple[str, ...]) -> Any:
    """A light row class with these columns (``row.column``), made once. A flag is read as a bool
    whatever the row holds: SQLite's driver hands back 0 or 1, and converting when read costs
    only the few readers of flags, not every row of a year (`live_rows`)."""
    plain: Any = namedtuple("participation_row", columns)  # type: ignore[misc]  # noqa: PYI024
    flags = {c: property(_flag_at(i)) for i, c in enumerate(columns) if c in _FLAGS}
    return type("participation_row", (plain,), {"__slots__": (), **flags}) if flags else plain


_FLAGS = frozenset(c.name for c in _PART.c if isinstance(c.type, Boolean))


def _flag_at(i: int) -> Callable[[tuple[Any, ...]], bool]:
    def flag(row: tuple[Any, ...]) -> bool:
        return bool(tuple.__getitem__(row, i))

    return flag


@dataclass
class HeldYear:
    """One year's live rows as of `version`, by node and participation id (each node's in id
    order, as the views expect them)."""

    version: Version
    by_node: dict[str, dict[str, Any]]
    _rows: list[Any] | None = field(default=None, repr=False)
    joined: Any = field(default=None, repr=False)
    """What a reader made of the rows at this version (pupils.py: each joined to its activity),
    for the next reader at the same version."""
    carried: Any = field(default=None, repr=False)
    """What was made of the same rows at an earlier version (the year unchanged since): the
    reader's to check against whatever else it was made from before it is used again."""

    def rows(self) -> list[Any]:
        if self._rows is None:
            self._rows = list(
                chain.from_iterable(self.by_node[n].values() for n in sorted(self.by_node))
            )
        return self._rows


@dataclass
class YearRows:
    """The most recently asked `years` (year, columns) pairs, each brought up to date when asked at
    a new version: a period's views ask for three (its year in both sets of columns, the year
    before in the index's)."""

    years: int = 4
    _held: OrderedDict[tuple[str, tuple[str, ...]], HeldYear] = field(default_factory=OrderedDict)
    _locks: dict[tuple[str, tuple[str, ...]], asyncio.Lock] = field(default_factory=dict)
    full_reads: int = 0
    change_reads: int = 0

    async def rows(
        self, session: AsyncSession, year: str, columns: tuple[str, ...] = ALL_HELD
    ) -> list[Any]:
        """The year's live rows at the session's data version in `columns` (ALL_HELD or
        INDEX_HELD), in (node, participation id) order."""
        return (await self.year(session, year, columns)).rows()

    async def year(self, session: AsyncSession, year: str, columns: tuple[str, ...]) -> HeldYear:
        """The held year at the session's data version (`rows()`, and `joined` to keep what is
        made of them at that version)."""
        version = await data_version(session)
        key = (year, columns)
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._held.get(key)
            if held is None or not await _extends(session, held.version, version):
                with kept_out_of_collections():  # read once, held for long
                    held = HeldYear(version, await _read_year(session, year, columns))
                self.full_reads += 1
            elif held.version != version:
                by_node, changed = await _read_changes(session, year, columns, held)
                held = (
                    HeldYear(version, by_node)
                    if changed
                    else HeldYear(
                        version, by_node, held.rows(), carried=held.joined or held.carried
                    )
                )
                self.change_reads += 1
            self._held[key] = held
            self._held.move_to_end(key)
            while len(self._held) > self.years:
                self._held.popitem(last=False)
            held.rows()  # listed now: the next version's changes go into the same dictionaries
            return held


async def _extends(session: AsyncSession, held: Version, now: Version) -> bool:
    """Whether the database at `now` is the history `held` was read from, carried further."""
    if now == held:
        return True
    if now[0] <= held[0] or held[0] == 0:  # at 0, rows of an older release (stamped 0) could come
        return False
    chain_then = await session.scalar(
        select(AppliedEventRow.chain_hash).where(AppliedEventRow.position == held[0])
    )
    return chain_then == held[1]


async def live_rows(session: AsyncSession, year: str, columns: tuple[str, ...]) -> list[Any]:
    """The year's live participations in `columns`, in (node, participation id) order, as light
    rows (``row.column``): read whole, by held years and by readers without them alike."""
    query = (
        select(*(_PART.c[c] for c in columns))
        .where(_PART.c.academic_year == year, _PART.c.withdrawn.is_(False))
        .order_by(_PART.c.node, _PART.c.participation_id)
    )
    row, new = row_class(columns), tuple.__new__  # no per-row Python frame: a year is ~250k rows
    return [new(row, values) for values in await plain_rows(session, query, flags_as_stored=True)]


async def _read_year(
    session: AsyncSession, year: str, columns: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    by_node: dict[str, dict[str, Any]] = {}
    for node, rows in groupby(await live_rows(session, year, columns), key=_NODE):
        held = list(rows)  # a node's rows come together: filed without a Python frame a row
        by_node.setdefault(node, {}).update(zip(map(_PARTICIPATION_ID, held), held, strict=True))
    return by_node


_NODE, _PARTICIPATION_ID = attrgetter("node"), attrgetter("participation_id")


async def _read_changes(
    session: AsyncSession, year: str, columns: tuple[str, ...], held: HeldYear
) -> tuple[dict[str, dict[str, Any]], bool]:
    """`held`'s rows with those written since its version applied: a withdrawn row dropped, a new
    one added in its place in id order; and whether any was written. The held dictionaries are
    changed in place: a list of rows already handed out (`HeldYear.rows`) is not."""
    query = select(*(_PART.c[c] for c in columns), _PART.c.withdrawn.label("now_withdrawn")).where(
        _PART.c.academic_year == year, _PART.c.change_stamp > held.version[0]
    )
    row = row_class(columns)
    at_node, at_id = columns.index("node"), columns.index("participation_id")
    by_node = held.by_node
    unordered: set[str] = set()
    changes = (await session.execute(query)).all()
    for *values, withdrawn in changes:
        node, participation_id = values[at_node], values[at_id]
        rows = by_node.setdefault(node, {})
        if withdrawn:
            rows.pop(participation_id, None)
            continue
        if participation_id not in rows and rows and participation_id < next(reversed(rows)):
            unordered.add(node)
        rows[participation_id] = row._make(values)
    for node in unordered:
        by_node[node] = dict(sorted(by_node[node].items()))
    return by_node, bool(changes)
