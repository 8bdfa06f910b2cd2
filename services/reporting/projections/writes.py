"""The writes a projector returns: inserts, updates by primary key, or any other statement.

Plain values, so that a batch can be projected in a worker process and written in the consumer
(services/reporting/ingest/preparing.py, ingest/bulk.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table

from services.reporting.models import metadata
from services.reporting.models.base import UPDATED_BY_KEY
from shared.envelope import Received


@dataclass(frozen=True)
class Insert:
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
