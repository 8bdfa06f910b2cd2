"""``hub funding``: the node's ledger from the shell."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, offline_service

app = typer.Typer(help="The node's funding ledger.", no_args_is_help=True)


@app.command("entries")
def entries(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the ledger entries of a node, oldest first."""
    from services.funding.services import list_entries

    async def run() -> list:
        async with offline_service("funding", node, data_dir) as service:
            return await list_entries(service.unit_of_work())

    table = Table(title=f"{node}: ledger")
    for column in ("on", "kind", "stream", "amount", "counterparty"):
        table.add_column(column)
    for row in asyncio.run(run()):
        table.add_row(f"{row.entry_on}", row.kind, row.stream, render.pounds(row.amount_pence), row.counterparty)
    render.console.print(table)
