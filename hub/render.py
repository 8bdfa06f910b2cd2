"""Terminal rendering of reports with rich: tables people can read at a glance."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the queries load with the command that reports, not with the CLI
    from services.reporting.read.queries import HubReport, ProducerHealth
    from shared.tabular import RowProblem


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
    return (
        f"every hub stream message up to seq {s.hub_stream_seq} taken in, "
        f"{s.applied_events:,} events applied, chain {s.chain_head[:12]}…"
    )


def health_rows(
    rows: list[ProducerHealth],
    in_stream: dict[tuple[str, str], int] | None = None,
    databases: dict[tuple[str, str], int] | None = None,
) -> list[dict[str, Any]]:
    """Per producer: what reporting applied and its gaps, what the hub stream holds beyond it (not
    yet applied), and the node's own database position where known (behind its events: restored, not
    recovered)."""
    in_stream, databases = in_stream or {}, databases or {}
    applied = {(r.node, r.service): r for r in rows}
    out = []
    for key in sorted(set(applied) | {k for k, v in in_stream.items() if v}):
        r, stream, database = applied.get(key), in_stream.get(key), databases.get(key)
        last = r.last_sequence if r else 0
        out.append(
            {
                "node": key[0],
                "service": key[1],
                "last_sequence": last,
                "applied": r.applied if r else 0,
                "missing": r.missing if r else 0,
                "reused": r.reused if r else 0,
                "refused": r.refused if r else 0,
                "in_hub_stream": stream,
                "not_yet_applied": max((stream or 0) - last, 0),
                "node_database": database,
                "node_database_behind": database is not None
                and stream is not None
                and database < stream,
                "last_recorded_at": r.last_recorded_at.isoformat() if r else None,
            }
        )
    return out


GAPS = ("missing", "reused", "refused")


def health_table(rows: list[dict[str, Any]]) -> Table:
    """Fits an 80-column terminal without cutting a name or a time ('activit…'): no side rules,
    the three gap counts in one column, the node database column only when one was reached."""
    table = Table(
        title="data health: events received per producer",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        collapse_padding=True,
    )
    table.caption = (
        "seq: the producer's last sequence; stream: its events in the hub stream; "
        "queued: of those, not yet applied"
    )
    databases = any(r["node_database"] is not None for r in rows)
    for header in ("node", "service"):
        table.add_column(header, no_wrap=True, min_width=_widest(rows, header))
    table.add_column("last event", min_width=len("2026-12-06"))  # the time wraps below its day
    for header in ("seq", "applied", "gaps", "stream", "queued"):
        words = max(len(w) for w in header.split())
        table.add_column(header, justify="right", min_width=max(_digits(rows), words))
    if databases:
        table.add_column("node database", min_width=len("database"))
    for r in rows:
        cells = [
            r["node"],
            r["service"],
            _when(r["last_recorded_at"]),
            str(r["last_sequence"]),
            str(r["applied"]),
            _gaps(r),
            "" if r["in_hub_stream"] is None else str(r["in_hub_stream"]),
            _red(r["not_yet_applied"]),
        ]
        if databases:
            cells.append(_database(r))
        table.add_row(*cells)
    return table


def _widest(rows: list[dict[str, Any]], header: str) -> int:
    values = [
        _when(r["last_recorded_at"]) if header == "last event at" else r[header] for r in rows
    ]
    return max([len(v) for v in values] + [len(header)])


def _digits(rows: list[dict[str, Any]]) -> int:
    """The widest count (in the hub stream holds the most), so no count is ever cut."""
    counts = [r[k] for r in rows for k in ("in_hub_stream", "last_sequence", "applied")]
    return max([len(str(c)) for c in counts if c is not None] + [4])


def _when(recorded_at: str | None) -> str:
    return (recorded_at or "")[:16].replace("T", " ")


def _gaps(r: dict[str, Any]) -> str:
    found = [f"{r[k]} {k}" for k in GAPS if r[k]]
    return f"[red]{', '.join(found)}[/red]" if found else "0"


def _database(r: dict[str, Any]) -> str:
    database = "" if r["node_database"] is None else str(r["node_database"])
    if r["node_database_behind"]:
        return f"[red]{database} behind (hub node recover)[/red]"
    return database


def _red(count: int) -> str:
    return f"[red]{count}[/red]" if count else "0"


console = Console(width=None if sys.stdout.isatty() else 120)


def problems_table(problems: list[RowProblem], title: str) -> Table:
    """Every reason a file was refused, as row, column and reason
    (the spreadsheet's own numbering)."""
    table = Table(title=title)
    for column in ("row", "column", "reason"):
        table.add_column(column)
    for p in problems:
        table.add_row(str(p.row), p.column, p.reason)
    return table
