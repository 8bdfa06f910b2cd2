"""Every operator command that talks to NATS (every `hub` command with a `--nats-url`, found in the
typer app, so tomorrow's is covered too) finds the deployment's servers and passwords in its data
folder, against a real `hub hub up` and `hub node up`; an unreachable server, a refused login or a
permission the user lacks is one line naming the server (never a password) and exit status 2."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import time
import traceback
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from click import Command
from typer.testing import CliRunner

from hub.cli import app
from hub.locate import Located
from shared.bus import connect, ensure_node_stream
from shared.nats_server import NatsServer
from shared.node_position import last_sequence, service_subjects
from shared.node_recovery import producer_events
from shared.subjects import dlq_stream
from tests.helpers import organisation, wait_for
from tests.processes import ProcessDeployment, quiet_port

NODE = "coventry"
NATS_FLAGS = {"stream"}
"""Flags without which a command would not reach NATS (`hub audit verify --stream`)."""

pytestmark = pytest.mark.slow


def commands(group: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf command of the `hub` typer app that takes a NATS URL, as its words."""
    group = group or typer.main.get_command(app)
    for name, command in getattr(group, "commands", {}).items():
        if getattr(command, "commands", None):
            yield from commands(command, (*path, name))
        elif any(p.name and p.name.endswith("nats_url") for p in command.params):
            yield (*path, name)


def command_of(words: tuple[str, ...]) -> Command:
    command: Any = typer.main.get_command(app)
    for word in words:
        command = command.commands[word]
    return command  # type: ignore[no-any-return]


def invocation(words: tuple[str, ...]) -> list[str]:
    """The command with every required value filled in (a node, else a stream sequence: 1) and the
    flags that make it use NATS."""
    args = list(words)
    for param in command_of(words).params:
        if param.name in NATS_FLAGS:
            args.append(f"--{param.name}")
        elif param.required:
            value = NODE if param.name == "node" else "1"
            args += [*(param.opts[:1] if param.param_type_name == "option" else []), value]
    return args


OPERATOR_COMMANDS = sorted(commands())
READS_ONE_MESSAGE = {("audit", "verify-message")}
"""Commands the reporting user may run: reading one hub stream message by sequence."""


def test_the_operator_commands_are_found_in_the_typer_app() -> None:
    """The cases below come from the app itself; these are the ones the issue names, at least."""
    names = {" ".join(words) for words in OPERATOR_COMMANDS}
    assert {"dlq list", "dlq show", "dlq replay", "audit verify", "data-health", "rebuild"} <= names


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessDeployment]:
    """The hub's NATS (`hub hub up --no-reporting`) and one node (`hub node up`), real processes."""
    d = ProcessDeployment(tmp_path_factory.mktemp("deployment"), "operators", [NODE])
    try:
        d.start_hub_nats()
        d.start_node(NODE)
        d.start_reporting()
        register_one(d)
        asyncio.run(dead_letter_one(d))
        yield d
    finally:
        d.stop_all()


def register_one(d: ProcessDeployment) -> None:
    """One organisation at the node, once reporting has applied it: the commands have a stream."""
    response = httpx.post(
        f"{d.partners_url(NODE)}/organisations",
        json=organisation(),
        headers={"Authorization": f"Bearer {d.token(f'{NODE}-staff')}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 120
    while d.position()[1] < 1:
        assert time.monotonic() < deadline, "reporting never applied the event"
        time.sleep(0.2)


async def dead_letter_one(d: ProcessDeployment) -> None:
    """A message that is no event, published at the node: reporting dead-letters it, so the
    dead-letter commands have one to read (which the reporting user may not)."""
    located = Located.find(d.data_dir)
    assert located is not None
    node = await connect(located.node_url(NODE, "services"), "test-node")
    await node.jetstream().publish(
        f"hl.{d.hub}.{NODE}.partners.NotAnEvent.v1",
        b"not an event",
        headers={"Nats-Msg-Id": "not-an-event"},
    )
    await node.close()
    hub = await connect(located.hub_url(), "test-hub")
    try:
        js = hub.jetstream()
        ready = await wait_for(
            lambda: js.stream_info(dlq_stream(d.hub)), lambda i: i.state.messages == 1, 120
        )
        assert ready.state.messages == 1, "reporting dead-lettered the message"
    finally:
        await hub.close()


def hub_cli(
    d: ProcessDeployment, data_dir: Path, args: list[str], **extra: str
) -> tuple[int, str, float]:
    """`hub ARGS --data-dir DATA_DIR` as an operator runs it: exit status, output, seconds taken."""
    env = {"HUB_HUB": d.hub, "HUB_NODES": json.dumps(d.nodes), "HUB_NATS_URL": "", **extra}
    started = time.monotonic()
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], env=env)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(result.exception))  # as a shell would show
    return result.exit_code, output, time.monotonic() - started


def passwords(data_dir: Path) -> list[str]:
    secrets = json.loads((data_dir / "secrets" / "secrets.json").read_text())["nats"]
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, str):
            found.append(value)

    collect(secrets)
    return found


def assert_one_line(code: int, output: str, data_dir: Path, expected: str) -> None:
    assert code == 2 and expected in output, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output, output
    assert not any(p in output for p in passwords(data_dir)), "no password in the message"


def copy_of(d: ProcessDeployment, tmp_path: Path) -> Path:
    """The deployment's secrets and NATS configs (no data) in a folder of the test's own."""
    copy = tmp_path / "copy"
    shutil.copytree(d.data_dir / "secrets", copy / "secrets")
    (copy / "nats").mkdir()
    for conf in (d.data_dir / "nats").glob("*.conf"):
        shutil.copy(conf, copy / "nats" / conf.name)
    (copy / "hub").mkdir()
    with (
        closing(sqlite3.connect(d.data_dir / "hub" / "reporting.db")) as live,
        closing(sqlite3.connect(copy / "hub" / "reporting.db")) as backup,
    ):
        live.backup(backup)
    return copy


@pytest.mark.parametrize("words", OPERATOR_COMMANDS, ids=" ".join)
def test_finds_the_deployment_and_answers_without_a_traceback(
    deployment: ProcessDeployment, words: tuple[str, ...], tmp_path: Path
) -> None:
    """Run as the deployment's admin with nothing but --data-dir: it reaches NATS and answers (the
    deployment has no dead letter 1: one line, exit 1). `hub rebuild` builds into a database of its
    own, as the runbook runs it beside a live reporting."""
    d = deployment
    extra = {}
    if words == ("rebuild",):
        extra["HUB_REPORTING_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'rebuilt.db'}"
    code, output, took = hub_cli(d, d.data_dir, invocation(words), **extra)
    print(f"\nhub {' '.join(invocation(words))}: exit {code} in {took:.1f} s")
    assert "Traceback" not in output and "cannot reach" not in output, output
    assert code in (0, 1), output
    assert not any(p in output for p in passwords(d.data_dir))


def test_report_and_data_health_read_the_deployment_from_its_data_folder(
    deployment: ProcessDeployment,
) -> None:
    code, output, _ = hub_cli(deployment, deployment.data_dir, ["report", "--json"])
    assert code == 0 and json.loads(output)["stamp"]["applied_events"] == 1, output
    code, output, _ = hub_cli(deployment, deployment.data_dir, ["data-health", "--json"])
    rows = {(r["node"], r["service"]): r for r in json.loads(output)}
    assert code == 0 and rows[(NODE, "partners")]["in_hub_stream"] == 1, output


@pytest.mark.parametrize("words", OPERATOR_COMMANDS, ids=" ".join)
def test_an_unreachable_server_is_one_line_and_exit_2(
    deployment: ProcessDeployment, words: tuple[str, ...], tmp_path: Path
) -> None:
    copy = copy_of(deployment, tmp_path)
    closed = quiet_port()  # nothing listens there
    for conf in (copy / "nats").glob("*.conf"):
        conf.write_text(
            re.sub(r"(?m)^listen: (\S+):\d+$", rf"listen: \1:{closed}", conf.read_text())
        )
    code, output, took = hub_cli(deployment, copy, invocation(words))
    print(f"\nhub {' '.join(words)} with NATS down: exit {code} in {took:.1f} s")
    assert_one_line(code, output, copy, f"cannot reach NATS at admin@127.0.0.1:{closed}")


@pytest.mark.parametrize("words", OPERATOR_COMMANDS, ids=" ".join)
def test_a_refused_login_is_one_line_and_exit_2(
    deployment: ProcessDeployment, words: tuple[str, ...], tmp_path: Path
) -> None:
    copy = copy_of(deployment, tmp_path)
    path = copy / "secrets" / "secrets.json"
    data = json.loads(path.read_text())
    data["nats"]["hub"]["admin"] = "not-the-password"
    data["nats"]["nodes"][NODE]["admin"] = "not-the-password"
    path.write_text(json.dumps(data))
    code, output, took = hub_cli(deployment, copy, invocation(words))
    print(f"\nhub {' '.join(words)} with a wrong password: exit {code} in {took:.1f} s")
    assert_one_line(code, output, copy, "refused the login")
    assert "not-the-password" not in output


@pytest.mark.parametrize("words", OPERATOR_COMMANDS, ids=" ".join)
def test_the_least_privileged_user_gets_one_line_not_a_traceback(
    deployment: ProcessDeployment, words: tuple[str, ...]
) -> None:
    """As the reporting user (it may read the hub stream through its durable and one message by
    sequence, see stream info and publish dead letters), every operator command but checking one
    message's signature lacks a permission (reading dead letters, its own consumers, the node's
    stream): one line, exit 2."""
    located = Located.find(deployment.data_dir)
    assert located is not None
    url = located.hub_url("reporting")
    args = invocation(words)
    for param in command_of(words).params:
        if param.name and param.name.endswith("nats_url"):
            args += [param.opts[0], url]
    code, output, took = hub_cli(deployment, deployment.data_dir, args)
    print(f"\nhub {' '.join(words)} as the reporting user: exit {code} in {took:.1f} s")
    if words in READS_ONE_MESSAGE:  # what the dashboard's event page does as reporting
        assert code == 0 and "signature verified" in output, output
        return
    assert_one_line(code, output, deployment.data_dir, "reporting@127.0.0.1")
    assert "the user may lack the permission" in output, output


async def test_a_message_that_is_no_event_stops_no_position_check(
    nats_server: NatsServer, hub_id: str
) -> None:
    """Junk as the last message on a producer's subject (reporting dead-letters it) counts for no
    sequence: node services, `hub data-health` and `hub node recover` go on."""
    nc = await connect(nats_server.url, "test-junk")
    try:
        js = nc.jetstream()
        stream = await ensure_node_stream(js, hub_id, NODE, 60)
        subjects = service_subjects(hub_id, NODE, "partners")
        await js.publish(subjects[0], b"not an event")
        assert await last_sequence(js, stream, subjects) == 0
        assert await producer_events(js, stream, hub_id, NODE, "partners", 0) == {}
    finally:
        await nc.close()
