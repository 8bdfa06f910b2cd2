"""The funding picture of a period as flows between columns (income → lead organisations →
after allocations → commissions or direct spend → strategic function), from the same ledger and
period rules as the `funding` view (views/allocation.py), so each band is an exact ledger sum."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.reporting.read.charts import Link
from services.reporting.read.present import name, words
from services.reporting.read.views.allocation import flows_in_period
from services.reporting.read.views.funding import SPEND, Ledger
from shared.periods import PeriodKind

HEADINGS = ["Income", "Lead organisation", "After allocations", "Spent as", "Strategic function"]
SPENT_AS = {"commission": "Partner commissions", "expenditure": "Direct spend"}


@dataclass(frozen=True)
class FundingFlows:
    links: list[Link]
    columns: dict[str, int]
    """Node name → column; names are '<column>:<label>' (labels as people read them: 'DfE grant',
    'Coventry') so a lead organisation can sit in two columns."""


def funding_flows(ledger: Ledger, kind: PeriodKind, period: str) -> FundingFlows:
    """`ledger` already narrowed to one node when the page is (views/allocation.only_node)."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    income_of: dict[str, int] = defaultdict(int)
    allocated_out: dict[str, int] = defaultdict(int)
    for e, pence in flows_in_period(ledger, kind, period, "income"):
        sums[(f"0:{words(e.source or 'other')}", f"1:{name(e.node)}")] += pence
        income_of[e.node] += pence
    for e, pence in flows_in_period(ledger, kind, period, "allocation"):
        sums[(f"1:{name(e.node)}", f"2:{name(e.counterpart_node)}")] += pence
        allocated_out[e.node] += pence
    for lead, pence in income_of.items():
        kept = pence - allocated_out[lead]
        if kept > 0:
            sums[(f"1:{name(lead)}", f"2:{name(lead)}")] += kept
    for e, pence in flows_in_period(ledger, kind, period, *SPEND):
        spent_as = f"3:{SPENT_AS[e.kind]}"
        sums[(f"2:{name(e.node)}", spent_as)] += pence
        sums[(spent_as, f"4:{words(e.function or 'unattributed')}")] += pence
    links = [Link(s, t, v) for (s, t), v in sorted(sums.items()) if v > 0]
    columns = {n: int(n.split(":", 1)[0]) for link in links for n in (link.source, link.target)}
    return FundingFlows(links, dict(sorted(columns.items())))
