"""``hub``: run the services, the demo, and the operator's day-to-day commands.

Settings come from ``HUB_*`` environment variables and ``hub.toml`` (see README, Configuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hub import render
from hub.commands import activities as activities_commands
from hub.commands import dashboard as dashboard_commands
from hub.commands import funding as funding_commands
from hub.commands import node_option, run_operator
from hub.commands import partners as partners_commands
from hub.commands import report as report_commands
from shared.identity import SERVICES
from shared.settings import EMBEDDED_NATS_PORT, HubSettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.js.client import JetStreamContext

    from services.reporting.ingest.rebuild import RebuildResult
    from services.reporting.settings import ReportingSettings
    from shared.dead_letters import DeadLetter

T = TypeVar("T")
app = typer.Typer(
    help="Hub Ledger: accountability and funding for England's Music Hubs.", no_args_is_help=True
)
dlq = typer.Typer(help="Inspect the dead-letter stream.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
hub_cli = typer.Typer(help="Run the hub: its NATS server and reporting.", no_args_is_help=True)
node_cli = typer.Typer(
    help="Run a node: its own NATS leaf server and its services.", no_args_is_help=True
)
app.add_typer(hub_cli, name="hub")
app.add_typer(node_cli, name="node")
secrets_cli = typer.Typer(
    help="Deployment secrets: NATS passwords, node signing keys, API tokens.", no_args_is_help=True
)
app.add_typer(secrets_cli, name="secrets")
app.add_typer(partners_commands.app, name="partners")
app.add_typer(activities_commands.app, name="activities")
app.add_typer(funding_commands.app, name="funding")
app.add_typer(report_commands.report_app, name="report")
app.add_typer(report_commands.export_app, name="export")
app.add_typer(report_commands.audit_app, name="audit")
app.add_typer(dashboard_commands.app, name="dashboard")

DataDir = Annotated[
    Path | None, typer.Option(help="Data folder (databases, embedded NATS); default from settings.")
]


def _settings(data_dir: Path | None = None, **overrides: object) -> HubSettings:
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return HubSettings(**values)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A port or NATS storage folder another process holds, or a secret a node lacks: one line
    naming it (and the option that changes it) and exit 2, with nothing left running."""
    from hub.nodes import MissingSecrets
    from shared.processes import ProcessConflict

    try:
        yield
    except (ProcessConflict, MissingSecrets) as exc:
        render.console.print(f"[red]{exc}[/red]", soft_wrap=True, highlight=False, markup=True)
        raise typer.Exit(2) from None


def _run_until_stopped(work: Coroutine[Any, Any, T]) -> T | None:
    """A long-running command (`demo`, `hub up`, `node up`, `serve`, `nats`): Ctrl-C and SIGTERM
    stop it in order and it exits 0 (shared/processes.py, ``Stopping``)."""
    from shared.processes import run_until_stopped

    with _refusals():
        return run_until_stopped(work)


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join([*SERVICES, 'reporting'])}")],
    node: Annotated[
        str | None, node_option("Node (lead organisation) this service belongs to.")
    ] = None,
    host: str = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="HTTP port; default HUB_<SERVICE>_PORT (+10 per node).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run one service on its own (NATS from HUB_NATS_URL, else the embedded server
    of `hub nats`)."""
    from hub.runner import NODE_SERVICES
    from shared.processes import require_free

    if service != "reporting" and service not in NODE_SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}")
    if service in NODE_SERVICES and node is None:
        raise typer.BadParameter("--node is required for node services")
    settings = _settings(data_dir)
    at = port or settings.service_port(service, None if service == "reporting" else node)
    with _refusals():
        require_free(host, {at: (service, f"--port (default HUB_{service.upper()}_PORT)")})
    if service == "reporting":
        from services.reporting.app import serve as serve_reporting

        entry = serve_reporting(settings, host=host, port=at)
    else:
        entry = NODE_SERVICES[service].serve(settings, str(node), host=host, port=at)
    _run_until_stopped(entry)


@app.command()
def nats(data_dir: DataDir = None, port: int = EMBEDDED_NATS_PORT) -> None:
    """Run the embedded nats-server (JetStream on, data under the data folder) until Ctrl-C."""
    from shared.nats_server import NatsServer
    from shared.processes import require_free

    settings = _settings(data_dir)
    with _refusals():
        require_free("127.0.0.1", {port: ("nats-server", "--port")})
        server = NatsServer(settings.data_dir / "nats", port=port).start()
    render.console.print(
        f"nats-server listening on {server.url} (log {server.log_file}); Ctrl-C stops it"
    )
    stops = {signal.SIGINT, signal.SIGTERM}
    try:
        # blocked once the server runs (a child would inherit the mask), so sigwait receives them
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        signal.sigwait(stops)
    except KeyboardInterrupt:  # Ctrl-C before the mask was set
        pass
    finally:
        server.stop()


@hub_cli.command("up")
def hub_up(
    data_dir: DataDir = None,
    nats_port: Annotated[int, typer.Option(help="Hub NATS client port.")] = EMBEDDED_NATS_PORT,
    leaf_port: Annotated[int, typer.Option(help="Port nodes' leaf servers connect to.")] = 17422,
    port: Annotated[
        int | None, typer.Option(help="Reporting HTTP port; default HUB_REPORTING_PORT.")
    ] = None,
    host: str = "127.0.0.1",
    reporting: Annotated[
        bool,
        typer.Option(
            help="Also serve reporting in this process; --no-reporting leaves it to "
            "`hub hub reporting`, restarted on its own."
        ),
    ] = True,
) -> None:
    """Start the hub NATS server (JetStream domain hub), provision its streams, keep its node
    sources running, serve reporting (unless --no-reporting)."""
    from hub.nodes import deployment, run_hub
    from hub.topology import Ports
    from shared.processes import require_free

    settings = _settings(data_dir)
    port = port or settings.service_port("reporting")
    needed = {
        nats_port: ("the hub's NATS", "--nats-port"),
        leaf_port: ("the hub's leaf links", "--leaf-port"),
    }
    if reporting:  # with --no-reporting, `hub hub reporting` may be on that port already
        needed[port] = ("reporting", "--port (default HUB_REPORTING_PORT)")
    with _refusals():
        require_free(host, needed)
    topology = deployment(settings, Ports(host=host, hub=nats_port, hub_leaf=leaf_port))
    _run_until_stopped(run_hub(topology, host, port, reporting))


@hub_cli.command("reporting")
def hub_reporting(
    data_dir: DataDir = None,
    port: Annotated[
        int | None, typer.Option(help="Reporting HTTP port; default HUB_REPORTING_PORT.")
    ] = None,
    host: str = "127.0.0.1",
) -> None:
    """Serve reporting on its own beside `hub hub up --no-reporting`: the hub's NATS as the
    reporting user, node keys and API tokens from the data folder (HUB_NATS_URL overrides)."""
    from hub.nodes import run_reporting

    settings = _settings(data_dir)
    with contextlib.suppress(KeyboardInterrupt):
        run_operator(run_reporting(settings, host, port))


@node_cli.command("up")
def node_up(
    node: Annotated[str, node_option("The node to start.")],
    data_dir: DataDir = None,
    nats_port: Annotated[
        int | None, typer.Option(help="This node's NATS port (default 14223 + its index).")
    ] = None,
    hub_leaf_port: Annotated[int, typer.Option(help="The hub's leaf port.")] = 17422,
    base_port: Annotated[
        int | None,
        typer.Option(
            help="Services listen on base+1..3 (default HUB_<SERVICE>_PORT, +10 per node)."
        ),
    ] = None,
    host: str = "127.0.0.1",
) -> None:
    """Start a node: its NATS leaf server (JetStream domain = node) and its three services, each
    its own process."""
    from hub.nodes import deployment, run_node, service_ports
    from hub.topology import Ports
    from shared.processes import require_free
    from shared.telemetry import configure_logging

    settings = _settings(data_dir)
    configure_logging(settings)
    index = settings.nodes.index(node) if node in settings.nodes else len(settings.nodes)
    nats_port = nats_port or EMBEDDED_NATS_PORT + 1 + index
    http = "--base-port (default HUB_<SERVICE>_PORT, +10 per node)"
    with _refusals():
        require_free(
            host,
            {
                nats_port: (f"{node}'s NATS", "--nats-port"),
                **{
                    at: (f"{node} {service}", http)
                    for service, at in service_ports(settings, node, base_port).items()
                },
            },
        )
    topology = deployment(
        settings, Ports(host=host, hub_leaf=hub_leaf_port, nodes={node: nats_port})
    )
    _run_until_stopped(run_node(topology, node, host, base_port))


@node_cli.command("recover")
def node_recover(
    node: Annotated[str, node_option("The restored node.")],
    data_dir: DataDir = None,
    nats_url: Annotated[
        str | None,
        typer.Option(help="The node's NATS as its admin (default: from the data folder)."),
    ] = None,
    hub_nats_url: Annotated[
        str | None,
        typer.Option(
            help="The hub's NATS as admin, to read the hub stream too "
            "(default: from the data folder, when it holds the hub's)."
        ),
    ] = None,
) -> None:
    """Bring a restored node's databases forward from its own events in the
    streams (deploy/RUNBOOK.md)."""
    from hub.commands.recover import recover_node

    settings = _settings(data_dir)
    results = run_operator(
        recover_node(settings, node, nats_url, hub_nats_url, render.console.print)
    )
    restored = sum(r.restored for r in results)
    render.console.print(
        f"{node}: {restored} event(s) restored; restart the node (`hub node up --node {node}`)"
        if restored
        else f"{node}: nothing to recover"
    )


@secrets_cli.command("init")
def secrets_init(data_dir: DataDir = None) -> None:
    """Create (or complete, for new nodes) everything the hub and its nodes need under
    <data_dir>/secrets, the nodes' pupil pseudonym key included; prints where."""
    from hub.topology import Secrets
    from shared.pseudonym import SECRETS_KEY_FILE

    settings = _settings(data_dir)
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes, pseudonym_key=True)
    key = secrets.folder / SECRETS_KEY_FILE
    render.console.print(
        f"secrets in {secrets.folder} (owner-only files); node public keys in "
        f"{secrets.node_keys_file}; "
        + (
            f"every node's pupil pseudonym key (never the hub's) in {key}"
            if key.exists()
            else "the pupil pseudonym key was made before and moved away: it is not made again "
            "(give a new node the other nodes' copy)"
        ),
        soft_wrap=True,
    )


@secrets_cli.command("rotate-key")
def secrets_rotate_key(
    node: Annotated[str, node_option("Node whose signing key to replace.")],
    data_dir: DataDir = None,
) -> None:
    """Replace a node's signing key; the retired public key stays trusted for
    already-signed events."""
    from hub.topology import Secrets

    settings = _settings(data_dir)
    secrets = Secrets.load_or_create(settings.secrets_dir, settings.nodes)
    render.console.print(
        f"{node}: new public key {secrets.rotate_node_key(node)}; restart the node and reporting"
    )


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo keeps its data: .data/demo (wiped first), or with --empty "
            ".data/demo-empty (kept, so what you enter is there next time)."
        ),
    ] = None,
    base_port: Annotated[
        int,
        typer.Option(
            help="Reporting listens here, each node's services 10 above the previous node's "
            "(base+11..13, base+21..23, …)."
        ),
    ] = 8100,
    wait: Annotated[bool, typer.Option(help="Keep serving until Ctrl-C after loading.")] = True,
    activities: Annotated[int, typer.Option(help="Activities recorded per node.")] = 40,
    empty: Annotated[
        bool,
        typer.Option(help="Load no sample: the hub, its nodes and reporting for your own figures."),
    ] = False,
) -> None:
    """Start NATS, three nodes and hub reporting, load the Heart of England sample (unless
    --empty), show the report; serve until Ctrl-C or SIGTERM, then stop everything in order."""
    from hub.demo import run_demo
    from hub.runner import system_ports
    from shared.processes import require_free, require_stores_free
    from shared.telemetry import (
        configure_logging,
        configure_tracing,
        instrument_http_clients,
        service_name,
    )

    data_dir = data_dir or Path(".data/demo-empty" if empty else ".data/demo")
    settings = _settings(data_dir)
    with _refusals():
        require_free("127.0.0.1", system_ports(settings, base_port))
        require_stores_free(data_dir)
    if data_dir.exists() and not empty:
        shutil.rmtree(data_dir)
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    configure_tracing(settings, service_name("demo"))  # the loader's; each service has its own
    instrument_http_clients()
    per_node = None if empty else activities
    report = _run_until_stopped(
        run_demo(settings, base_port=base_port, wait=wait, activities_per_node=per_node)
    )
    if wait or report is None:
        render.console.print("stopped")


@app.command("data-health")
def data_health(
    data_dir: DataDir = None,
    nats_url: Annotated[
        str | None, typer.Option(help="The hub's NATS (default: from the data folder or settings).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per node and service: what reporting applied and any gap, what the hub stream holds beyond
    it, and (where this machine reaches the node's database) a node database behind its own
    events."""
    from hub.commands.recover import database_positions, stream_positions_at
    from services.reporting.read.queries import data_health as query

    settings = _settings(data_dir)
    rows = report_commands.read_reporting(settings, query)
    in_stream = run_operator(stream_positions_at(settings, nats_url))
    databases = asyncio.run(database_positions(settings))
    health = render.health_rows(rows, in_stream, databases)
    if as_json:
        print(json.dumps(health, indent=2))
    else:
        render.console.print(render.health_table(health))


@app.command()
def bench(
    small: Annotated[
        bool, typer.Option(help="A quick run (CI): thousands of events, not hundreds of thousands.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")] = None,
    postgres: Annotated[
        str | None, typer.Option(help="PostgreSQL DSN to also rebuild on (a database is created).")
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temporary one).")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Measure only this (repeatable): ingest, publish, latency, rebuild or queries."
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(min=100, help="Events for every measurement instead of the plan's."),
    ] = None,
) -> None:
    """Measure ingest, publishing, write-to-report latency, rebuild, queries and memory."""
    import tempfile

    from harness.bench import FULL, SMALL, STAGES, render_tables, run_bench

    unknown = set(only or ()) - set(STAGES)
    if unknown:
        raise typer.BadParameter(
            f"--only takes {', '.join(STAGES)}; not {', '.join(sorted(unknown))}"
        )
    plan = SMALL if small else FULL
    plan = plan.sized(size) if size else plan
    work = work_dir or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    results = asyncio.run(
        run_bench(
            plan, work, postgres, lambda m: render.console.print(f"[dim]{m}[/dim]"), only or STAGES
        )
    )
    for table in render_tables(results):
        render.console.print(table)
    text = json.dumps(results, indent=2)
    if out:
        out.write_text(text)
    print(text)


@app.command()
def rebuild(
    data_dir: DataDir = None,
    nats_url: Annotated[
        str | None, typer.Option(help="NATS URL with stream-admin rights (default: settings).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Events per transaction.")
    ] = 10_000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help=(
                "Processes that parse, check and project batches while this one writes (default: "
                "with a core to spare, two ingest lanes that prepare and write alternate batches "
                "instead; 0: all in this process)."
            ),
        ),
    ] = None,
) -> None:
    """Rebuild the reporting projections from the hub stream
    (beside a running reporting; deploy/RUNBOOK.md).

    On the embedded SQLite database, the new one is built beside the current one and replaces it
    only when the replay is complete; the current one is kept as reporting.db.before-rebuild-<time>.
    On a database server, rebuild into an empty database (deploy/RUNBOOK.md).
    """
    from nats.js.errors import NotFoundError

    from hub.locate import hub_nats_url
    from services.reporting.ingest.rebuild import replacing_sqlite_database
    from services.reporting.settings import ReportingSettings, reporting_sqlite_file

    settings = _settings(data_dir)
    url = hub_nats_url(settings, nats_url)
    own = ReportingSettings()  # node keys as reporting finds them (the deployment's, unless set)
    database = reporting_sqlite_file(settings, own)
    try:
        with (
            replacing_sqlite_database(database)
            if database
            else contextlib.nullcontext() as building
        ):
            if building is not None:
                own = own.model_copy(
                    update={"database_url": f"sqlite+aiosqlite:///{building.resolve()}"}
                )
            result = run_operator(_replay_hub_stream(settings, own, url, batch_size, workers))
    except NotFoundError:
        render.console.print(f"no hub stream for hub {settings.hub!r} at {url}: nothing rebuilt")
        raise typer.Exit(2) from None
    render.console.print(
        f"replayed {result.messages:,} messages to stream seq {result.last_stream_seq}: "
        f"{result.applied:,} applied, {result.duplicates:,} duplicates, {result.refused:,} refused"
    )


async def _replay_hub_stream(
    settings: HubSettings, own: ReportingSettings, url: str, batch_size: int, workers: int | None
) -> RebuildResult:
    """The replay behind `hub rebuild`, with a progress bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from hub.locate import connect_once
    from services.reporting.app import build_service
    from services.reporting.ingest.rebuild import rebuild as replay

    nc = await connect_once(
        url, "hub-rebuild"
    )  # before anything is built: an unreachable hub is one line
    service = build_service(settings, url, own)
    await service.start(consume=False)
    try:
        with Progress(
            TextColumn("replaying the hub stream"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=render.console,
            transient=True,  # gone once done: the summary (or the one line saying why not) stays
        ) as bar:
            task = bar.add_task("replay", total=None)
            return await replay(
                service,
                nc,
                batch_size=batch_size,
                workers=workers,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        await nc.close()
        await service.stop()


HubNatsOption = Annotated[
    str | None,
    typer.Option(
        "--nats-url", help="The hub's NATS (default: from the data folder, else HUB_NATS_URL)."
    ),
]


@dlq.command("list")
def dlq_list(data_dir: DataDir = None, limit: int = 50, nats_url: HubNatsOption = None) -> None:
    """List dead-lettered messages with the reason each was refused."""
    from rich.table import Table

    from hub.locate import connect_once, hub_nats_url
    from shared.dead_letters import list_dead_letters

    settings = _settings(data_dir)

    async def run() -> list[DeadLetter]:
        nc = await connect_once(hub_nats_url(settings, nats_url), "hub-cli")
        try:
            return await list_dead_letters(nc.jetstream(), settings.hub, limit)
        finally:
            await nc.close()

    letters = run_operator(run())
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("seq", "consumer", "original subject", "reason"):
        table.add_column(column)
    for d in letters:
        table.add_row(str(d.dlq_seq), d.consumer, d.original_subject, d.reason)
    render.console.print(table)


async def _dlq_call(
    settings: HubSettings,
    action: Callable[[JetStreamContext, JetStreamContext], Awaitable[T]],
    publish_url: str | None = None,
    nats_url: str | None = None,
) -> T:
    """Run `action(dlq_js, publish_js)` on the hub's connection (and the node's, when given)."""
    from hub.locate import connect_once, hub_nats_url

    nc = await connect_once(hub_nats_url(settings, nats_url), "hub-cli-dlq")
    pub = await connect_once(publish_url, "hub-cli-dlq-replay") if publish_url else nc
    try:
        return await action(nc.jetstream(), pub.jetstream())
    finally:
        if pub is not nc:
            await pub.close()
        await nc.close()


@dlq.command("show")
def dlq_show(
    seq: Annotated[
        int, typer.Argument(help="Sequence in the dead-letter stream (from `hub dlq list`).")
    ],
    raw: Annotated[
        bool, typer.Option(help="Print only the message bytes (to edit and replay).")
    ] = False,
    data_dir: DataDir = None,
    nats_url: HubNatsOption = None,
) -> None:
    """Print one dead letter: why it was refused, where it came from, and its bytes
    (JSON pretty-printed)."""
    from shared.dead_letters import get_dead_letter

    settings = _settings(data_dir)
    letter = run_operator(
        _dlq_call(settings, lambda js, _: get_dead_letter(js, settings.hub, seq), nats_url=nats_url)
    )
    if letter is None:
        render.console.print(f"no dead letter {seq}")
        raise typer.Exit(1)
    if raw:
        sys.stdout.buffer.write(letter.data)
        return
    render.console.print(
        f"seq {letter.dlq_seq}  consumer {letter.consumer}  original stream seq "
        f"{letter.original_seq}"
    )
    render.console.print(f"subject {letter.original_subject}")
    render.console.print(f"reason  {letter.reason}", markup=False)
    try:
        body = json.dumps(json.loads(letter.data), indent=2)
    except ValueError:
        body = repr(letter.data[:2000])
    print(body)


@dlq.command("replay")
def dlq_replay(
    seq: Annotated[int, typer.Argument(help="Sequence in the dead-letter stream.")],
    fixed_file: Annotated[
        Path | None,
        typer.Option(help="Corrected message bytes to publish instead of the original."),
    ] = None,
    publish_url: Annotated[
        str | None,
        typer.Option(
            help="NATS URL whose stream captures the original subject (the node's admin URL with "
            "leaf nodes); default: the original node's server from the data folder, else the hub's."
        ),
    ] = None,
    data_dir: DataDir = None,
    nats_url: HubNatsOption = None,
) -> None:
    """Republish a dead letter (fixed, if given) on its original subject,
    then delete it from the dead letters."""

    settings = _settings(data_dir)
    fixed = fixed_file.read_bytes() if fixed_file else None
    try:
        letter = run_operator(_replay_dead_letter(settings, seq, fixed, publish_url, nats_url))
    except LookupError as exc:
        render.console.print(str(exc))
        raise typer.Exit(1) from None
    what = "fixed message" if fixed else "original message"
    render.console.print(
        f"replayed dead letter {seq} ({what}) on {letter.original_subject}; dead letter deleted"
    )


async def _replay_dead_letter(
    settings: HubSettings,
    seq: int,
    fixed: bytes | None,
    publish_url: str | None,
    nats_url: str | None,
) -> DeadLetter:
    """Replay where the original subject is captured: `publish_url`, else the original node's own
    server as the data folder lays it out (leaf nodes), else the hub's (one server)."""
    from hub.locate import connect_once, hub_nats_url, node_nats_url
    from shared.dead_letters import get_dead_letter, replay_dead_letter

    hub_url = hub_nats_url(settings, nats_url)
    nc = await connect_once(hub_url, "hub-cli-dlq")
    try:
        letter = await get_dead_letter(nc.jetstream(), settings.hub, seq)
        if letter is None:
            raise LookupError(f"no dead letter {seq}")
        node = letter.original_subject.split(".")[2]
        own_server = (settings.data_dir / "nats" / f"{node}.conf").is_file()
        url = publish_url or (node_nats_url(settings, node) if own_server else hub_url)
        pub = await connect_once(url, "hub-cli-dlq-replay") if url != hub_url else nc
        try:
            return await replay_dead_letter(
                nc.jetstream(), pub.jetstream(), settings.hub, seq, fixed
            )
        finally:
            if pub is not nc:
                await pub.close()
    finally:
        await nc.close()


@app.command()
def reliability(
    seed: Annotated[int, typer.Option(help="Seed of the workload and the fault injector.")] = 1,
    runs: Annotated[
        int, typer.Option(help="Crash runs, each on a fresh cluster (seed, seed+1, ...).")
    ] = 1,
    duration: Annotated[float, typer.Option(help="Seconds of load and faults per run.")] = 60.0,
    soak: Annotated[
        float, typer.Option(help="Seconds of sustained load after the last run (0: none).")
    ] = 30.0,
    mutations: Annotated[
        int, typer.Option(help="Random mutated events fed to ingest (x4 to the parser).")
    ] = 200,
    short: Annotated[
        bool, typer.Option(help="The CI form: one 12 s run, 5 s soak, 50 mutations.")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the clusters' data here (default: a temp folder).")
    ] = None,
) -> None:
    """Kill every kind of process under load, feed hostile input, soak; print the figures
    (exit 1 if any are wrong)."""
    from harness.reliability.run import run_reliability
    from shared.telemetry import configure_logging

    if short:
        runs, duration, soak, mutations = 1, 12.0, 5.0, 50
    configure_logging(_settings().model_copy(update={"log_level": "ERROR"}))
    logging.getLogger("shared.bus").setLevel(logging.ERROR)  # expected: NATS is killed on purpose
    report = asyncio.run(
        run_reliability(seed, runs, duration, soak, mutations, short, data_dir, render.console)
    )
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def docs(out: Path = Path("docs/events.md"), asyncapi: Path = Path("docs/asyncapi.json")) -> None:
    """Regenerate the event catalogue and the AsyncAPI document from shared/contracts."""
    from hub.catalogue import event_catalogue
    from shared.asyncapi import hub_document

    out.write_text(event_catalogue())
    asyncapi.write_text(json.dumps(hub_document(), indent=2) + "\n")
    render.console.print(f"wrote {out} and {asyncapi}")


@app.command("json-schema")
def json_schema(event_type: str, version: int | None = None) -> None:
    """Print the JSON Schema of one event payload."""
    from shared.contracts import contract

    print(json.dumps(contract(event_type, version).model_json_schema(), indent=2))


if __name__ == "__main__":
    app()
