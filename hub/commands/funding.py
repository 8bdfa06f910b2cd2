"""``hub funding``: the node's ledger from the shell (writes go through the unit of work and
outbox, and reach NATS when the node's service next runs), and the hub-wide funding checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, offline_service
from shared.settings import HubSettings

if TYPE_CHECKING:  # the service loads when a command runs, not when the CLI starts
    from services.funding.models import LedgerEntryRow

app = typer.Typer(
    help="The node's funding ledger, and the hub's funding checks and exports.",
    no_args_is_help=True,
)
T = TypeVar("T")
Links = Annotated[
    list[str],
    typer.Option("--from", help="Source entry and pence it draws, as ENTRY_ID=PENCE (repeat)."),
]
Stream = Annotated[str, typer.Option(help="revenue or capital.")]
On = Annotated[str, typer.Option("--on", help="Date, YYYY-MM-DD.")]


def _run_write(
    node: str, data_dir: Path | None, use_case: Callable[..., Awaitable[T]], cmd: Any
) -> T:
    from shared.errors import Refused

    async def run() -> T:
        async with offline_service("funding", node, data_dir) as service:
            return await use_case(cmd, service.unit_of_work())

    try:
        return asyncio.run(run())
    except Refused as refused:
        render.console.print(
            f"[red]refused: {refused.reason}[/red] "
            + "; ".join(f"{k}: {v}" for k, v in refused.fields.items())
        )
        raise typer.Exit(1) from refused


def _draws(links: list[str]) -> list[dict[str, Any]]:
    try:
        return [
            {"entry_id": e, "amount_pence": int(p)}
            for e, p in (link.split("=", 1) for link in links)
        ]
    except ValueError as exc:
        raise typer.BadParameter("--from takes ENTRY_ID=PENCE") from exc


def _recorded(entry_id: object) -> None:
    render.console.print(f"recorded {entry_id}")


@app.command("entries")
def entries(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the ledger entries of a node, oldest first."""
    from services.funding.services import list_entries

    async def run() -> list[LedgerEntryRow]:
        async with offline_service("funding", node, data_dir) as service:
            return await list_entries(service.unit_of_work())

    table = Table(title=f"{node}: ledger")
    for column in ("on", "kind", "stream", "amount", "counterparty", "entry id"):
        table.add_column(column)
    for row in asyncio.run(run()):
        amount = (
            render.pounds(row.amount_pence)
            if row.sign > 0
            else f"-{render.pounds(row.amount_pence)}"
        )
        table.add_row(
            f"{row.entry_on}", row.kind, row.stream, amount, row.counterparty, row.entry_id
        )
    render.console.print(table)


@app.command("income")
def income(
    node: NodeOption,
    source: str,
    funder: str,
    amount_pence: int,
    stream: Stream = "revenue",
    on: On = "",
    purpose: str | None = None,
    data_dir: DataDirOption = None,
) -> None:
    """Record income received (SOURCE: dfe_grant, local_authority, schools, parents, trusts,
    fundraising, earned, other)."""
    from services.funding.services import RecordIncome, record_income

    cmd = RecordIncome(
        source=source,
        funder=funder,
        stream=stream,
        amount_pence=amount_pence,
        received_on=date.fromisoformat(on or date.today().isoformat()),
        purpose=purpose,
    )
    _recorded(_run_write(node, data_dir, record_income, cmd))


@app.command("allocate")
def allocate(
    node: NodeOption,
    to_node: str,
    amount_pence: int,
    links: Links,
    stream: Stream = "revenue",
    on: On = "",
    data_dir: DataDirOption = None,
) -> None:
    """Allocate funds to another collaborative lead organisation."""
    from services.funding.services import AllocateFunds, allocate_funds

    cmd = AllocateFunds.model_validate(
        {
            "to_node": to_node,
            "stream": stream,
            "amount_pence": amount_pence,
            "allocated_on": on or date.today().isoformat(),
            "funded_from": _draws(links),
        }
    )
    _recorded(_run_write(node, data_dir, allocate_funds, cmd))


@app.command("receive")
def receive(
    node: NodeOption,
    from_node: str,
    sender_entry_id: str,
    amount_pence: int,
    stream: Stream = "revenue",
    on: On = "",
    data_dir: DataDirOption = None,
) -> None:
    """Record funds received from another node, naming the sender's allocation entry."""
    from services.funding.services import ReceiveFunds, receive_funds

    cmd = ReceiveFunds.model_validate(
        {
            "from_node": from_node,
            "sender_entry_id": sender_entry_id,
            "stream": stream,
            "amount_pence": amount_pence,
            "received_on": on or date.today().isoformat(),
        }
    )
    _recorded(_run_write(node, data_dir, receive_funds, cmd))


@app.command("commission")
def commission(
    node: NodeOption,
    recipient_organisation_id: str,
    recipient_name: str,
    title: str,
    function: str,
    area: str,
    amount_pence: int,
    links: Links,
    org_id: str | None = None,
    activity: Annotated[
        list[str] | None, typer.Option(help="Activity id paid for (repeat).")
    ] = None,
    stream: Stream = "revenue",
    on: On = "",
    data_dir: DataDirOption = None,
) -> None:
    """Commission a delivery partner (ids from `hub partners list`) for named work."""
    from services.funding.services import CommissionPartner, commission_partner

    cmd = CommissionPartner.model_validate(
        {
            "recipient_organisation_id": recipient_organisation_id,
            "recipient_org_id": org_id,
            "recipient_name": recipient_name,
            "title": title,
            "function": function,
            "area": area,
            "activity_ids": activity or [],
            "stream": stream,
            "amount_pence": amount_pence,
            "commissioned_on": on or date.today().isoformat(),
            "funded_from": _draws(links),
        }
    )
    _recorded(_run_write(node, data_dir, commission_partner, cmd))


@app.command("spend")
def spend(
    node: NodeOption,
    category: str,
    function: str,
    area: str,
    description: str,
    payee: str,
    amount_pence: int,
    links: Links,
    remission_reason: str | None = None,
    activity: Annotated[
        list[str] | None, typer.Option(help="Activity id paid for (repeat).")
    ] = None,
    asset: Annotated[
        str | None, typer.Option(help="Capital item as ITEM@LOCATION[@LOANED_TO].")
    ] = None,
    stream: Stream = "revenue",
    on: On = "",
    data_dir: DataDirOption = None,
) -> None:
    """Record expenditure (remissions: category remission with --remission-reason)."""
    from services.funding.services import RecordExpenditure, record_expenditure

    parts = asset.split("@") if asset else []
    cmd = RecordExpenditure.model_validate(
        {
            "category": category,
            "function": function,
            "area": area,
            "description": description,
            "payee": payee,
            "activity_ids": activity or [],
            "stream": stream,
            "amount_pence": amount_pence,
            "spent_on": on or date.today().isoformat(),
            "funded_from": _draws(links),
            "remission_reason": remission_reason,
            "asset": {
                "item": parts[0],
                "location": parts[1],
                "loaned_to": parts[2] if len(parts) > 2 else None,
            }
            if parts
            else None,
        }
    )
    _recorded(_run_write(node, data_dir, record_expenditure, cmd))


@app.command("reverse")
def reverse(
    node: NodeOption, entry_id: str, reason: str, on: On = "", data_dir: DataDirOption = None
) -> None:
    """Reverse an entry (or a reversal, to reinstate what it undid)."""
    from services.funding.services import ReverseEntry, reverse_entry

    cmd = ReverseEntry.model_validate(
        {"entry_id": entry_id, "reason": reason, "reversed_on": on or date.today().isoformat()}
    )
    _recorded(_run_write(node, data_dir, reverse_entry, cmd))


@app.command("budget")
def budget(
    node: NodeOption,
    period: str,
    function: str,
    area: str,
    amount_pence: int,
    kind: str = "academic",
    data_dir: DataDirOption = None,
) -> None:
    """Set the budget of a function and area for an academic or financial year (e.g. 2025-26)."""
    from services.funding.services import SetBudget, set_budget

    cmd = SetBudget.model_validate(
        {
            "period_kind": kind,
            "period": period,
            "function": function,
            "area": area,
            "amount_pence": amount_pence,
        }
    )
    _run_write(node, data_dir, set_budget, cmd)
    render.console.print("budget set")


def _reporting(data_dir: Path | None, query: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run a query against the hub's reporting database, read-only (`hub report`'s way)."""
    from hub.commands.report import read_reporting

    settings = HubSettings(data_dir=data_dir) if data_dir else HubSettings()
    return read_reporting(settings, lambda session: query(session, settings))


@app.command("balance")
def balance(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Hub-wide: per node, income + received = allocated + commissioned + spent + remaining;
    transfers reconciled."""
    from services.reporting.read.views.funding import funding_balance

    result = _reporting(data_dir, lambda s, settings: funding_balance(s, settings.nodes))
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    table = Table(
        title="funding balance "
        + (
            "[green]balances to the penny[/green]"
            if result.balanced
            else "[red]does not balance[/red]"
        )
    )
    for column in (
        "node",
        "income",
        "received",
        "allocated",
        "commissioned",
        "spent",
        "remaining",
        "balances",
    ):
        table.add_column(column, justify="right")
    for f in [*result.nodes, result.hub]:
        table.add_row(
            f.node,
            *(
                render.pounds(v)
                for v in (
                    f.income_pence,
                    f.received_pence,
                    f.allocated_pence,
                    f.commissioned_pence,
                    f.spent_pence,
                    f.remaining_pence,
                )
            ),
            "yes" if f.balances else "[red]no[/red]",
        )
    render.console.print(table)
    _print_transfers(result.transfers)
    for problem in result.problems:
        render.console.print(f"[red]{problem}[/red]")


@app.command("transfers")
def transfers(data_dir: DataDirOption = None) -> None:
    """Both sides of every transfer between nodes, and any one side has not recorded or disputes."""
    from services.reporting.read.views.funding import transfer_checks

    _print_transfers(_reporting(data_dir, lambda s, _: transfer_checks(s)))


def _print_transfers(rows: list[Any]) -> None:
    table = Table(title="transfers between nodes (both sides)")
    for column in ("from", "sender entry", "to", "receiver entry", "sent", "received", "status"):
        table.add_column(column)
    for t in rows:
        status = t.status if t.status == "reconciled" else f"[red]{t.status}[/red]"
        table.add_row(
            t.sender_node or "",
            t.sender_entry_id or "",
            t.receiver_node or "",
            t.receiver_entry_id or "",
            render.pounds(t.sent_pence),
            render.pounds(t.received_pence),
            status,
        )
    render.console.print(table)


@app.command("budget-report")
def budget_report(period: str, kind: str = "academic", data_dir: DataDirOption = None) -> None:
    """Budget against actual by node, function and area for a period (e.g. 2025-26)."""
    from services.reporting.read.views.funding import budget_vs_actual

    rows = _reporting(data_dir, lambda s, _: budget_vs_actual(s, kind, period))
    table = Table(title=f"budget against actual, {kind} year {period}")
    for column in ("node", "function", "area", "budget", "actual", "over (+) / under (-)"):
        table.add_column(column)
    for r in rows:
        sign = "-" if r.variance_pence < 0 else "+"
        table.add_row(
            r.node,
            r.function,
            r.area,
            render.pounds(r.budget_pence),
            render.pounds(r.actual_pence),
            sign + render.pounds(abs(r.variance_pence)),
        )
    render.console.print(table)


@app.command("summary")
def summary(period: str, kind: str = "academic", data_dir: DataDirOption = None) -> None:
    """Income by source and spend by strategic function for a period (e.g. 2025-26),
    exact to the penny."""
    from services.reporting.read.views.funding import period_summary

    result = _reporting(data_dir, lambda s, _: period_summary(s, kind, period))
    table = Table(title=f"{kind} year {result.period}")
    table.add_column("line")
    table.add_column("amount", justify="right")
    for source, pence in result.income_by_source.items():
        table.add_row(f"income: {source}", render.pounds(pence))
    for function, pence in result.spend_by_function.items():
        table.add_row(f"spend: {function}", render.pounds(pence))
    table.add_row("of which remissions", render.pounds(result.remissions_pence))
    render.console.print(table)


@app.command("assets")
def assets(data_dir: DataDirOption = None) -> None:
    """The capital asset register."""
    from services.reporting.read.views.funding import asset_register

    table = Table(title="capital asset register")
    for column in ("node", "item", "cost", "bought", "location", "loaned to"):
        table.add_column(column)
    for a in _reporting(data_dir, lambda s, _: asset_register(s)):
        table.add_row(
            a.node,
            a.item,
            render.pounds(a.cost_pence),
            f"{a.bought_on}",
            a.location,
            a.loaned_to or "",
        )
    render.console.print(table)


@app.command("export-360giving")
def export_360giving(
    out: Path,
    prefix: Annotated[
        str | None, typer.Option(help="360Giving publisher prefix; default the hub name.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the hub's grants to partners as 360Giving JSON (OUT.json) or spreadsheet (OUT.xlsx)."""
    from services.reporting.read.exports.giving360 import build_grants, package, to_json, to_xlsx

    async def query(session: Any, settings: Any) -> tuple[str, list[dict[str, Any]]]:
        return settings.display_name, await build_grants(session, prefix or settings.hub)

    hub_name, grants = _reporting(data_dir, query)
    if out.suffix == ".xlsx":
        out.write_bytes(to_xlsx(grants))
    else:
        out.write_text(to_json(package(grants, hub_name, hub_name)))
    render.console.print(f"wrote {len(grants)} grants to {out}")
