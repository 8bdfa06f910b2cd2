"""``hub activities``: what the node delivered, from the shell."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, offline_service

app = typer.Typer(help="Activities delivered by the node and its partners.", no_args_is_help=True)


@app.command("list")
def list_(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the activities recorded at a node."""
    from services.activities.services import list_activities

    async def run() -> list:
        async with offline_service("activities", node, data_dir) as service:
            return await list_activities(service.unit_of_work())

    table = Table(title=f"{node}: activities")
    for column in ("starts", "kind", "title", "headcount", "hours"):
        table.add_column(column)
    for row in asyncio.run(run()):
        table.add_row(f"{row.starts_on}", row.kind, row.title, str(row.headcount), str(row.hours))
    render.console.print(table)
