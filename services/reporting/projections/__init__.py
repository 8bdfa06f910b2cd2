"""Projections: how each event type changes the reporting tables.

A projector is a pure function from an event to the writes it causes. Inserts of one batch are
grouped per table and executed together (fast ingest); any other statement runs in order.
Add a context's projectors in its own module and import it below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.envelope import ReceivedEvent


@dataclass(frozen=True)
class Insert:
    table: Table
    row: dict[str, Any]


Write = Insert | Executable
Projector = Callable[[ReceivedEvent], Iterable[Write]]

PROJECTORS: dict[str, Projector] = {}


def projects(event_type: str) -> Callable[[Projector], Projector]:
    """Register the projector of an event type (one per type; it sees the latest payload version)."""

    def register(fn: Projector) -> Projector:
        if event_type in PROJECTORS:
            raise RuntimeError(f"two projectors for {event_type}")
        PROJECTORS[event_type] = fn
        return fn

    return register


def writes_for(event: ReceivedEvent) -> list[Write]:
    projector = PROJECTORS.get(event.envelope.type)
    return list(projector(event)) if projector else []


async def execute(session: AsyncSession, writes: Sequence[Write]) -> None:
    """Run writes in order, batching consecutive inserts into one executemany per table."""
    pending: dict[Table, list[dict[str, Any]]] = {}

    async def flush() -> None:
        for table, rows in pending.items():
            await session.execute(table.insert(), rows)
        pending.clear()

    for write in writes:
        if isinstance(write, Insert):
            pending.setdefault(write.table, []).append(write.row)
        else:
            await flush()
            await session.execute(write)
    await flush()


from services.reporting.projections import activities, funding, partners  # noqa: E402,F401
