"""Day-to-day commands per context (``hub partners …``, ``hub activities …``, ``hub funding …``).

They run the service's own use cases against the node's database, without a server: writes go
through the same unit of work and outbox, and reach NATS when the node's service next runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from shared.settings import HubSettings

if TYPE_CHECKING:  # a service (SQLAlchemy, FastStream) loads when a command opens it
    from shared.node_service import NodeService

T = TypeVar("T")


def hub_node(value: str | None) -> str | None:
    """Every ``--node`` names one of the hub's nodes (``HUB_NODES``); any other stops the command
    with one line before it opens, creates or writes anything (eager: before the other options)."""
    if value is not None and value not in (nodes := HubSettings().nodes):
        typer.echo(
            f"--node: {value!r} is not one of the hub's nodes: one of {', '.join(nodes)} "
            "(HUB_NODES)",
            err=True,
        )
        raise typer.Exit(2)
    return value


def node_option(help: str) -> Any:
    """A ``--node`` option checked against the hub's nodes."""
    return typer.Option("--node", help=help, callback=hub_node, is_eager=True)


NodeOption = Annotated[str, node_option("Node (lead organisation) whose register to use.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Data folder; default from settings.")]


@contextlib.asynccontextmanager
async def offline_service(
    name: str, node: str, data_dir: Path | None
) -> AsyncIterator[NodeService]:
    """A node service opened for the CLI: migrated database and outbox, no relay, no NATS."""
    from hub.runner import NODE_SERVICES

    settings = HubSettings(data_dir=data_dir) if data_dir else HubSettings()
    service = NODE_SERVICES[name].build_service(settings, node, nats_url="")
    await service.start(relay=False)
    try:
        yield service
    finally:
        await service.stop()


def run_operator(work: Coroutine[Any, Any, T]) -> T:
    """Run an operator command's work; a deployment it cannot reach or use is one line and
    exit 2, whichever JetStream call found out (the one place every operator command crosses)."""
    from hub import render
    from hub.locate import OperatorError, operator_errors
    from shared.node_recovery import RecoveryRefused

    try:
        with operator_errors():
            return asyncio.run(work)
    except (OperatorError, RecoveryRefused) as exc:
        render.console.print(f"[red]{exc}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
