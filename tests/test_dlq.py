"""Dead letters are operable from the CLI: a malformed event is dead-lettered, listed, shown,
fixed, replayed, and then counted exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from uuid import uuid4

from shared.bus import connect
from shared.dead_letters import list_dead_letters
from shared.envelope import Envelope
from shared.nats_server import NatsServer
from shared.subjects import event_subject, node_stream
from tests.helpers import System, organisation, wait_for


async def hub_cli(*args: str, nats_url: str, hub: str, cwd: Path) -> tuple[int, str]:
    """Run the real `hub` command in a child process (the system keeps consuming meanwhile)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_NATS_URL=nats_url, HUB_HUB=hub, HUB_DATA_DIR=str(cwd), COLUMNS="250")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_a_malformed_event_is_dead_lettered_fixed_replayed_and_counted_once(
    system: System, nats_server: NatsServer, tmp_path: Path
) -> None:
    hub = system.settings.hub
    assert (
        await system.post("coventry", "partners", "/organisations", organisation("Genuine"))
    ).status_code == 201
    await system.report_when(lambda r: r.totals.organisations == 1)

    nc = await connect(nats_server.url, "test-dlq")
    js = nc.jetstream()
    genuine = Envelope.model_validate_json((await js.get_msg(node_stream(hub, "coventry"), 1)).data)
    payload = {**genuine.payload, "organisation_id": str(uuid4()), "name": "Replayed Orchestra"}
    good = genuine.model_copy(update={"event_id": uuid4(), "sequence": 2, "payload": payload})
    broken = good.model_copy(update={"payload": {k: v for k, v in payload.items() if k != "name"}})
    subject = event_subject(hub, "coventry", "partners", genuine.type, genuine.version)
    await js.publish(subject, broken.to_bytes())
    letters = await wait_for(lambda: list_dead_letters(js, hub), lambda d: len(d) == 1)
    assert len(letters) == 1 and "name" in letters[0].reason
    seq = letters[0].dlq_seq
    assert (await system.report()).totals.organisations == 1

    code, listed = await hub_cli("dlq", "list", nats_url=nats_server.url, hub=hub, cwd=tmp_path)
    assert (
        code == 0 and "dead letters (1)" in listed and "payload of OrganisationRegistered" in listed
    ), listed
    code, shown = await hub_cli(
        "dlq", "show", str(seq), nats_url=nats_server.url, hub=hub, cwd=tmp_path
    )
    assert code == 0 and "Field required" in shown and str(broken.event_id) in shown, shown

    code, raw = await hub_cli(
        "dlq", "show", str(seq), "--raw", nats_url=nats_server.url, hub=hub, cwd=tmp_path
    )
    assert (
        code == 0 and Envelope.model_validate_json(raw) == broken
    )  # the exact bytes, ready to edit
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(good.to_bytes())
    args = ("dlq", "replay", str(seq), "--fixed-file", str(fixed))
    code, replayed = await hub_cli(*args, nats_url=nats_server.url, hub=hub, cwd=tmp_path)
    assert code == 0 and "replayed" in replayed, replayed

    report = await system.report_when(lambda r: r.totals.organisations == 2)
    assert report.totals.organisations == 2
    assert await list_dead_letters(js, hub) == []
    code, again = await hub_cli(*args, nats_url=nats_server.url, hub=hub, cwd=tmp_path)
    assert code == 1 and "no dead letter" in again
    await asyncio.sleep(0.5)
    report = await system.report()
    assert report.totals.organisations == 2 and report.stamp.applied_events == 2
    await nc.close()
