"""The writes a projector returns: inserts, updates by primary key, or any other statement.

Plain values, so that a batch can be projected in a worker process and written in the consumer
(services/reporting/ingest/preparing.py, ingest/bulk.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Executable, Table
from sqlalchemy import Update as SqlUpdate

from services.reporting.models import metadata
from services.reporting.models.base import UPDATED_BY_KEY
from shared.envelope import Received


class Insert(NamedTuple):
    """A row for `table`. A named tuple, not a frozen dataclass: projectors make one or more an
    event, and a worker's are unpickled in the consumer (docs/benchmarks.md)."""

    table: Table
    row: dict[str, Any]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by table name: a Table would bring its whole schema
        (services/reporting/ingest/preparing.py)."""
        return _insert_into, (self.table.name, self.row)


def _insert_into(table: str, row: dict[str, Any]) -> Insert:
    return Insert(metadata.tables[table], row)


@dataclass(frozen=True)
class Update:
    """Set `values` on the row of `table` whose whole primary key is `key` (no row: no change)."""

    table: Table
    key: dict[str, Any]
    values: dict[str, Any]

    def __post_init__(self) -> None:
        if not updated_by_key(self.table):
            raise RuntimeError(
                f"{self.table.name} is not declared UPDATED_BY_KEY "
                "(services/reporting/models/base.py)"
            )

    def __reduce__(self) -> tuple[Any, ...]:
        return _update_of, (self.table.name, self.key, self.values)


@cache
def updated_by_key(table: Table) -> bool:
    """Whether the table is declared UPDATED_BY_KEY beside its definition
    (services/reporting/models/); asked for every write, answered once per table."""
    return all(table.info.get(k) == v for k, v in UPDATED_BY_KEY.items())


def _update_of(table: str, key: dict[str, Any], values: dict[str, Any]) -> Update:
    return Update(metadata.tables[table], key, values)


Write = Insert | Update | Executable
Projector = Callable[[Received], Iterable[Write]]


def portable(writes: list[Write]) -> bool:
    """Whether the writes can be pickled by table name (inserts and updates by key); other
    statements are worked out again where they are written."""
    return all(type(w) is Insert or type(w) is Update for w in writes)


CHANGE_STAMP = "change_stamp"
"""A column some tables carry: the ingest position after the batch that last wrote the row
(services/reporting/models/activities.py, ParticipationView)."""


@cache
def _stamped(table: Table) -> bool:
    return CHANGE_STAMP in table.c


def stamp_writes(writes: list[Write], stamp: int) -> list[Write]:
    """`writes` with every row they write to a table that carries a change stamp marked `stamp`:
    here, where every batch is written, so no projector can forget it. Inserts and updates by key
    are marked in place (they are the batch's own); other statements are replaced by a copy that
    also sets the stamp."""
    out: list[Write] = []
    for w in writes:
        if type(w) is Insert:
            if _stamped(w.table):
                w.row[CHANGE_STAMP] = stamp
        elif type(w) is Update:
            if _stamped(w.table):
                w.values[CHANGE_STAMP] = stamp
        elif isinstance(w, SqlUpdate) and isinstance(w.table, Table) and _stamped(w.table):
            w = w.values({CHANGE_STAMP: stamp})
        out.append(w)
    return out
