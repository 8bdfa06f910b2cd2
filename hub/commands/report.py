"""``hub report <view>``, ``hub export <view>`` and ``hub audit verify``: the reporting views from
the shell, read straight from a reporting database (the service need not be running)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args

import typer
from rich.table import Table as RichTable

from hub import render
from hub.commands import node_option
from services.reporting.read.view_names import VIEW_SUMMARIES
from shared.periods import PeriodKind
from shared.settings import HubSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.reporting.read.views.evidence import EvidenceView

T = TypeVar("T")
report_app = typer.Typer(
    help="Hub-wide views: `hub report` alone prints the per-node summary.",
    invoke_without_command=True,
)
export_app = typer.Typer(
    help="Write a view as XLSX (a sheet per table), CSV (a file per table) or JSON."
)
audit_app = typer.Typer(
    help="Verify a reporting database: hash chain, stored events, projections.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None, typer.Option(help="Data folder (databases, embedded NATS); default from settings.")
]
Period = Annotated[
    str | None,
    typer.Option(
        help="Academic (or financial) year, e.g. 2024-25; default the last academic year."
    ),
]
Kind = Annotated[str, typer.Option(help="academic or financial (funding view).")]
Node = Annotated[str | None, node_option("Only this node's delivery or money.")]


def _settings(data_dir: Path | None) -> HubSettings:
    return HubSettings(data_dir=data_dir) if data_dir is not None else HubSettings()


def _database_url(settings: HubSettings, database: str | None) -> str:
    """A URL, a path to a SQLite file (e.g. an auditor's copy),
    or the configured reporting database."""
    if database is None:
        from services.reporting.settings import reporting_database_url

        return reporting_database_url(settings)
    return database if "://" in database else f"sqlite+aiosqlite:///{Path(database).resolve()}"


async def with_session(url: str, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Read-only: no migration, no writes, so an auditor's copy stays exactly as received."""
    from shared.db import create_engine, session_factory

    _require_sqlite_file(url)
    engine = create_engine(url, writer=False)
    try:
        async with session_factory(engine)() as session:
            return await query(session)
    finally:
        await engine.dispose()


def read_reporting(settings: HubSettings, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`query` on the configured reporting database, read-only: every command that reads reporting
    opens it this one way (a CLI never migrates the service's database under it)."""
    return asyncio.run(with_session(_database_url(settings, None), query))


def _require_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create an empty one and fail on its first table."""
    if url.startswith("sqlite") and "///" in url:
        path = Path(url.split("///", 1)[1].split("?", 1)[0])
        if not path.is_file():
            raise typer.BadParameter(
                f"no reporting database at {path}: give --data-dir (e.g. .data/demo) or --database"
            )


def _params(
    settings: HubSettings,
    period: str | None,
    kind: str,
    node: str | None,
    area: str | None,
    function: str | None,
    aim: str | None,
    threshold: int,
) -> Any:
    from services.reporting.read.params import Filters, ViewParams

    try:
        return ViewParams(
            hub=settings.hub,
            nodes=settings.nodes,
            period=period or ViewParams.default_period(),
            kind=period_kind(kind),
            filters=Filters(node=node, area=area, function=function, aim=aim),
            today=date.today(),
            threshold=threshold,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def period_kind(kind: str) -> PeriodKind:
    """--kind, checked at the door: typer has no Literal options, and another word would fail
    deep inside a view (a KeyError, not a usage error)."""
    kinds: dict[str, PeriodKind] = {k: k for k in get_args(PeriodKind)}
    if kind not in kinds:
        raise typer.BadParameter(f"{kind!r}: one of {', '.join(kinds)}", param_hint="--kind")
    return kinds[kind]


def _evidence_view(view: str) -> EvidenceView:
    from services.reporting.read.views.evidence import EvidenceView

    views: dict[str, EvidenceView] = {v: v for v in get_args(EvidenceView)}
    if view not in views:
        raise typer.BadParameter(f"{view!r}: one of {', '.join(views)}", param_hint="VIEW")
    return views[view]


def _run(name: str, data_dir: Path | None, database: str | None, **options: Any) -> Any:
    from services.reporting.read.catalogue import run_view

    settings = _settings(data_dir)
    p = _params(settings, **options)
    return asyncio.run(
        with_session(_database_url(settings, database), lambda s: run_view(s, name, p))
    )


def print_tables(result: Any) -> None:
    from services.reporting.read.exports.tables import tables_of

    for t in tables_of(result):
        if not t.rows:
            continue
        shown = RichTable(title=t.name)
        for column in t.columns:
            shown.add_column(
                column,
                justify="right" if column.endswith(("_pence", "pupils", "count")) else "left",
            )
        money = [c.endswith("_pence") for c in t.columns]
        for row in t.rows:
            figure_in_pence = t.columns == ["figure", "value"] and str(row[0]).endswith("_pence")
            shown.add_row(
                *(
                    _shown(v, m or (i == 1 and figure_in_pence))
                    for i, (v, m) in enumerate(zip(row, money, strict=True))
                )
            )
        render.console.print(shown)


def _shown(value: Any, money: bool) -> str:
    """Pence as pounds for people; everything else as it is."""
    if value is None:
        return ""
    if money and isinstance(value, int) and not isinstance(value, bool):
        return f"{'-' if value < 0 else ''}£{abs(value) // 100:,}.{abs(value) % 100:02d}"
    return str(value)


def _view_command(name: str, summary: str) -> None:
    def command(
        period: Period = None,
        kind: Kind = "academic",
        node: Node = None,
        area: Annotated[str | None, typer.Option(help="Only this local authority area.")] = None,
        function: Annotated[
            str | None, typer.Option(help="Only activities attributed to this strategic function.")
        ] = None,
        aim: Annotated[
            str | None, typer.Option(help="Only activities attributed to this aim.")
        ] = None,
        threshold: Annotated[
            int, typer.Option(help="Transparency: suppress counts below this.")
        ] = 10,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print JSON instead of tables.")
        ] = False,
        data_dir: DataDir = None,
        database: Annotated[
            str | None, typer.Option(help="Reporting database URL or SQLite file.")
        ] = None,
    ) -> None:
        from services.reporting.read.exports.tables import to_json

        result = _run(
            name,
            data_dir,
            database,
            period=period,
            kind=kind,
            node=node,
            area=area,
            function=function,
            aim=aim,
            threshold=threshold,
        )
        if as_json:
            print(to_json(result))
        else:
            print_tables(result)

    command.__doc__ = summary
    report_app.command(name)(command)

    def export(
        out: Annotated[
            Path, typer.Option(help="File (.xlsx, .json) or folder (csv: one file per table).")
        ],
        format: Annotated[str, typer.Option(help="xlsx, csv or json.")] = "xlsx",
        period: Period = None,
        kind: Kind = "academic",
        node: Node = None,
        threshold: Annotated[
            int, typer.Option(help="Transparency: suppress counts below this.")
        ] = 10,
        data_dir: DataDir = None,
        database: Annotated[
            str | None, typer.Option(help="Reporting database URL or SQLite file.")
        ] = None,
    ) -> None:
        from services.reporting.read.exports.registry import EXPORTERS
        from services.reporting.read.exports.tables import to_json

        if format not in ("json", "xlsx", "csv"):
            raise typer.BadParameter(f"unknown format {format!r}: xlsx, csv or json")
        options: dict[str, Any] = {
            "period": period,
            "kind": kind,
            "node": node,
            "area": None,
            "function": None,
            "aim": None,
            "threshold": threshold,
        }
        if format == "json":
            out.write_text(to_json(_run(name, data_dir, database, **options)))
        else:
            exporter = EXPORTERS[f"view:{name}"]
            settings = _settings(data_dir)
            p = _params(settings, **options)
            data = asyncio.run(
                with_session(_database_url(settings, database), lambda s: exporter.load(s, p))
            )
            files = exporter.write["xlsx" if format == "xlsx" else "csv"](data)  # json done above
            if format == "xlsx":
                out.write_bytes(files[0][1])
            else:
                out.mkdir(parents=True, exist_ok=True)
                for file, content in files:
                    (out / file).write_bytes(content)
        render.console.print(f"wrote {out}")

    export.__doc__ = f"Export: {summary}"
    export_app.command(name)(export)


def _register() -> None:
    for name, summary in VIEW_SUMMARIES.items():
        _view_command(name, summary)


_register()


@report_app.callback()
def report(
    ctx: typer.Context,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the hub-wide report from the reporting database (or run one of the views below)."""
    if ctx.invoked_subcommand is not None:
        if (
            data_dir is not None
        ):  # `hub report --data-dir X reach` reads X, as `hub report reach --data-dir X` does
            ctx.default_map = {
                **(ctx.default_map or {}),
                ctx.invoked_subcommand: {"data_dir": str(data_dir)},
            }
        return
    from services.reporting.read.queries import hub_report

    settings = _settings(data_dir)
    result = asyncio.run(
        with_session(
            _database_url(settings, None), lambda s: hub_report(s, settings.hub, settings.nodes)
        )
    )
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        render.console.print(render.report_table(result))


@audit_app.command("verify")
def audit_verify(
    database: Annotated[
        str | None,
        typer.Option(help="The reporting database (a copy is fine): URL or SQLite file."),
    ] = None,
    data_dir: DataDir = None,
    stream: Annotated[
        bool, typer.Option(help="Also check stored events and projections against the hub stream.")
    ] = False,
    nats_url: Annotated[
        str | None, typer.Option(help="NATS server holding the hub stream (with --stream).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recompute the hash chain (and, with --stream, digests, node signatures, projections and
    completeness); exit 1 on any problem."""
    from services.reporting.ingest.audit import verify

    settings = _settings(data_dir)
    url = _database_url(settings, database)
    if stream:
        from hub.commands import run_operator

        result, complete = run_operator(_verify_against_stream(settings, url, nats_url))
    else:
        result, complete = asyncio.run(with_session(url, verify)), None
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        verdict = (
            "[green]verified[/green]"
            if result.ok
            else f"[red]{len(result.problems)} problem(s)[/red]"
        )
        render.console.print(
            f"{result.applied_events} applied events, chain head {result.chain_head}"
            f"{' (checked against the hub stream)' if result.stream_checked else ''}: {verdict}"
        )
        if complete is not None:
            render.console.print(
                f"  hub stream position {complete.position} of {complete.stream_last_seq}: every "
                f"message up to it applied, a copy ({complete.copies}) or dead-lettered "
                f"({complete.dead_lettered})"
                if not complete.problems
                else f"  hub stream position {complete.position} of "
                f"{complete.stream_last_seq}: {len(complete.problems)} message(s) unaccounted for"
            )
        for p in result.problems:
            render.console.print(
                f"  {p.check}: {p.detail}"
                + (f" [event {p.event_id}, position {p.position}]" if p.event_id else "")
            )
    if not result.ok:
        sys.exit(1)


async def _verify_against_stream(
    settings: HubSettings, url: str, nats_url: str | None
) -> tuple[Any, Any]:
    """The chain, digests and projections against the hub stream,
    and that nothing in it is missing."""
    from nats.js.errors import NotFoundError

    from hub.locate import OperatorError, hub_nats_url, nats_session, where
    from services.reporting.ingest.audit import stream_fetcher, verify
    from services.reporting.ingest.completeness import verify_completeness
    from shared.dead_letters import list_dead_letters
    from shared.subjects import hub_stream

    keys = _node_keys(settings)
    server = hub_nats_url(settings, nats_url)
    async with nats_session(server, "hub-audit") as nc:
        js = nc.jetstream(timeout=3)
        fetch = stream_fetcher(js, hub_stream(settings.hub))
        try:
            last = (await js.stream_info(hub_stream(settings.hub))).state.last_seq
        except NotFoundError:
            raise OperatorError(
                f"no hub stream {hub_stream(settings.hub)} at {where(server)}"
            ) from None
        dead = {d.original_seq for d in await list_dead_letters(js, settings.hub, limit=10**9)}
        result = await with_session(url, lambda s: verify(s, fetch, keys))
        complete = await with_session(url, lambda s: verify_completeness(s, fetch, last, dead))
    problems = [*result.problems, *complete.problems]
    return result.model_copy(update={"problems": problems, "ok": not problems}), complete


def _node_keys(settings: HubSettings) -> Any:
    """The node keys reporting checks signatures with, found as reporting finds them."""
    from services.reporting.settings import ReportingSettings
    from shared.signing import load_node_keys

    return load_node_keys(ReportingSettings().node_keys_file, settings.secrets_dir)


@audit_app.command("verify-message")
def audit_verify_message(
    stream_seq: Annotated[
        int,
        typer.Argument(
            help="The message's sequence in the hub stream (`hub report evidence` shows it)."
        ),
    ],
    data_dir: DataDir = None,
    nats_url: Annotated[
        str | None, typer.Option(help="NATS server holding the hub stream.")
    ] = None,
) -> None:
    """Check one hub stream message's node signature from its bytes and headers alone;
    exit 1 if it fails."""
    from hub.commands import run_operator
    from hub.locate import hub_nats_url, nats_session
    from services.reporting.ingest.audit import stream_fetcher
    from shared.envelope import InvalidEvent, parse_event
    from shared.subjects import hub_stream

    settings = _settings(data_dir)
    keys = _node_keys(settings)
    if keys is None:
        raise typer.BadParameter(
            "no node keys: set HUB_REPORTING_NODE_KEYS_FILE or --data-dir of a deployment"
        )

    async def fetch() -> Any:
        async with nats_session(hub_nats_url(settings, nats_url), "hub-audit") as nc:
            return await stream_fetcher(nc.jetstream(timeout=3), hub_stream(settings.hub))(
                stream_seq
            )

    message = run_operator(fetch())
    if message is None:
        render.console.print(f"hub stream message {stream_seq} is not in the stream")
        raise typer.Exit(1)
    data, headers = message
    try:
        envelope = parse_event(data).envelope
    except InvalidEvent as exc:
        render.console.print(
            f"hub stream message {stream_seq} is not an event: {exc.reason}", markup=False
        )
        raise typer.Exit(1) from None
    problem = keys.problem(envelope, data, headers)
    what = (
        f"{envelope.type} {envelope.event_id} from {envelope.node}/{envelope.service} "
        f"#{envelope.sequence}"
    )
    render.console.print(f"{what}: {problem or 'signature verified'}", markup=False)
    if problem:
        raise typer.Exit(1)


@report_app.command("evidence")
def report_evidence(
    view: Annotated[
        str,
        typer.Argument(
            help="pupils, wcet, headcount, income, spend, allocation, commission, budget, "
            "schools, inclusion, progression, continuation or partners"
        ),
    ],
    key: Annotated[
        str,
        typer.Argument(
            help="area, source, function, node or partner; 'hub' for all; budget: "
            "node/function/area; inclusion: area/characteristic/value (coventry/send/ehcp); "
            "progression: area/from/to; partners: hub or role|area|function/<value>"
        ),
    ],
    period: Annotated[str, typer.Option(help="e.g. 2024-25")],
    kind: Kind = "academic",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    data_dir: DataDir = None,
    database: Annotated[
        str | None, typer.Option(help="Reporting database URL or SQLite file.")
    ] = None,
) -> None:
    """The applied events behind one figure, with the amount or count each contributes."""
    from services.reporting.read.views.evidence import evidence

    settings = _settings(data_dir)
    asked, of_kind = _evidence_view(view), period_kind(kind)
    try:
        result = asyncio.run(
            with_session(
                _database_url(settings, database),
                lambda s: evidence(s, asked, key, period, of_kind),
            )
        )
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        print_tables(result)
