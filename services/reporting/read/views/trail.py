"""The auditor's trail of a grant as a table: each entry on the way down from the income (step,
date, from, to, amount, used, remaining, status), its own problems marked, the whole trail said
to reconcile once. The same rows make the trail page and its CSV and XLSX downloads."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from services.reporting.models import FundingFlowView
from services.reporting.read.labels import Names, words
from services.reporting.read.views.funding import FollowStep, Ledger, follow
from shared.periods import PeriodKind, parse_period


class TrailRow(BaseModel):
    step: str = Field(description="Place in the trail: 1 the grant, 1.2 the second flow from it.")
    depth: int
    node: str
    entry_id: str
    event_id: str = Field(description="The event that recorded the entry (its page).")
    kind: str
    entry_on: date
    from_party: str
    to_party: str
    amount_pence: int
    takes_pence: int = Field(description="What this entry draws on the step above.")
    used_pence: int
    remaining_pence: int
    status: str
    problem: bool
    activity_ids: list[str]


class GrantTrail(BaseModel):
    node: str
    entry_id: str
    title: str
    reconciles: bool = Field(description="No step uses more than it holds; transfers arrive whole.")
    problems: int
    rows: list[TrailRow]


def _status(step: FollowStep, entry: FundingFlowView) -> str:
    """What is wrong with this step alone ('' when nothing is)."""
    if step.used_pence > step.amount_pence:
        return f"overdrawn by {_money(step.used_pence - step.amount_pence)}"
    if entry.kind == "allocation" and step.amount_pence and not step.children:
        return "not received"
    if entry.kind == "allocation" and step.used_pence != step.amount_pence:
        return f"received {_money(step.used_pence)}, sent {_money(step.amount_pence)}"
    return ""


def _money(pence: int) -> str:
    sign = "−" if pence < 0 else ""
    return f"{sign}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


def _parties(entry: FundingFlowView, names: Names) -> tuple[str, str]:
    """Who the money came from and went to, by name where the hub knows one."""
    node = words(entry.node)
    other = words(entry.counterpart_node or "") or "?"
    party = names.funder(entry.counterparty or "") or "?"
    return {
        "income": (party, node),
        "allocation": (node, other),
        "received": (other, node),
    }.get(entry.kind, (node, party))


def grant_trail(ledger: Ledger, node: str, entry_id: str, names: Names) -> GrantTrail:
    """The grant `node`/`entry_id` followed down (views/funding.follow), one row per step."""
    rows: list[TrailRow] = []

    def add(step: FollowStep, place: str, depth: int) -> None:
        entry = ledger.entries[(step.node, step.entry_id)]
        problem = _status(step, entry)
        reversed_ = not ledger.active((step.node, step.entry_id))
        rows.append(
            TrailRow(
                step=place,
                depth=depth,
                node=step.node,
                entry_id=step.entry_id,
                event_id=entry.event_id,
                kind=entry.kind,
                entry_on=entry.entry_on,
                from_party=_parties(entry, names)[0],
                to_party=_parties(entry, names)[1],
                amount_pence=step.amount_pence,
                takes_pence=step.drawn_pence,
                used_pence=step.used_pence,
                remaining_pence=step.remaining_pence,
                status=problem or ("reversed" if reversed_ else "ok"),
                problem=bool(problem),
                activity_ids=step.activity_ids,
            )
        )
        for i, child in enumerate(step.children, start=1):
            add(child, f"{place}.{i}", depth + 1)

    top = follow(ledger, node, entry_id)
    add(top, "1", 0)
    grant = ledger.entries[(node, entry_id)]
    problems = sum(r.problem for r in rows)
    return GrantTrail(
        node=node,
        entry_id=entry_id,
        title=names.funder(grant.counterparty or "") or grant.title or entry_id,
        reconciles=top.reconciles and not problems,
        problems=problems,
        rows=rows,
    )


def grants_in(ledger: Ledger, kind: PeriodKind, period: str, node: str | None) -> list[str]:
    """Income standing and dated in the period (one node's or every node's), as node/id keys."""
    p = parse_period(period, kind)
    return [
        f"{e.node}/{e.entry_id}"
        for e in sorted(ledger.originals("income"), key=lambda e: (e.entry_on, e.node, e.entry_id))
        if ledger.active((e.node, e.entry_id)) and p.contains(e.entry_on) and node in (None, e.node)
    ]
