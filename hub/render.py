"""Terminal rendering of reports with rich: tables people can read at a glance."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from services.reporting.queries import HubReport, ProducerHealth


def pounds(pence: int) -> str:
    return f"£{pence // 100:,}.{pence % 100:02d}"


def whole_pounds(pence: int) -> str:
    """Rounded to the pound for tables; exact figures are in the JSON and exports."""
    return f"£{(pence + 50) // 100:,}"


def report_table(report: HubReport) -> Table:
    table = Table(title=f"{report.hub}: hub report", caption=_stamp(report))
    table.add_column("node", no_wrap=True)
    for column in ("orgs", "activities", "headcount", "hours", "income", "alloc. out", "alloc. in"):
        table.add_column(column, justify="right", no_wrap=True)
    for f in [*report.nodes, report.totals]:
        table.add_row(
            f.node,
            f"{f.organisations:,}",
            f"{f.activities:,}",
            f"{f.headcount:,}",
            f"{f.hours:,.0f}",
            whole_pounds(f.income_pence),
            whole_pounds(f.allocated_out_pence),
            whole_pounds(f.allocated_in_pence),
            style="bold" if f.node == "hub" else None,
        )
    return table


def _stamp(report: HubReport) -> str:
    s = report.stamp
    return f"as of hub stream seq {s.hub_stream_seq}, {s.applied_events:,} events applied, chain {s.chain_head[:12]}…"


def health_table(rows: list[ProducerHealth]) -> Table:
    table = Table(title="data health: events received per producer")
    for column in ("node", "service", "last sequence", "applied", "missing", "reused", "refused", "last event at"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.node, r.service, str(r.last_sequence), str(r.applied),
            *(f"[red]{n}[/red]" if n else "0" for n in (r.missing, r.reused, r.refused)),
            f"{r.last_recorded_at:%Y-%m-%d %H:%M:%S}",
        )
    return table


console = Console(width=None if sys.stdout.isatty() else 120)


def problems_table(problems: list, title: str) -> Table:
    """Every reason a file was refused, as row, column and reason (the spreadsheet's own numbering)."""
    table = Table(title=title)
    for column in ("row", "column", "reason"):
        table.add_column(column)
    for p in problems:
        table.add_row(str(p.row), p.column, p.reason)
    return table
