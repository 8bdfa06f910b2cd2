"""Projections: how each event type changes the reporting tables.

A projector is a pure function from an event to the writes it causes (projections/writes.py);
the ingest sends them (services/reporting/ingest/bulk.py). Each context's module declares its own
``PROJECTORS`` table; a new context's module is added to ``CONTEXTS`` below. Which tables
projectors update by key, and which indexes a rebuild may defer, is declared with each table
(services/reporting/models/).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from services.reporting.projections import activities, funding, partners
from services.reporting.projections.writes import Insert, Projector, Update, Write, portable
from shared.envelope import Received

CONTEXTS: tuple[ModuleType, ...] = (activities, funding, partners)


def _merged(tables: list[Mapping[str, Projector]]) -> dict[str, Projector]:
    """One projector per event type across the contexts
    (two would each see only part of the truth)."""
    merged: dict[str, Projector] = {}
    for table in tables:
        if twice := merged.keys() & table.keys():
            raise RuntimeError(f"two projectors for {', '.join(sorted(twice))}")
        merged.update(table)
    return merged


PROJECTORS: dict[str, Projector] = _merged([c.PROJECTORS for c in CONTEXTS])


def writes_for(event: Received) -> list[Write]:
    projector = PROJECTORS.get(event.envelope.type)
    return list(projector(event)) if projector else []


__all__ = [
    "CONTEXTS",
    "PROJECTORS",
    "Insert",
    "Projector",
    "Update",
    "Write",
    "portable",
    "writes_for",
]
