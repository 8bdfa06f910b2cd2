"""The bulk writer: sends a batch's projected writes as one executemany per table.

An ``Update`` of a row inserted earlier in the same batch is folded into that insert (tables
declared UPDATED_BY_KEY), other updates by primary key are batched; any other statement first
sends what is pending, then runs in order. A test compares one batch with one event at a time
(tests/test_projection_batching.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Dialect, Executable, Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeEngine

from services.reporting.projections.writes import Insert, Update, Write, updated_by_key


@cache
def _pk_names(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


def _pk(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in _pk_names(table))


@dataclass
class _Pending:
    """Writes not yet sent, per table, in an order that gives the same rows as sending each
    in turn."""

    inserts: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    inserted: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    updates: dict[Table, list[Update]] = field(default_factory=dict)
    updated: dict[Table, set[tuple[Any, ...]]] = field(default_factory=dict)

    def insert(self, write: Insert) -> bool:
        """Queue an insert; False if an earlier queued update of the same key must be sent first."""
        if not updated_by_key(write.table):
            self.inserts.setdefault(write.table, []).append(write.row)
            return True
        key = _pk(write.table, write.row)
        if key in self.updated.get(write.table, ()):
            return False
        row = dict(write.row)
        self.inserts.setdefault(write.table, []).append(row)
        self.inserted.setdefault(write.table, {})[key] = row
        return True

    def update(self, write: Update) -> None:
        key = _pk(write.table, write.key)
        row = self.inserted.get(write.table, {}).get(key)
        # fold only when no earlier update of the row is queued (it would then run after this one),
        # and only values the insert already has (an executemany needs rows of one shape)
        if (
            row is not None
            and key not in self.updated.get(write.table, ())
            and write.values.keys() <= row.keys()
        ):
            row.update(write.values)
            return
        self.updates.setdefault(write.table, []).append(write)
        self.updated.setdefault(write.table, set()).add(key)

    async def send(self, session: AsyncSession) -> None:
        for table, rows in self.inserts.items():
            await insert_many(session, table, rows)
        for updates in self.updates.values():
            for run in _runs(updates):
                await session.execute(_update_statement(run[0]), [_update_params(u) for u in run])
        self.inserts.clear()
        self.inserted.clear()
        self.updates.clear()
        self.updated.clear()


@dataclass(frozen=True)
class _InsertPlan:
    """An INSERT compiled once for a table, dialect and row shape, with the dialect's own value
    conversions (dates, JSON, decimals) for the columns that need one."""

    sql: str
    keys: tuple[str, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]

    def values(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        take = itemgetter(*self.keys)
        if len(self.keys) == 1:
            return [(take(row),) for row in rows]
        if not self.converters:
            return [take(row) for row in rows]
        out = []
        for row in rows:
            values = list(take(row))
            for i, convert in self.converters:
                if values[i] is not None:
                    values[i] = convert(values[i])
            out.append(tuple(values))
        return out


_PLANS: dict[tuple[str, type, str, tuple[str, ...]], _InsertPlan] = {}


def _insert_plan(table: Table, dialect: Dialect, keys: tuple[str, ...]) -> _InsertPlan:
    plan_key = (table.name, type(dialect), dialect.paramstyle, keys)
    plan = _PLANS.get(plan_key)
    if plan is None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ())
        if sorted(order) != sorted(keys):
            raise RuntimeError(f"cannot plan an insert into {table.name} for {keys}")
        converters = tuple(
            (i, p)
            for i, k in enumerate(order)
            if (p := _bind_processor(table.c[k].type, dialect)) is not None
        )
        plan = _PLANS[plan_key] = _InsertPlan(compiled.string, order, converters)
    return plan


def _bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The dialect's conversion of a column's values, or None where the driver binds them as they
    are (sqlite3 stores bool as 0/1 itself: SQLAlchemy's check of each flag costs more than the
    insert)."""
    if dialect.name == "sqlite" and isinstance(column_type, Boolean):
        return None
    return column_type.dialect_impl(dialect).bind_processor(
        dialect
    )  # once per plan: no memo needed


BULK_SETTINGS = {
    # A replay cut short is started again on an empty database (`hub rebuild` swaps its database in
    # only when complete), so this one need not survive a crash midway: no flush per commit, and the
    # rollback journal in memory rather than a write-ahead log that writes every page twice
    # (savepoints still roll back). A 256 MiB page cache.
    "sqlite": ("PRAGMA synchronous=OFF", "PRAGMA cache_size=-262144", "PRAGMA journal_mode=MEMORY"),
    "postgresql": ("SET synchronous_commit = off",),
}


def bulk_settings(dialect: str) -> Callable[[Any, Any], None]:
    """A "connect" listener giving each new connection of `dialect` the BULK_SETTINGS."""
    settings = BULK_SETTINGS.get(dialect, ())

    def _bulk_settings(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for statement in settings:
            cursor.execute(statement)
        cursor.close()

    return _bulk_settings


_MANY_ROWS_PER_STATEMENT: ContextVar[bool] = ContextVar("many_rows_per_statement", default=False)
SQLITE_VARIABLE_LIMIT = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
"""Most placeholders one SQLite statement may have (the default SQLITE_MAX_VARIABLE_NUMBER)."""
ROWS_PER_STATEMENT = (2048, 256, 32, 8)
"""The statement sizes a bulk insert is cut into (largest first, those over the placeholder limit
skipped, fewer than 8 rows left by executemany): a few fixed sizes, so that each table has at most
four large statements in sqlite3's prepared-statement cache rather than one per batch's
remainder."""


@contextmanager
def many_rows_per_statement() -> Iterator[None]:
    """Inside the block, SQLite inserts go as statements of many rows, not one executemany.

    An executemany gives up the interpreter lock for every row's step and must win it back before
    the next, which takes milliseconds whenever Python is busy on another task (the rebuild fetches
    the next batch while one is written): a statement of 2,048 rows takes it back once. Alone, an
    executemany is the quicker, so only the bulk load asks for this (docs/benchmarks.md)."""
    token = _MANY_ROWS_PER_STATEMENT.set(True)
    try:
        yield
    finally:
        _MANY_ROWS_PER_STATEMENT.reset(token)


async def insert_many(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Plain rows inserted below SQLAlchemy's per-row parameter processing (costly on
    participations: docs/benchmarks.md): the same SQL and the same conversions, done once per
    table."""
    if not rows:
        return
    connection = await session.connection()  # the session's own, as `session.execute` uses
    dialect = connection.dialect
    plan = _insert_plan(table, dialect, tuple(rows[0]))
    if set(map(len, rows)) != {len(plan.keys)}:  # rows of another shape: SQLAlchemy sorts them out
        await session.execute(table.insert(), rows)
        return
    values = plan.values(rows)
    if dialect.name == "sqlite" and _MANY_ROWS_PER_STATEMENT.get():
        values = await _insert_in_large_statements(connection, plan, values)
    if values:
        await connection.exec_driver_sql(plan.sql, values)


async def _insert_in_large_statements(
    connection: AsyncConnection, plan: _InsertPlan, values: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Insert what fills statements of ROWS_PER_STATEMENT's sizes; return the rows left over."""
    start = 0
    for size in ROWS_PER_STATEMENT:
        if size * len(plan.keys) > SQLITE_VARIABLE_LIMIT:
            continue
        while len(values) - start >= size:
            rows = values[start : start + size]
            await connection.exec_driver_sql(
                _multirow_sql(plan.sql, size), tuple(chain.from_iterable(rows))
            )
            start += size
    return values[start:]


@cache
def _multirow_sql(sql: str, rows: int) -> str:
    """`sql`, an INSERT of one row, with `rows` rows of placeholders."""
    head, _, one = sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([one] * rows)}"


def _runs(updates: list[Update]) -> list[list[Update]]:
    """Consecutive updates of the same columns, each sent as one executemany, in order."""
    runs: list[list[Update]] = []
    for u in updates:
        if runs and runs[-1][0].values.keys() == u.values.keys():
            runs[-1].append(u)
        else:
            runs.append([u])
    return runs


def _update_statement(u: Update) -> Executable:
    t = u.table
    return (
        update(t)
        .where(*(t.c[k] == bindparam(f"k_{k}") for k in u.key))
        .values({k: bindparam(f"v_{k}") for k in u.values})
    )


def _update_params(u: Update) -> dict[str, Any]:
    return {**{f"k_{k}": v for k, v in u.key.items()}, **{f"v_{k}": v for k, v in u.values.items()}}


async def execute(session: AsyncSession, writes: Sequence[Write]) -> None:
    """Run writes with the effect of running them in order, in as few round trips as that allows."""
    pending = _Pending()
    for write in writes:
        if isinstance(write, Insert):
            if not pending.insert(write):
                await pending.send(session)
                pending.insert(write)
        elif isinstance(write, Update):
            pending.update(write)
        else:
            await pending.send(session)
            await session.execute(write)
    await pending.send(session)
