"""The `hub` command as a user runs it: the demo end to end, the report from the shell."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.reporting.app import build_service
from services.reporting.read.queries import report_stamp
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from tests.helpers import System, organisation
from tests.processes import free_base_port
from tests.test_files_at_rest import exposed

HUB = [sys.executable, "-m", "hub.cli"]


def run(
    args: list[str], cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`hub ARGS` with none of this shell's HUB_ settings, only those in `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | (env or {})
    clean["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return subprocess.run(
        [*HUB, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_demo_runs_three_nodes_and_prints_figures_from_every_service(tmp_path: Path) -> None:
    demo = run(
        [
            "demo",
            "--no-wait",
            "--activities",
            "5",
            "--data-dir",
            str(tmp_path / "demo"),
            "--base-port",
            str(free_base_port()),
        ],
        tmp_path,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "hub report" in demo.stdout
    assert (
        "/dashboard/" in demo.stdout and "dashboard login manager" in demo.stdout
    )  # URL and demo logins
    users = json.loads((tmp_path / "demo" / "secrets" / "dashboard-users.json").read_text())
    assert users["coventry-staff"]["password_hash"].startswith(
        "scrypt$"
    )  # the service holds hashes only
    assert exposed(tmp_path / "demo") == []  # databases, keys, tokens: the owner's only
    assert re.search(r"Partner return invitation.*\n\S+/return/start/[\w-]{43}\n", demo.stdout)
    invited = run(
        ["activities", "web-returns", "--node", "coventry", "--data-dir", str(tmp_path / "demo")],
        tmp_path,
    )
    assert invited.returncode == 0 and "invited" in invited.stdout, invited.stderr[-3000:]

    shown = run(["report", "--json", "--data-dir", str(tmp_path / "demo")], tmp_path)
    assert shown.returncode == 0, shown.stderr[-3000:]
    report = json.loads(shown.stdout)
    nodes = {n["node"]: n for n in report["nodes"]}
    assert set(nodes) == {"coventry", "warwickshire", "solihull"}
    for figures in nodes.values():
        assert (
            figures["organisations"] > 0
            and figures["activities"] == 5
            and figures["income_pence"] > 0
        )
    assert report["totals"]["allocated_out_pence"] == report["totals"]["allocated_in_pence"] > 0
    assert "Traceback" not in demo.stderr

    listed = run(
        ["partners", "list", "--node", "solihull", "--data-dir", str(tmp_path / "demo")], tmp_path
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "Solihull Music" in listed.stdout and "GB-LAE-SOL" in listed.stdout
    ledger = run(
        ["funding", "entries", "--node", "warwickshire", "--data-dir", str(tmp_path / "demo")],
        tmp_path,
    )
    assert "£1,708,872.00" in ledger.stdout
    # The sample population (harness/sample/data/school-population.csv):
    # FSM eligible 43,343 of 186,870 pupils.
    inclusion = run(
        [
            "report",
            "inclusion",
            "--period",
            "2024-25",
            "--json",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        tmp_path,
    )
    fsm = next(
        c
        for c in json.loads(inclusion.stdout)["characteristics"]
        if (c["characteristic"], c["value"]) == ("fsm", "yes")
    )
    assert fsm["population_share"] == "23.2" and fsm["population"].startswith("186,870 pupils"), fsm
    # The group's --data-dir reaches the view; the sample's WCET schools are in its
    # settings register.
    schools = run(
        [
            "report",
            "--data-dir",
            str(tmp_path / "demo"),
            "schools",
            "--period",
            "2024-25",
            "--json",
        ],
        tmp_path,
    )
    areas = json.loads(schools.stdout)["areas"]
    assert {a["area"] for a in areas} == set(nodes) and all(
        a["state_funded_engaged"] > 0 for a in areas
    ), areas


def test_docs_event_catalogue_is_up_to_date() -> None:
    from hub.catalogue import event_catalogue

    committed = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text()
    assert committed == event_catalogue(), "run `hub docs` and commit docs/events.md"


def test_settings_layer_environment_over_toml_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.settings import HubSettings

    config = tmp_path / "hub.toml"
    config.write_text('hub = "from-toml"\nnodes = ["a-node", "b-node"]\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("HUB_CONFIG", str(config))
    monkeypatch.setenv("HUB_LOG_LEVEL", "WARNING")
    settings = HubSettings()
    assert settings.hub == "from-toml"
    assert settings.nodes == ["a-node", "b-node"]
    assert settings.log_level == "WARNING"
    assert settings.nats_url is None
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+asyncpg://db/hub_{node}_{service}")
    assert (
        HubSettings().node_database_url("coventry", "funding")
        == "postgresql+asyncpg://db/hub_coventry_funding"
    )


def test_settings_refuse_an_unsafe_hub_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from shared.settings import HubSettings

    monkeypatch.setenv("HUB_HUB", "bad.hub>")
    with pytest.raises(ValidationError, match="hub"):
        HubSettings()


def test_a_view_of_a_missing_reporting_database_says_where_it_looked(tmp_path: Path) -> None:
    result = run(["report", "schools", "--data-dir", str(tmp_path / "nowhere")], tmp_path)
    assert (
        result.returncode == 2
        and "no reporting database at" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert not list((tmp_path / "nowhere").rglob("*.db")), "reading created a database"


async def test_hub_rebuild_replays_the_stream_into_a_fresh_database(
    system: System, settings: HubSettings
) -> None:
    """As the runbook says: stop reporting, `hub rebuild`; the old database is kept aside and the
    new one reaches the same applied count and chain head."""
    for i in range(5):
        assert (
            await system.post("coventry", "partners", "/organisations", organisation(f"Org {i}"))
        ).status_code == 201
    live = await system.report_when(lambda r: r.stamp.applied_events >= 5)
    await system.reporting.stop()
    env = {"HUB_HUB": settings.hub, "HUB_NODES": json.dumps(settings.nodes)}
    done = await asyncio.to_thread(
        run,
        ["rebuild", "--data-dir", str(settings.data_dir), "--nats-url", system.nats_url],
        settings.data_dir,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replayed 5 messages" in done.stdout and "5 applied" in done.stdout
    [kept] = (settings.data_dir / "hub").glob("reporting.db.before-rebuild-*")
    assert not (settings.data_dir / "hub" / "reporting.db.rebuilding").exists()
    assert await stamp_of(settings, system.nats_url) == live.stamp
    assert await stamp_of(settings, system.nats_url, kept) == live.stamp  # the old one, kept whole


async def test_a_rebuild_that_fails_leaves_the_current_database_in_place(
    system: System, settings: HubSettings
) -> None:
    """Reporting restarted on a half-built database would carry on from its durable's position and
    never apply the rest: until the replay completes, the current database stays, untouched."""
    assert (
        await system.post("coventry", "partners", "/organisations", organisation("Org"))
    ).status_code == 201
    live = await system.report_when(lambda r: r.stamp.applied_events >= 1)
    await system.reporting.stop()
    database = settings.data_dir / "hub" / "reporting.db"
    before = database.read_bytes()
    env = {
        "HUB_HUB": "elsewhere",
        "HUB_NODES": json.dumps(settings.nodes),
    }  # a hub whose stream is not there
    done = await asyncio.to_thread(
        run,
        ["rebuild", "--data-dir", str(settings.data_dir), "--nats-url", system.nats_url],
        settings.data_dir,
        env=env,
    )
    assert done.returncode == 2 and "no hub stream for hub 'elsewhere'" in done.stdout, done.stderr[
        -3000:
    ]
    assert "Traceback" not in done.stderr
    assert (
        database.read_bytes() == before and await stamp_of(settings, system.nats_url) == live.stamp
    )
    assert not list(
        database.parent.glob("reporting.db.*rebuild*")
    )  # nothing built is left, nothing moved aside


async def stamp_of(settings: HubSettings, nats_url: str, database: Path | None = None):  # type: ignore[no-untyped-def]
    """The report stamp of the reporting database (default: where reporting keeps it)."""
    own = ReportingSettings(database_url=f"sqlite+aiosqlite:///{database}") if database else None
    service = build_service(settings, nats_url, own)
    await service.start(consume=False)
    try:
        async with service.read_sessions() as session:
            return await report_stamp(session)
    finally:
        await service.stop()


def test_starting_the_cli_loads_no_service_nor_server_framework(tmp_path: Path) -> None:
    """Every `hub` command (even `--help` or `secrets init`) imports hub.cli first: the services,
    the dashboard, FastAPI, Alembic and SQLAlchemy load with the command that uses them."""
    heavy = [
        "services",
        "hub.runner",
        "fastapi",
        "alembic",
        "sqlalchemy",
        "uvicorn",
        "faststream",
        "opentelemetry.sdk",
    ]
    probe = (
        "import json, sys, hub.cli; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
        f"or m in {heavy!r})))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    clean["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=clean, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    names_only = "services.reporting.read.view_names"  # the views' names, no view (its docstring)
    light = {names_only, *(names_only.rsplit(".", i)[0] for i in (1, 2, 3))}
    assert [m for m in json.loads(loaded.stdout) if m not in light] == []
    shown = run(["--help"], tmp_path)
    assert shown.returncode == 0 and "report" in shown.stdout and "secrets" in shown.stdout
    views = run(["report", "--help"], tmp_path)
    assert views.returncode == 0 and "annual-return" in views.stdout


def test_the_cli_lists_the_catalogues_views_in_its_order() -> None:
    """`hub report` and `hub export` name their commands from the views' names and summaries
    (services/reporting/read/view_names.py, so the CLI starts without the views): every view of
    the catalogue has a command, in the catalogue's order, and no command names a missing view."""
    from hub.commands.report import export_app, report_app
    from services.reporting.read.catalogue import VIEWS

    for group in (report_app, export_app):
        commands = [c.name for c in group.registered_commands]
        assert [c for c in commands if c != "evidence"] == list(VIEWS)
