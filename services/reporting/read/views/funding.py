"""Hub-wide funding views: source balances, two-sided transfer reconciliation, budget against
actual, the asset register and the trail of a pound. Exact pence throughout."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Text, func, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import FundingBudgetView, FundingFlowView, FundingLinkView
from services.reporting.read.queries import per_transaction, row_type
from services.reporting.read.versioned import once_per_version, per_version
from shared.periods import PeriodKind, parse_period

SOURCES = ("income", "received")
SPEND = ("commission", "expenditure")


@dataclass
class Ledger:
    """Every funding entry of the hub, keyed by (node, entry_id), with links and net effects."""

    entries: dict[tuple[str, str], FundingFlowView]
    links: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    reversal_count: dict[tuple[str, str], int] = field(default_factory=dict)
    drawn_from: dict[tuple[str, str], int] = field(default_factory=dict)

    def active(self, key: tuple[str, str]) -> bool:
        """An original entry stands unless an odd number of reversals (a chain) undid it."""
        return self.reversal_count.get(key, 0) % 2 == 0

    def net(self, key: tuple[str, str]) -> int:
        return self.entries[key].amount_pence if self.active(key) else 0

    def originals(self, *kinds: str) -> list[FundingFlowView]:
        return [e for e in self.entries.values() if e.kind in kinds]

    def drawn(self, key: tuple[str, str]) -> int:
        return self.drawn_from.get(key, 0)


_FLOW = FundingFlowView.__table__
_LINK = FundingLinkView.__table__
_FlowRow = row_type(_FLOW)


async def load_ledger(session: AsyncSession) -> Ledger:
    """The whole ledger, read once per data version (nothing modifies a Ledger once read: it
    is shared)."""
    return await per_version(
        session,
        ("ledger",),
        lambda: per_transaction(session, ("ledger",), lambda: _read_ledger(session)),
        shared=True,
    )


async def _read_ledger(session: AsyncSession) -> Ledger:
    """Entries and links in (node, id) order, sorted here: trails and uses walk them in this
    order, and a database's own row or text order is not the same on SQLite and PostgreSQL."""
    flows = sorted(await _flows(session, true()), key=lambda e: (e.node, e.entry_id))
    entries = {(e.node, e.entry_id): e for e in flows}
    ledger = Ledger(entries)
    for e in entries.values():
        if e.kind == "reversal":
            key = (e.node, e.original_entry_id or "")
            ledger.reversal_count[key] = ledger.reversal_count.get(key, 0) + 1
    links = select(_LINK.c.node, _LINK.c.entry_id, _LINK.c.source_entry_id, _LINK.c.amount_pence)
    for node, entry_id, source_entry_id, amount in sorted(await session.execute(links)):
        ledger.links.setdefault((node, entry_id), {})[source_entry_id] = int(amount)
        source = (node, source_entry_id)
        ledger.drawn_from[source] = ledger.drawn_from.get(source, 0) + int(amount)
    return ledger


_GRANT_KINDS = ("allocation", "commission")
_KEYS_PER_QUERY = 500


async def _flows(session: AsyncSession, which: ColumnElement[bool]) -> list[FundingFlowView]:
    """The entries `which` selects, as plain rows. Their details and dates are read as text and
    decoded once per distinct text (most spend shares its details; a year has a few hundred
    dates): decoding them row by row was most of reading them. Rows decoded from one text share
    the object: read it, never change it."""
    texts = [c.name for c in _FLOW.c if c.name in ("entry_on", "details")]
    query = select(*(type_coerce(c, Text) if c.name in texts else c for c in _FLOW.c))
    at = [_FLOW.c.keys().index(name) for name in texts]
    decode = (date.fromisoformat, json.loads)
    seen: list[dict[Any, Any]] = [{}, {}]
    rows = []
    for row in await session.execute(query.where(which)):
        values = list(row)
        for i, (column, known) in enumerate(zip(at, seen, strict=True)):
            value = values[column]
            if isinstance(value, str):
                found = known.get(value)
                if found is None:
                    found = known[value] = decode[i](value)
                values[column] = found
        rows.append(_FlowRow._make(values))
    return rows


async def _part_of_ledger(session: AsyncSession, which: ColumnElement[bool]) -> Ledger:
    """The entries `which` selects and every reversal count (grouped in SQL); no links."""
    f = _FLOW.c
    entries = {(e.node, e.entry_id): e for e in await _flows(session, which)}
    ledger = Ledger(entries)
    for node, original, count in await session.execute(
        select(f.node, f.original_entry_id, func.count())
        .where(f.kind == "reversal")
        .group_by(f.node, f.original_entry_id)
    ):
        key = (node, original or "")
        ledger.reversal_count[key] = ledger.reversal_count.get(key, 0) + int(count)
    return ledger


async def period_ledger(session: AsyncSession, start: date, end: date) -> Ledger:
    """What a period's money figures read of the ledger (`summarise`, `actual_in_period`,
    `flows_in_period`): the entries dated in it and those its reversals undo, every reversal
    count; no links, no sources of other periods (`sources` has every source's figures) and none
    of the other years' spend that is most of a hub's entries. Read once per transaction (the
    funding view and its budget share it): nothing modifies it."""
    return await per_transaction(
        session,
        ("period ledger", str(start), str(end)),
        lambda: _period_ledger(session, start, end),
    )


async def _period_ledger(session: AsyncSession, start: date, end: date) -> Ledger:
    f = _FLOW.c
    ledger = await _part_of_ledger(session, (f.entry_on >= start) & (f.entry_on <= end))
    undone = {
        (e.node, e.original_entry_id or "") for e in ledger.entries.values() if e.kind == "reversal"
    }
    ledger.entries.update(
        ((e.node, e.entry_id), e) for e in await _entries(session, undone - ledger.entries.keys())
    )
    return ledger


async def grants_ledger(session: AsyncSession) -> Ledger:
    """What the 360Giving grants read of the ledger: every allocation, commission and receipt,
    whether each is reversed, the grants' links and the income they name; not the rest of the
    income nor the spend, which are most of a hub's entries (no `drawn_from`, no spend's links:
    for the grants only). Should a grant's link or a receipt name an entry of another kind (nodes
    refuse that), the whole ledger, so the grants are the same either way."""
    f, li = _FLOW.c, _LINK.c
    ledger = await _part_of_ledger(session, f.kind.in_(_GRANT_KINDS + ("received",)))
    entries = ledger.entries
    for node, entry_id, source_entry_id, amount in await session.execute(
        select(li.node, li.entry_id, li.source_entry_id, li.amount_pence)
        .join(_FLOW, (f.node == li.node) & (f.entry_id == li.entry_id))
        .where(f.kind.in_(_GRANT_KINDS))
    ):
        ledger.links.setdefault((node, entry_id), {})[source_entry_id] = int(amount)
    named = {(node, source) for (node, _), links in ledger.links.items() for source in links}
    named |= {
        (e.counterpart_node or "", e.counterpart_entry_id or "")
        for e in entries.values()
        if e.kind == "received"
    }
    found = await _entries(session, named - entries.keys())
    if any(e.kind != "income" for e in found):
        return await load_ledger(session)
    entries.update(((e.node, e.entry_id), e) for e in found)
    return ledger


async def _entries(session: AsyncSession, keys: set[tuple[str, str]]) -> list[FundingFlowView]:
    """The entries of `keys` (node, entry id) that are in the ledger, a few hundred a query."""
    wanted = sorted(keys)
    found = []
    for start in range(0, len(wanted), _KEYS_PER_QUERY):
        chunk = set(wanted[start : start + _KEYS_PER_QUERY])
        ids = _FLOW.c.entry_id.in_({entry_id for _, entry_id in chunk})
        found += [e for e in await _flows(session, ids) if (e.node, e.entry_id) in chunk]
    return found


class SourceFigures(BaseModel):
    """One source as it stands. Frozen, with nothing inside that can change, so copies of a held
    result (services/reporting/read/versioned.py) share it: a hub has tens of thousands."""

    model_config = ConfigDict(frozen=True)

    node: str
    entry_id: str
    kind: str
    stream: str
    funder: str | None
    received_pence: int
    drawn_pence: int
    remaining_pence: int

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> SourceFigures:
        return self


class NodeBalance(BaseModel):
    node: str
    income_pence: int = 0
    received_pence: int = 0
    allocated_pence: int = 0
    commissioned_pence: int = 0
    spent_pence: int = 0
    remaining_pence: int = 0
    balances: bool = True
    """income + received = allocated + commissioned + spent + remaining, to the penny."""


class TransferCheck(BaseModel):
    sender_node: str | None
    sender_entry_id: str | None
    receiver_node: str | None
    receiver_entry_id: str | None
    sent_pence: int
    received_pence: int
    status: Literal["reconciled", "not received", "not sent", "amounts differ"]


class FundingBalance(BaseModel):
    """Per source: received = drawn + remaining; per node and hub-wide the same;
    transfers reconciled."""

    balanced: bool
    problems: list[str]
    sources: list[SourceFigures]
    nodes: list[NodeBalance]
    hub: NodeBalance
    transfers: list[TransferCheck]


def reconcile(ledger: Ledger) -> list[TransferCheck]:
    """Pair each allocation with the receiver's record naming it;
    show what one side lacks or disputes."""
    received: dict[tuple[str | None, ...], FundingFlowView] = {
        (e.node, e.counterpart_node, e.counterpart_entry_id): e
        for e in ledger.originals("received")
        if ledger.active((e.node, e.entry_id))
    }
    checks = []
    for sent in sorted(
        ledger.originals("allocation"), key=lambda e: (e.node, e.entry_on, e.entry_id)
    ):
        amount = ledger.net((sent.node, sent.entry_id))
        other = received.pop((sent.counterpart_node, sent.node, sent.entry_id), None)
        got = other.amount_pence if other else 0
        if amount == 0 and other is None:
            continue
        status = (
            "reconciled"
            if amount == got
            else "not received"
            if other is None
            else "not sent"
            if amount == 0
            else "amounts differ"
        )
        checks.append(
            TransferCheck(
                sender_node=sent.node,
                sender_entry_id=sent.entry_id,
                receiver_node=sent.counterpart_node,
                receiver_entry_id=other.entry_id if other else None,
                sent_pence=amount,
                received_pence=got,
                status=status,
            )
        )
    for other in sorted(received.values(), key=lambda e: (e.node, e.entry_on, e.entry_id)):
        checks.append(
            TransferCheck(
                sender_node=other.counterpart_node,
                sender_entry_id=other.counterpart_entry_id,
                receiver_node=other.node,
                receiver_entry_id=other.entry_id,
                sent_pence=0,
                received_pence=other.amount_pence,
                status="not sent",
            )
        )
    return checks


def source_figures(ledger: Ledger) -> list[SourceFigures]:
    """Every source (income and receipts) with what flows draw on it and what remains."""
    sources = []
    for e in sorted(ledger.originals(*SOURCES), key=lambda e: (e.node, e.entry_on, e.entry_id)):
        key = (e.node, e.entry_id)
        held, drawn = ledger.net(key), ledger.drawn(key)
        sources.append(
            SourceFigures(
                node=e.node,
                entry_id=e.entry_id,
                kind=e.kind,
                stream=e.stream,
                funder=e.counterparty,
                received_pence=held,
                drawn_pence=drawn,
                remaining_pence=held - drawn,
            )
        )
    return sources


async def sources(session: AsyncSession) -> list[SourceFigures]:
    """`source_figures` of the whole ledger without reading it: every source with what is drawn
    on it and whether it is reversed, summed and counted in SQL (integers: exact). Read once per
    data version and shared: read the list, never change it."""
    return await per_version(
        session,
        ("sources",),
        lambda: per_transaction(session, ("sources",), lambda: _sources(session)),
        shared=True,
    )


async def _sources(session: AsyncSession) -> list[SourceFigures]:
    f, li = _FLOW.c, _LINK.c
    drawn = (
        select(li.node, li.source_entry_id, func.sum(li.amount_pence).label("pence"))
        .group_by(li.node, li.source_entry_id)
        .subquery()
    )
    undone = (
        select(f.node, f.original_entry_id, func.count().label("times"))
        .where(f.kind == "reversal")
        .group_by(f.node, f.original_entry_id)
        .subquery()
    )
    query = (
        select(
            f.node,
            type_coerce(f.entry_on, Text),  # compared, never shown: no date made per row
            f.entry_id,
            f.kind,
            f.stream,
            f.counterparty,
            f.amount_pence,
            drawn.c.pence,
            undone.c.times,
        )
        .outerjoin(drawn, (drawn.c.node == f.node) & (drawn.c.source_entry_id == f.entry_id))
        .outerjoin(undone, (undone.c.node == f.node) & (undone.c.original_entry_id == f.entry_id))
        .where(f.kind.in_(SOURCES))
    )
    # sorted here, not by SQL: a database's collation may order text otherwise than Python
    return [_source(*row) for row in sorted(tuple(row) for row in await session.execute(query))]


def _source(
    node: str,
    _: object,
    entry_id: str,
    kind: str,
    stream: str,
    funder: str | None,
    amount: int,
    drawn: int | None,
    reversals: int | None,
) -> SourceFigures:
    """A source's figures from its row, what is drawn on it and its reversals (None: none)."""
    held = 0 if (reversals or 0) % 2 else int(amount)  # ledger.net
    return SourceFigures(
        node=node,
        entry_id=entry_id,
        kind=kind,
        stream=stream,
        funder=funder,
        received_pence=held,
        drawn_pence=int(drawn or 0),
        remaining_pence=held - int(drawn or 0),
    )


_NODE_FIGURE = {
    "income": "income_pence",
    "received": "received_pence",
    "allocation": "allocated_pence",
    "commission": "commissioned_pence",
    "expenditure": "spent_pence",
}
"""The NodeBalance figure each kind of original entry adds to."""


LinkProblem = tuple[str, str, str, int, int]
"""(node, entry id, kind, links total, amount) of a flow whose links do not add up to it."""


def _link_problems(ledger: Ledger) -> list[LinkProblem]:
    found = []
    e: FundingFlowView | None  # an entry; the one a link names may be missing
    for (node, entry_id), links in ledger.links.items():
        e = ledger.entries.get((node, entry_id))
        if e is not None and e.kind != "reversal" and sum(links.values()) != e.amount_pence:
            found.append((node, entry_id, e.kind, sum(links.values()), e.amount_pence))
    return sorted(found)


def _node_sums(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Per node, the NodeBalance figure of each kind: its standing originals summed."""
    # plain integers, made into figures once: setting a model's field per entry cost more than
    # the rest of the balance
    sums: dict[str, dict[str, int]] = {}
    reversals = ledger.reversal_count
    for e in ledger.entries.values():
        attr = _NODE_FIGURE.get(e.kind)
        if attr is None:
            continue
        node_sums = sums.get(e.node)
        if node_sums is None:
            node_sums = sums[e.node] = dict.fromkeys(_NODE_FIGURE.values(), 0)
        if reversals.get((e.node, e.entry_id), 0) % 2 == 0:  # ledger.net, inline
            node_sums[attr] += e.amount_pence
    return sums


def balance(ledger: Ledger, nodes: list[str]) -> FundingBalance:
    return _balance(
        ledger, nodes, source_figures(ledger), _link_problems(ledger), _node_sums(ledger)
    )


def _balance(
    ledger: Ledger,
    nodes: list[str],
    sources: list[SourceFigures],
    link_problems: list[LinkProblem],
    node_sums: dict[str, dict[str, int]],
) -> FundingBalance:
    """The balance from a ledger's allocations and receipts, the sources' figures, the flows whose
    links do not add up, and each node's sums (`balance` finds them in a whole ledger,
    `funding_balance` in SQL)."""
    problems: list[str] = []
    for s in sources:
        if s.drawn_pence > s.received_pence or s.drawn_pence < 0:
            problems.append(
                f"{s.node} source {s.entry_id}: drawn {s.drawn_pence}p of {s.received_pence}p"
            )
    problems += [
        f"{node} {kind} {entry_id}: links total {total}p, amount {amount}p"
        for node, entry_id, kind, total, amount in link_problems
    ]
    sums = {n: dict.fromkeys(_NODE_FIGURE.values(), 0) for n in nodes}
    sums.update((n, node_sums[n]) for n in sorted(node_sums))
    remaining: dict[str, int] = defaultdict(int)
    for s in sources:
        remaining[s.node] += s.remaining_pence
    figures = {
        n: NodeBalance(node=n, remaining_pence=remaining[n], **figure) for n, figure in sums.items()
    }
    for f in figures.values():
        f.balances = (
            f.income_pence + f.received_pence
            == f.allocated_pence + f.commissioned_pence + f.spent_pence + f.remaining_pence
        )
        if not f.balances:
            problems.append(f"{f.node}: income and receipts do not equal flows plus remaining")
    rows = sorted(figures.values(), key=lambda f: f.node)
    hub = NodeBalance(
        node="hub",
        **{
            k: sum(getattr(f, k) for f in rows)
            for k in (
                "income_pence",
                "received_pence",
                "allocated_pence",
                "commissioned_pence",
                "spent_pence",
                "remaining_pence",
            )
        },
    )
    hub.balances = all(f.balances for f in rows)
    transfers = reconcile(ledger)
    problems += [
        f"transfer {t.sender_node}/{t.sender_entry_id} → {t.receiver_node}: {t.status} "
        f"(sent {t.sent_pence}p, received {t.received_pence}p)"
        for t in transfers
        if t.status != "reconciled"
    ]
    return FundingBalance(
        balanced=not problems,
        problems=problems,
        sources=sources,
        nodes=rows,
        hub=hub,
        transfers=transfers,
    )


@once_per_version
async def funding_balance(session: AsyncSession, nodes: list[str]) -> FundingBalance:
    """`balance` without reading the whole ledger: its allocations and receipts, the sources'
    figures and the per-node sums, summed in SQL (integers: exact)."""
    li, f = _LINK.c, _FLOW.c
    ledger = await _transfers_ledger(session)
    total = func.sum(li.amount_pence)
    link_problems = [
        (node, entry_id, kind, int(links), int(amount))
        for node, entry_id, kind, amount, links in await session.execute(
            select(li.node, li.entry_id, f.kind, f.amount_pence, total)
            .join(_FLOW, (f.node == li.node) & (f.entry_id == li.entry_id))
            .where(f.kind != "reversal")
            .group_by(li.node, li.entry_id, f.kind, f.amount_pence)
            .having(total != f.amount_pence)
        )
    ]
    sums: dict[str, dict[str, int]] = {}
    for node, kind, amount in await session.execute(
        select(f.node, f.kind, func.sum(f.amount_pence))
        .where(f.kind.in_(list(_NODE_FIGURE)))
        .group_by(f.node, f.kind)
    ):
        sums.setdefault(node, dict.fromkeys(_NODE_FIGURE.values(), 0))[_NODE_FIGURE[kind]] += int(
            amount
        )
    undone = {key for key, count in ledger.reversal_count.items() if count % 2}
    for e in await _entries(session, undone):  # standing no more: out of the sums
        if e.kind in _NODE_FIGURE:
            sums[e.node][_NODE_FIGURE[e.kind]] -= e.amount_pence
    return _balance(ledger, nodes, list(await sources(session)), sorted(link_problems), sums)


class BudgetLine(BaseModel):
    node: str
    function: str
    area: str
    budget_pence: int
    actual_pence: int
    variance_pence: int
    """Actual minus budget: positive is over-spend, negative under-spend."""


def actual_in_period(ledger: Ledger, start: date, end: date) -> dict[tuple[str, str, str], int]:
    """Commissions and spend dated in the period, by node, function and area; a reversal counts
    (signed) in the period it is dated in, under the function and area of the entry it undoes."""
    actual: dict[tuple[str, str, str], int] = defaultdict(int)
    for e in ledger.entries.values():
        if not start <= e.entry_on <= end:
            continue
        original = _original(ledger, e)
        if original is None or original.kind not in SPEND:
            continue
        actual[(e.node, original.function or "", original.area or "")] += e.sign * e.amount_pence
    return actual


@once_per_version
async def budget_vs_actual(session: AsyncSession, kind: PeriodKind, name: str) -> list[BudgetLine]:
    period = parse_period(name, kind)
    ledger = await period_ledger(session, period.starts_on, period.ends_on)
    actual = actual_in_period(ledger, period.starts_on, period.ends_on)
    budgets = {
        (b.node, b.function, b.area): int(b.amount_pence)
        for b in await session.scalars(
            select(FundingBudgetView).where(
                FundingBudgetView.period_kind == kind, FundingBudgetView.period == period.name
            )
        )
    }
    return [
        BudgetLine(
            node=k[0],
            function=k[1],
            area=k[2],
            budget_pence=budgets.get(k, 0),
            actual_pence=actual.get(k, 0),
            variance_pence=actual.get(k, 0) - budgets.get(k, 0),
        )
        for k in sorted(set(budgets) | set(actual))
    ]


class PeriodSummary(BaseModel):
    """The annual return's money lines for a period: income by source,
    spend by strategic function."""

    kind: str
    period: str
    income_by_source: dict[str, int]
    spend_by_function: dict[str, int]
    remissions_pence: int


def _original(ledger: Ledger, e: FundingFlowView) -> FundingFlowView | None:
    """The entry whose money an entry moves: itself, or for a reversal the entry it
    (re)instates or undoes."""
    return ledger.entries.get((e.node, e.original_entry_id or "")) if e.kind == "reversal" else e


def summarise(ledger: Ledger, kind: PeriodKind, name: str) -> PeriodSummary:
    """External income (not transfers between nodes) and spend dated in the period,
    net of reversals dated in it."""
    period = parse_period(name, kind)
    income: dict[str, int] = defaultdict(int)
    remissions = 0
    for e in ledger.entries.values():
        original = _original(ledger, e)
        if original is None or not period.contains(e.entry_on):
            continue
        if original.kind == "income":
            income[original.source or "other"] += e.sign * e.amount_pence
        elif original.kind == "expenditure" and original.category == "remission":
            remissions += e.sign * e.amount_pence
    spend: dict[str, int] = defaultdict(int)
    for (_, function, _), amount in actual_in_period(
        ledger, period.starts_on, period.ends_on
    ).items():
        spend[function] += amount
    return PeriodSummary(
        kind=kind,
        period=period.name,
        income_by_source=dict(sorted(income.items())),
        spend_by_function=dict(sorted(spend.items())),
        remissions_pence=remissions,
    )


@once_per_version
async def period_summary(session: AsyncSession, kind: PeriodKind, name: str) -> PeriodSummary:
    period = parse_period(name, kind)
    return summarise(await period_ledger(session, period.starts_on, period.ends_on), kind, name)


class AssetLine(BaseModel):
    node: str
    entry_id: str
    item: str
    cost_pence: int
    bought_on: date
    location: str
    loaned_to: str | None
    function: str | None


@once_per_version
async def asset_register(session: AsyncSession) -> list[AssetLine]:
    """Capital purchases that stand (not reversed), as the asset register: spend whose asset is
    set, found in SQL (JSON null and a missing key are SQL NULL alike), not the whole ledger."""
    f = _FLOW.c
    ledger = await _part_of_ledger(
        session, (f.kind == "expenditure") & f.details["asset"].as_string().is_not(None)
    )
    return [
        AssetLine(
            node=e.node,
            entry_id=e.entry_id,
            item=e.details["asset"]["item"],
            cost_pence=e.amount_pence,
            bought_on=e.entry_on,
            location=e.details["asset"]["location"],
            loaned_to=e.details["asset"].get("loaned_to"),
            function=e.function,
        )
        for e in sorted(ledger.originals("expenditure"), key=lambda e: (e.node, e.entry_on))
        if e.details.get("asset") and ledger.active((e.node, e.entry_id))
    ]


class TraceStep(BaseModel):
    node: str
    entry_id: str
    kind: str
    counterparty: str | None
    amount_pence: int
    drawn_pence: int
    """How much the step below draws from this entry."""


def trail(ledger: Ledger, node: str, entry_id: str) -> list[list[TraceStep]]:
    """Every path from a flow back to the income it came from, crossing nodes through transfers."""
    entry = ledger.entries[(node, entry_id)]
    paths: list[list[TraceStep]] = []

    def walk(e: FundingFlowView, drawn: int, path: list[TraceStep]) -> None:
        step = TraceStep(
            node=e.node,
            entry_id=e.entry_id,
            kind=e.kind,
            counterparty=e.counterparty,
            amount_pence=e.amount_pence,
            drawn_pence=drawn,
        )
        if e.kind == "received":
            sender = ledger.entries.get((e.counterpart_node or "", e.counterpart_entry_id or ""))
            if sender is not None:
                return walk(sender, e.amount_pence, [*path, step])
        links = ledger.links.get((e.node, e.entry_id), {})
        if not links:
            paths.append([*path, step])
        for source_id, amount in links.items():
            source = ledger.entries.get((e.node, source_id))
            if source is not None:
                walk(source, amount, [*path, step])

    walk(entry, entry.amount_pence, [])
    return paths


def uses(ledger: Ledger, node: str, entry_id: str) -> list[list[TraceStep]]:
    """Every path forward from a source to where its money went,
    crossing nodes through transfers."""
    drawers: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for (n, flow), links in ledger.links.items():
        if (
            ledger.entries.get((n, flow)) is not None
            and ledger.entries[(n, flow)].kind != "reversal"
        ):
            for source, amount in links.items():
                drawers[(n, source)].append((flow, amount))
    receipts = {
        (e.counterpart_node, e.counterpart_entry_id): e for e in ledger.originals("received")
    }
    paths: list[list[TraceStep]] = []

    def walk(e: FundingFlowView, drawn: int, path: list[TraceStep]) -> None:
        here = [
            *path,
            TraceStep(
                node=e.node,
                entry_id=e.entry_id,
                kind=e.kind,
                counterparty=e.counterparty,
                amount_pence=e.amount_pence if ledger.active((e.node, e.entry_id)) else 0,
                drawn_pence=drawn,
            ),
        ]
        onward = [
            (ledger.entries[(e.node, f)], a)
            for f, a in drawers.get((e.node, e.entry_id), [])
            if ledger.active((e.node, f))
        ]
        receipt = receipts.get((e.node, e.entry_id)) if e.kind == "allocation" else None
        if receipt is not None:
            onward.append((receipt, receipt.amount_pence))
        if not onward:
            paths.append(here)
        for flow, amount in onward:
            walk(flow, amount, here)

    walk(ledger.entries[(node, entry_id)], ledger.entries[(node, entry_id)].amount_pence, [])
    return paths


async def activity_funding(session: AsyncSession, activity_id: str) -> list[list[TraceStep]]:
    """The trail of every standing commission or spend naming an activity, back to its income."""
    ledger = await load_ledger(session)
    return [
        path
        for e in ledger.originals(*SPEND)
        if activity_id in e.details.get("activity_ids", []) and ledger.active((e.node, e.entry_id))
        for path in trail(ledger, e.node, e.entry_id)
    ]


@once_per_version
async def transfer_checks(session: AsyncSession) -> list[TransferCheck]:
    return reconcile(await _transfers_ledger(session))


async def _transfers_ledger(session: AsyncSession) -> Ledger:
    """What `reconcile` reads of a ledger: the allocations and receipts and every reversal count,
    without the spend that is most of a hub's entries; no links. Read once per transaction (the
    balance reconciles too): nothing modifies it."""
    kinds = _FLOW.c.kind.in_(("allocation", "received"))
    return await per_transaction(
        session, ("transfers ledger",), lambda: _part_of_ledger(session, kinds)
    )


class FollowStep(BaseModel):
    """One entry on the way down from a source, with what its own flows used of it."""

    node: str
    entry_id: str
    kind: str
    counterparty: str | None
    amount_pence: int
    drawn_pence: int
    """How much this entry takes from the step above (the whole amount at the top)."""
    used_pence: int
    remaining_pence: int
    reconciles: bool
    """Used never exceeds the amount here and in every step below; a transfer arrives whole."""
    activity_ids: list[str]
    activities: dict[str, int]
    """Pence reaching each activity from this step; an entry naming several activities keys
    them together."""
    children: list[FollowStep]


def _drawers(ledger: Ledger) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """Per source entry, the standing flows that draw on it and how much."""
    drawers: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for (n, flow), links in sorted(ledger.links.items()):
        e = ledger.entries.get((n, flow))
        if e is not None and e.kind != "reversal" and ledger.active((n, flow)):
            for source, amount in links.items():
                drawers[(n, source)].append((flow, amount))
    return drawers


def follow(ledger: Ledger, node: str, entry_id: str) -> FollowStep:
    """A source followed down through allocations, receipts, commissions and spend to activities."""
    drawers = _drawers(ledger)
    receipts = {
        (e.counterpart_node, e.counterpart_entry_id): e
        for e in ledger.originals("received")
        if ledger.active((e.node, e.entry_id))
    }

    def step(e: FundingFlowView, drawn: int) -> FollowStep:
        onward = [
            (ledger.entries[(e.node, f)], a) for f, a in drawers.get((e.node, e.entry_id), [])
        ]
        receipt = receipts.get((e.node, e.entry_id)) if e.kind == "allocation" else None
        if receipt is not None:
            onward.append((receipt, receipt.amount_pence))
        children = [step(c, a) for c, a in onward]
        amount = ledger.net((e.node, e.entry_id))
        # A commission or spend with nothing drawing on it is where the money was used: paid out.
        spent = e.kind in SPEND and not children
        used = amount if spent else sum(c.drawn_pence for c in children)
        activity_ids = (
            [str(a) for a in e.details.get("activity_ids", [])] if e.kind in SPEND else []
        )
        activities: dict[str, int] = defaultdict(int)
        if activity_ids:
            activities[",".join(sorted(activity_ids))] += drawn
        for c in children:
            for k, v in c.activities.items():
                activities[k] += v
        whole = receipt is None or receipt.amount_pence == amount
        return FollowStep(
            node=e.node,
            entry_id=e.entry_id,
            kind=e.kind,
            counterparty=e.counterparty,
            amount_pence=amount,
            drawn_pence=drawn,
            used_pence=used,
            remaining_pence=amount - used,
            reconciles=used <= amount and whole and all(c.reconciles for c in children),
            activity_ids=activity_ids,
            activities=dict(activities),
            children=children,
        )

    top = ledger.entries[(node, entry_id)]
    return step(top, ledger.net((node, entry_id)))


class PoundSource(BaseModel):
    node: str
    entry_id: str
    kind: str
    funder: str | None
    source: str | None
    pence: int


class ActivityPounds(BaseModel):
    activity_id: str
    total_pence: int
    """Commissions and spend naming the activity (an entry naming several counts whole for each)."""
    entries: list[TraceStep]
    sources: list[PoundSource]
    """Where those pounds came from, apportioned down each trail; they add up to the total."""


def origins(ledger: Ledger, e: FundingFlowView, pence: int) -> list[tuple[FundingFlowView, int]]:
    """The income behind `pence` of an entry, apportioned by its links
    (remainders to the last link)."""
    if e.kind == "income":
        return [(e, pence)]
    if e.kind == "received":
        sender = ledger.entries.get((e.counterpart_node or "", e.counterpart_entry_id or ""))
        return origins(ledger, sender, pence) if sender is not None else [(e, pence)]
    links = list(ledger.links.get((e.node, e.entry_id), {}).items())
    out: list[tuple[FundingFlowView, int]] = []
    left = pence
    for i, (source_id, amount) in enumerate(links):
        share = left if i == len(links) - 1 else pence * amount // (e.amount_pence or 1)
        left -= share
        source = ledger.entries.get((e.node, source_id))
        out += origins(ledger, source, share) if source is not None else []
    return out


def activity_pounds(ledger: Ledger, activity_id: str) -> ActivityPounds:
    spends = [
        e
        for e in ledger.originals(*SPEND)
        if activity_id in [str(a) for a in e.details.get("activity_ids", [])]
        and ledger.active((e.node, e.entry_id))
    ]
    sources = [
        PoundSource(
            node=s.node,
            entry_id=s.entry_id,
            kind=s.kind,
            funder=s.counterparty,
            source=s.source,
            pence=p,
        )
        for e in spends
        for s, p in origins(ledger, e, e.amount_pence)
    ]
    return ActivityPounds(
        activity_id=activity_id,
        total_pence=sum(e.amount_pence for e in spends),
        entries=[
            TraceStep(
                node=e.node,
                entry_id=e.entry_id,
                kind=e.kind,
                counterparty=e.counterparty,
                amount_pence=e.amount_pence,
                drawn_pence=e.amount_pence,
            )
            for e in spends
        ],
        sources=sources,
    )
