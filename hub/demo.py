"""``hub demo``: the whole hub on one machine: a hub NATS server and a leaf NATS server per node,
three nodes' services, hub reporting, generated secrets, and the sample hub loaded through the
APIs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import date
from typing import Protocol
from uuid import UUID

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub import render
from hub.runner import RunningSystem, Wiring, start_system, until_interrupted
from hub.topology import HubTopology, Ports, Secrets, provisioned_hub
from services.reporting.dashboard.auth import write_users_file
from services.reporting.read.queries import HubReport
from services.reporting.settings import ReportingSettings
from shared.auth import Role, new_token
from shared.files import write_private
from shared.identity import SERVICES
from shared.settings import HubSettings

__all__ = ["leaf_wiring", "provisioned_hub", "run_demo", "wait_for_report"]


def leaf_wiring(topology: HubTopology) -> Wiring:
    """Each party's NATS URL on the leaf-node layout; each node's relay finds its own signing key
    under the secrets folder (`NodeService.start`), as it does in production."""
    secrets = topology.secrets
    return Wiring(
        reporting_nats_url=topology.reporting_url,
        node_nats_urls={node: topology.node_services_url(node) for node in topology.settings.nodes},
        reporting=ReportingSettings(node_keys_file=secrets.node_keys_file, provision_streams=False),
    )


def with_dashboard_users(wiring: Wiring, secrets: Secrets) -> Wiring:
    """Reporting reads the demo's dashboard users (written by `demo_dashboard_logins`)."""
    own = wiring.reporting or ReportingSettings()
    return dataclasses.replace(
        wiring,
        reporting=own.model_copy(
            update={
                "dashboard_users_file": secrets.folder / DASHBOARD_USERS,
                "dashboard_session_secret_file": secrets.folder / SESSION_SECRET,
            }
        ),
    )


DASHBOARD_USERS = "dashboard-users.json"
SESSION_SECRET = "dashboard-session-secret"


def demo_dashboard_logins(secrets: Secrets, nodes: list[str]) -> dict[str, str]:
    """The demo's dashboard users (a manager, an auditor, each node's staff) with generated
    passwords: kept in the demo's secrets folder so they survive a restart; the service reads only
    the hashes."""
    path = secrets.folder / "dashboard-logins.json"
    logins = json.loads(path.read_text()) if path.exists() else {}
    roles = {
        "manager": (Role.CONSORTIUM_MANAGER, None),
        "auditor": (Role.AUDITOR, None),
        **{f"{node}-staff": (Role.NODE_STAFF, node) for node in nodes},
    }
    for name in roles:
        logins.setdefault(name, new_token()[:16])
    write_private(path, json.dumps(logins, indent=2))
    write_users_file(secrets.folder / DASHBOARD_USERS, {n: (logins[n], *roles[n]) for n in roles})
    session_secret = secrets.folder / SESSION_SECRET
    if not session_secret.exists():
        write_private(session_secret, new_token())
    return logins


async def run_demo(
    settings: HubSettings, *, base_port: int, wait: bool, activities_per_node: int | None
) -> HubReport:
    """The whole hub on this machine, with the sample (`activities_per_node` activities a node)
    or, with None, empty. Stops in order: HTTP servers and consumers, relays and brokers, the stream
    watcher, then the nats-servers."""
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes, pseudonym_key=True)
    settings = settings.model_copy(
        update={"node_domains": True, "auth_tokens_file": secrets.tokens_file}
    )
    logins = demo_dashboard_logins(secrets, settings.nodes)
    topology = HubTopology(settings, secrets, Ports()).start()
    try:
        render.console.print(
            f"[bold]nats-server[/bold] hub on :{topology.ports.hub}, leaf nodes "
            + ", ".join(f"{n} on :{topology.ports.node(n)}" for n in settings.nodes)
            + f"; data in {settings.data_dir}"
        )
        async with provisioned_hub(topology):
            system = await start_system(
                settings, with_dashboard_users(leaf_wiring(topology), secrets), base_port=base_port
            )
            try:
                load = None
                if activities_per_node is not None:
                    load = await _load(system, settings, secrets, activities_per_node)
                report = await wait_for_report(
                    system.reporting_url, load.total if load else 0, secrets.token("manager")
                )
                render.console.print(render.report_table(report))
                invitation = None  # an empty hub has no partner to invite yet
                if load is not None:
                    invitation = await invite_sample_partner(system, settings, load.organisations)
                render.console.print(_where_to_look(system, settings, secrets, logins, invitation))
                if invitation is not None:
                    render.console.print(
                        f"[bold]Partner return invitation[/bold] for {invitation[0]} "
                        f"(works once):\n{invitation[1]}",
                        soft_wrap=True,
                        highlight=False,
                    )
                if wait:
                    render.console.print("[bold]Serving. Ctrl-C stops everything.[/bold]")
                    await until_interrupted()
                return report
            finally:
                await system.stop()
    finally:
        await asyncio.to_thread(topology.stop)


class Loaded(Protocol):
    """What the demo reads of a sample load (the harness's own type stays out of the launcher)."""

    @property
    def total(self) -> int: ...
    @property
    def organisations(self) -> dict[str, list[str]]: ...


async def _load(
    system: RunningSystem, settings: HubSettings, secrets: Secrets, activities_per_node: int
) -> Loaded:
    from harness.sample import (
        load_sample,
    )  # the launcher's demo only: runtime code never imports harness

    expected = len(settings.nodes) * (activities_per_node + 20) + 12
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=render.console,
    ) as progress:
        task = progress.add_task("loading the Heart of England sample", total=expected)
        load = await load_sample(
            system.urls,
            settings.nodes,
            activities_per_node=activities_per_node,
            progress=lambda n: progress.advance(task, n),
            tokens={node: secrets.token(f"{node}-staff") for node in settings.nodes},
        )
        progress.update(task, total=load.total, completed=load.total)
    return load


async def wait_for_report(
    reporting_url: str, events: int, token: str | None = None, timeout: float = 60.0
) -> HubReport:
    """Poll the hub report until it reflects `events` applied events."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=reporting_url, timeout=10, headers=headers) as client:
        while True:
            response = await client.get("/report")
            response.raise_for_status()
            report = HubReport.model_validate(response.json())
            if report.stamp.applied_events >= events or time.monotonic() > deadline:
                return report
            await asyncio.sleep(0.1)


async def invite_sample_partner(
    system: RunningSystem, settings: HubSettings, organisations: dict[str, list[str]]
) -> tuple[str, str]:
    """Invite the first node's partner whose 2024-25 return is missing to fill it in on the web
    (docs/partner-returns.md), as `hub activities invite` does; its name and link."""
    from hub.commands import offline_service
    from hub.commands.activities import partner_named
    from services.activities import web_returns as wr

    node = settings.nodes[0]
    partner_id, name = await partner_named(
        node, settings.data_dir, UUID(organisations[node][2]), None
    )
    async with offline_service("activities", node, settings.data_dir) as service:
        cmd = wr.Invite(
            partner_id=partner_id,
            partner_name=name,
            academic_year="2024-25",
            due_on=date(2025, 7, 31),
        )
        link = await wr.invite(cmd, service.unit_of_work())
    return name, link.url(system.urls[(node, "activities")])


def _where_to_look(
    system: RunningSystem,
    settings: HubSettings,
    secrets: Secrets,
    logins: dict[str, str],
    invitation: tuple[str, str] | None,
) -> Table:
    table = Table(title="where to look")
    table.add_column("what")
    table.add_column("URL")
    table.add_row("dashboard", f"{system.reporting_url}/dashboard/")
    for name, password in logins.items():
        table.add_row(f"dashboard login {name}", f"password {password}")
    table.add_row("hub report (JSON)", f"{system.reporting_url}/report")
    table.add_row("data health", f"{system.reporting_url}/report/data-health")
    table.add_row("reporting API docs", f"{system.reporting_url}/docs")
    for node in settings.nodes:
        for service in SERVICES:
            table.add_row(f"{node} {service} API docs", f"{system.urls[(node, service)]}/docs")
    table.add_row("API tokens (Authorization: Bearer …)", str(secrets.folder / "secrets.json"))
    table.add_row("consortium manager token", secrets.token("manager"))
    node = settings.nodes[0]
    if invitation is not None:
        table.add_row(f"partner return invitation ({invitation[0]})", "printed below, in full")
    table.add_row(
        f"{node} staff: partner returns (review, accept)",
        f"{system.urls[(node, 'activities')]}/staff/returns",
    )
    table.add_row(f"{node} staff token (sign in there)", secrets.token(f"{node}-staff"))
    table.add_row("from the shell", f"hub report --data-dir {settings.data_dir}")
    return table
