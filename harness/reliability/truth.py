"""Ground truth from the nodes' own SQLite files, the hub's figures from reporting's, compared.

The nodes' outbox rows are the events that must arrive exactly once; their state tables give
the figures the hub must show. Both sides are read with plain ``sqlite3`` (read-only), sharing no
code with the services, so a bug in a projection cannot hide itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.identity import SERVICES


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql).fetchall()


@dataclass
class Figures:
    """What one side says: event ids per producer and the figures per node."""

    events: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)

    @property
    def event_count(self) -> int:
        return sum(len(ids) for ids in self.events.values())


def node_truth(data_dir: Path, nodes: Iterable[str]) -> Figures:
    """Read every node service's database directly."""
    truth = Figures()
    for node in nodes:
        folder = data_dir / node
        for service in SERVICES:
            truth.events[(node, service)] = {
                r[0] for r in _query(folder / f"{service}.db", "SELECT event_id FROM outbox")
            }
        truth.numbers[f"{node} organisations"] = _query(
            folder / "partners.db", "SELECT count(*) FROM organisation"
        )[0][0]
        count, heads = _query(
            folder / "activities.db",
            "SELECT count(*), coalesce(sum(headcount), 0) FROM activity WHERE NOT withdrawn",
        )[0]
        truth.numbers[f"{node} activities"], truth.numbers[f"{node} headcount"] = count, heads
        truth.numbers[f"{node} participations"] = _query(
            folder / "activities.db", "SELECT count(*) FROM participation WHERE NOT withdrawn"
        )[0][0]
        for kind, pence in _query(
            folder / "funding.db",
            "SELECT kind, sum(amount_pence * sign) FROM ledger_entry GROUP BY kind",
        ):
            truth.numbers[f"{node} {kind} pence"] = pence
    return truth


def hub_figures(reporting_db: Path, nodes: Iterable[str]) -> Figures:
    """Read the reporting database the hub's reports are built from."""
    hub = Figures()
    nodes = list(nodes)
    for node in nodes:
        for service in SERVICES:
            hub.events[(node, service)] = set()
    for event_id, node, service in _query(
        reporting_db, "SELECT event_id, node, service FROM applied_event"
    ):
        hub.events.setdefault((node, service), set()).add(event_id)
    for node in nodes:
        for name, sql in (
            ("organisations", "SELECT count(*) FROM organisation_view WHERE node = '{n}'"),
            ("activities", "SELECT count(*) FROM activity_view WHERE node = '{n}'"),
            (
                "headcount",
                "SELECT coalesce(sum(headcount), 0) FROM activity_view WHERE node = '{n}'",
            ),
            (
                "participations",
                "SELECT count(*) FROM participation_view WHERE node = '{n}' AND NOT withdrawn",
            ),
        ):
            hub.numbers[f"{node} {name}"] = _query(reporting_db, sql.format(n=node))[0][0]
        for kind, pence in _query(
            reporting_db,
            "SELECT kind, sum(amount_pence * sign) FROM funding_flow_view "
            f"WHERE node = '{node}' GROUP BY kind",
        ):
            hub.numbers[f"{node} {kind} pence"] = pence
    return hub


@dataclass(frozen=True)
class Reconciliation:
    events: int
    lost: int
    duplicated: int
    mismatched: dict[str, tuple[int, int]]
    """Figure -> (node databases, hub), for every figure that differs."""
    allocated_pence: int
    received_pence: int

    @property
    def balanced(self) -> bool:
        return not self.mismatched and self.allocated_pence == self.received_pence

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.balanced


def reconcile(truth: Figures, hub: Figures) -> Reconciliation:
    """Lost: events at a node the hub never applied. Duplicated: applied events no node made,
    plus any figure the hub shows higher than the nodes (a fact counted twice)."""
    lost = sum(len(ids - hub.events.get(key, set())) for key, ids in truth.events.items())
    extra = sum(len(ids - truth.events.get(key, set())) for key, ids in hub.events.items())
    keys = sorted(set(truth.numbers) | set(hub.numbers))
    mismatched = {
        k: (truth.numbers.get(k, 0), hub.numbers.get(k, 0))
        for k in keys
        if truth.numbers.get(k, 0) != hub.numbers.get(k, 0)
    }
    over = sum(1 for t, h in mismatched.values() if h > t and not lost)
    allocated = sum(v for k, v in hub.numbers.items() if k.endswith(" allocation pence"))
    received = sum(v for k, v in hub.numbers.items() if k.endswith(" received pence"))
    return Reconciliation(truth.event_count, lost, extra + over, mismatched, allocated, received)


def converged(truth: Figures, hub: Figures) -> bool:
    return all(ids <= hub.events.get(key, set()) for key, ids in truth.events.items())
