"""`hub hub up` and `hub node up` as an operator runs them: separate processes, one hub,
one node."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.identity import SERVICES
from shared.nats_server import free_port
from tests.helpers import organisation
from tests.processes import wait_http


def start(args: list[str], data_dir: Path, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        HUB_HUB="cmdtest",
        HUB_NODES='["coventry","solihull"]',
        **settings,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args, "--data-dir", str(data_dir)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_hub_and_node_started_by_their_own_commands_work_together(tmp_path: Path) -> None:
    nats_port, leaf_port, report_port, node_nats, node_base = (free_port() for _ in range(5))
    hub = start(
        [
            "hub",
            "up",
            "--nats-port",
            str(nats_port),
            "--leaf-port",
            str(leaf_port),
            "--port",
            str(report_port),
        ],
        tmp_path,
        tmp_path / "hub.log",
    )
    node = None
    try:
        wait_http(f"http://127.0.0.1:{report_port}/health/live")
        node = start(
            [
                "node",
                "up",
                "--node",
                "coventry",
                "--nats-port",
                str(node_nats),
                "--hub-leaf-port",
                str(leaf_port),
                "--base-port",
                str(node_base),
            ],
            tmp_path,
            tmp_path / "node.log",
        )
        partners = f"http://127.0.0.1:{node_base + 1}"
        wait_http(f"{partners}/health/live")
        tokens = json.loads((tmp_path / "secrets" / "secrets.json").read_text())["tokens"]
        staff = {"Authorization": f"Bearer {tokens['coventry-staff']['token']}"}
        manager = {"Authorization": f"Bearer {tokens['manager']['token']}"}
        created = httpx.post(
            f"{partners}/organisations", json=organisation(), headers=staff, timeout=10
        )
        assert created.status_code == 201, created.text
        school = {"urn": "103712", "name": "Stoke Park Primary School", "la_code": "331"}
        school |= {"phase": "primary", "setting_type": "Academy"}
        assert httpx.post(f"{partners}/settings", json=school, headers=staff).status_code == 201
        wait_http(f"http://127.0.0.1:{node_base + 2}/health/live")
        invited = httpx.post(  # activities finds the school at partners, with the service token
            f"http://127.0.0.1:{node_base + 2}/staff/returns/invite",
            data={"school_urn": "103712", "academic_year": "2024-25", "due_on": "2025-07-31"},
            headers=staff,
            timeout=10,
        )
        assert invited.status_code == 200 and "Stoke Park Primary School" in invited.text
        deadline, report = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            report = httpx.get(
                f"http://127.0.0.1:{report_port}/report", headers=manager, timeout=5
            ).json()
            if report["totals"]["organisations"] == 2:  # the partner and the school
                break
            time.sleep(0.3)
        assert report["totals"]["organisations"] == 2, report
        assert httpx.get(f"http://127.0.0.1:{report_port}/report", timeout=5).status_code == 401
    finally:
        for proc in (node, hub):
            if proc is not None:
                proc.send_signal(signal.SIGINT)
        for proc in (node, hub):
            if proc is not None:
                proc.wait(timeout=20)
    assert (
        "Traceback" not in (tmp_path / "hub.log").read_text() + (tmp_path / "node.log").read_text()
    )


def stop(*procs: subprocess.Popen[bytes] | None) -> None:
    for proc in procs:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        if proc is not None:
            proc.wait(timeout=30)


STARTING = 120.0
"""Seconds a process may take to answer: four Python processes start at once, on a busy machine."""


@contextlib.contextmanager
def hub_and_node_traced(folder: Path) -> Iterator[tuple[dict[str, int], int]]:
    """`hub hub up` and `hub node up --node coventry` with console telemetry, each service on the
    port its HUB_<SERVICE>_PORT gives; yields the node services' ports and reporting's once all
    answer, and stops both however the block ends."""
    nats_port, leaf_port, report_port, node_nats = (free_port() for _ in range(4))
    ports = {service: free_port() for service in SERVICES}
    settings = {
        "HUB_TELEMETRY": "console",
        "HUB_REPORTING_PORT": str(report_port),
        # coventry, the first node, listens 10 above each setting
        **{f"HUB_{service.upper()}_PORT": str(port - 10) for service, port in ports.items()},
    }
    hub_up = ["hub", "up", "--nats-port", str(nats_port), "--leaf-port", str(leaf_port)]
    hub = start(hub_up, folder, folder / "hub.log", **settings)
    node = None
    try:
        wait_http(f"http://127.0.0.1:{report_port}/health/live", hub, STARTING)
        node_up = ["node", "up", "--node", "coventry", "--nats-port", str(node_nats)]
        node_up += ["--hub-leaf-port", str(leaf_port)]
        node = start(node_up, folder, folder / "node.log", **settings)
        for port in ports.values():
            wait_http(f"http://127.0.0.1:{port}/health/live", node, STARTING)
        yield ports, report_port
    finally:
        stop(node, hub)


def span_resources(log: Path) -> list[dict[str, object]]:
    """The resource attributes of every span the console exporter printed (a JSON object each)."""
    return [span["resource"]["attributes"] for span in printed_spans(log)]


@pytest.mark.slow
def test_each_service_traces_under_its_own_name_on_the_ports_its_settings_give(
    tmp_path: Path,
) -> None:
    """`hub hub up` and `hub node up` start every service through its own entry: with console
    telemetry each prints spans named for itself (the node an attribute), on HUB_<SERVICE>_PORT,
    and serves its own metrics on /metrics."""
    with hub_and_node_traced(tmp_path) as (ports, report_port):
        scraped = {
            service: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for service, port in {**ports, "reporting": report_port}.items()
        }
    for service, text in scraped.items():  # each process's own series, named for it
        assert f'service_name="hub-ledger-{service}"' in text, (service, text[:300])
        others = {s for s in scraped if s != service}
        assert not any(f'service_name="hub-ledger-{o}"' in text for o in others), service
    hub_spans, node_spans = (
        span_resources(tmp_path / "hub.log"),
        span_resources(tmp_path / "node.log"),
    )
    assert {r["service.name"] for r in hub_spans} == {"hub-ledger-reporting"}
    assert {r["service.name"] for r in node_spans} == {f"hub-ledger-{service}" for service in ports}
    assert {r.get("hub.node") for r in node_spans} == {"coventry"}
    assert (
        "Traceback" not in (tmp_path / "hub.log").read_text() + (tmp_path / "node.log").read_text()
    )


def printed_spans(log: Path) -> list[dict[str, Any]]:
    """Every span the console exporter printed, as its JSON object."""
    decoder, text, found = json.JSONDecoder(), log.read_text(), []
    at = text.find('{\n    "name"')
    while at != -1:
        span, end = decoder.raw_decode(text, at)
        found.append(span)
        at = text.find('{\n    "name"', end)
    return found


def traced(spans: list[dict[str, Any]], trace_id: str) -> set[tuple[str, str]]:
    """(service.name, span name) of the spans of one trace."""
    return {
        (s["resource"]["attributes"]["service.name"], s["name"])
        for s in spans
        if s["context"]["trace_id"] == trace_id
    }


def wait_applied(reporting: str, token: str, organisations: int, timeout: float = 30) -> None:
    """Until the hub report counts `organisations` (the node's write reached reporting)."""
    deadline, totals = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        report = httpx.get(
            f"{reporting}/report", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        totals = report.json().get("totals", {})
        if totals.get("organisations") == organisations:
            return
        time.sleep(0.3)
    raise AssertionError(f"reporting never counted {organisations} organisations: {totals}")


@pytest.mark.slow
def test_one_write_is_one_trace_from_the_node_process_to_the_hub_process(tmp_path: Path) -> None:
    """Issue #23's done-when: `hub node up` with HUB_TELEMETRY=console prints spans named for each
    service. One write to partners is one trace: the request and the relay's publish in partners'
    process, the apply in reporting's (`hub hub up`), each under its own ``service.name``."""
    with hub_and_node_traced(tmp_path) as (ports, report_port):
        tokens = json.loads((tmp_path / "secrets" / "secrets.json").read_text())["tokens"]
        staff = {"Authorization": f"Bearer {tokens['coventry-staff']['token']}"}
        partners = f"http://127.0.0.1:{ports['partners']}/organisations"
        created = httpx.post(partners, json=organisation(), headers=staff, timeout=10)
        assert created.status_code == 201, created.text
        wait_applied(
            f"http://127.0.0.1:{report_port}",
            tokens["manager"]["token"],
            organisations=1,
            timeout=STARTING,
        )
    hub_log, node_log = tmp_path / "hub.log", tmp_path / "node.log"
    hub_spans, node_spans = printed_spans(hub_log), printed_spans(node_log)
    node_names = {s["resource"]["attributes"]["service.name"] for s in node_spans}
    assert node_names == {f"hub-ledger-{service}" for service in SERVICES}
    (write,) = [s for s in node_spans if s["name"] == "POST /organisations"]
    trace_id = write["context"]["trace_id"]
    assert traced(node_spans, trace_id) | traced(hub_spans, trace_id) >= {
        ("hub-ledger-partners", "POST /organisations"),
        ("hub-ledger-partners", "publish OrganisationRegistered"),
        ("hub-ledger-reporting", "apply OrganisationRegistered"),
    }
    assert "Traceback" not in hub_log.read_text() + node_log.read_text()
