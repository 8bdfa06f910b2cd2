"""``hub partners``: the node's register from the shell."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, offline_service

app = typer.Typer(help="The node's register of organisations.", no_args_is_help=True)


@app.command("list")
def list_(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the organisations in a node's register."""
    from services.partners.services import list_organisations

    async def run() -> list:
        async with offline_service("partners", node, data_dir) as service:
            return await list_organisations(service.unit_of_work())

    table = Table(title=f"{node}: organisations")
    for column in ("name", "org id", "roles", "functions"):
        table.add_column(column)
    for row in asyncio.run(run()):
        table.add_row(row.name, row.org_id or "", ", ".join(row.roles), ", ".join(row.functions))
    render.console.print(table)
