"""Metrics and spans through running services on a real nats-server: writes are counted where they
are made, relayed and ingested; each service serves its own series on /metrics, only to the
scraper's networks; dead letters are counted by kind of reason; the Grafana dashboard asks only for
series the services export; the apply span says which event it is."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed (as in tests/test_deploy.py)
from nats.aio.msg import Msg
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from hub.runner import Wiring, start_system
from services.reporting.ingest.handlers import stream_pending, stream_sequence
from services.reporting.ingest.metrics import REASON_KINDS, reason_kind
from shared.bus import connect
from shared.envelope import Envelope
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from shared.subjects import event_subject, node_stream
from shared.telemetry import Telemetry, service_telemetry
from tests.helpers import System, income, organisation, wait_for
from tests.processes import free_base_port

DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "hub-ledger.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(app: object, client: tuple[str, int] = ("127.0.0.1", 40000)) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return await http.get("/metrics")


async def samples(app: object) -> Samples:
    """Every sample a service's /metrics serves, by name and labels."""
    response = await scrape(app)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


async def test_writes_are_counted_where_made_relayed_and_ingested(system: System) -> None:
    for name in ("Quench Arts", "Orchestra of the Swan", "Coventry Youth Choir"):
        r = await system.post("coventry", "partners", "/organisations", organisation(name))
        assert r.status_code == 201
    bad = await system.post("coventry", "partners", "/organisations", {"name": ""})
    assert bad.status_code == 422
    await system.report_when(lambda r: r.stamp.applied_events == 3)

    partners = await wait_for(
        lambda: samples(system._apps[("coventry", "partners")]),
        lambda s: value(s, "hub_relay_published_total") == 3,
    )
    posts = {"http_target": "/organisations", "http_method": "POST"}
    assert value(partners, "http_server_duration_milliseconds_count", **posts) == 4
    assert value(partners, "http_server_duration_milliseconds_count", http_status_code="201") == 3
    assert value(partners, "http_server_duration_milliseconds_count", http_status_code="422") == 1
    assert value(partners, "hub_relay_published_total") == 3
    assert value(partners, "hub_relay_backlog") == 0
    assert value(partners, "hub_relay_publish_duration_seconds_count") >= 1
    assert value(partners, "target_info", service_name="hub-ledger-partners", hub_node="coventry")

    elsewhere = await samples(system._apps[("solihull", "partners")])
    assert value(elsewhere, "hub_relay_published_total") == 0  # its own series, not the process's
    assert value(elsewhere, "http_server_duration_milliseconds_count") == 0

    reporting = await wait_for(
        lambda: samples(system.reporting_app),
        lambda s: value(s, "hub_reporting_events_total", outcome="applied") == 3,
    )
    assert value(reporting, "hub_reporting_events_total", outcome="applied") == 3
    assert value(reporting, "hub_reporting_events_total", outcome="dead_letter") == 0
    assert value(reporting, "hub_reporting_lag") == 0
    assert value(reporting, "hub_reporting_batch_duration_seconds_count") >= 1
    assert 0 <= value(reporting, "hub_reporting_projection_age_seconds") < 60
    assert value(reporting, "target_info", service_name="hub-ledger-reporting")


async def test_dead_letters_are_counted_by_kind_of_reason(
    system: System, nats_server: NatsServer
) -> None:
    hub = system.settings.hub
    assert (await system.post("coventry", "partners", "/organisations", organisation())).is_success
    await system.report_when(lambda r: r.stamp.applied_events == 1)
    nc = await connect(nats_server.url, "test-metrics")
    try:
        js = nc.jetstream()
        genuine = Envelope.model_validate_json(
            (await js.get_msg(node_stream(hub, "coventry"), 1)).data or b""
        )
        subject = event_subject(hub, "coventry", "partners", genuine.type, genuine.version)
        await js.publish(subject, b"{not json")
        nameless = {k: v for k, v in genuine.payload.items() if k != "name"}
        await js.publish(subject, genuine.model_copy(update={"payload": nameless}).to_bytes())
    finally:
        await nc.drain()

    found = await wait_for(
        lambda: samples(system.reporting_app),
        lambda s: value(s, "hub_reporting_events_total", outcome="dead_letter") == 2,
    )
    assert value(found, "hub_reporting_dead_letters_total", reason="malformed") == 1
    assert value(found, "hub_reporting_dead_letters_total", reason="invalid_payload") == 1
    assert value(found, "hub_reporting_dead_letters_total") == 2
    assert value(found, "hub_reporting_lag") == 0


def test_every_reason_a_dead_letter_gives_has_a_kind() -> None:
    """The reasons the checks give (as tests/test_contracts.py and the signing tests see them) map
    to their kinds, never to free text."""
    reasons = {
        "message of 300000 bytes exceeds the 262144-byte limit": "too_large",
        "envelope invalid: (root): Invalid JSON": "malformed",
        "payload of OrganisationRegistered v1 invalid: name: Field required": "invalid_payload",
        "unknown event type 'Nope'": "unknown_type",
        "subject node 'a' does not match envelope node 'b'": "subject_mismatch",
        "event for hub 'x' arrived at hub 'y'": "wrong_hub",
        "service 'funding' may not publish OrganisationRegistered (a partners event)": (
            "service_not_allowed"
        ),
        "unsigned event from node 'coventry'": "unsigned",
        "unknown node 'x': no public key registered": "unknown_node",
        "batch signature does not verify against node 'coventry''s key": "bad_signature",
        "event id 1 reused with different content": "id_reused",
        "sequence 3 of coventry/partners reused by event 2; applied as 1": "sequence_reused",
        "FundsAllocated to_node: not one of the hub's nodes (published by 'coventry')": (
            "node_not_allowed"
        ),
        "rejected by projection: UNIQUE constraint failed": "rejected_by_projection",
        "something new": "other",
    }
    assert {reason: reason_kind(reason) for reason in reasons} == reasons
    assert {kind for kind, _ in REASON_KINDS} | {"other"} == set(reasons.values())


async def test_metrics_are_served_only_to_the_scrapers_networks(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    allowed = settings.model_copy(update={"metrics_from": [IPv4Network("10.20.0.0/16")]})
    system = System(allowed, nats_server.url)
    app = system._apps[("coventry", "funding")]
    assert (await scrape(app, ("10.20.3.4", 5000))).status_code == 200
    assert (await scrape(app, ("::ffff:10.20.3.4", 5000))).status_code == 200  # dual-stack
    outside = await scrape(app, ("127.0.0.1", 5000))
    assert outside.status_code == 403 and "HUB_METRICS_FROM" in outside.text
    assert (await scrape(app, ("testclient", 5000))).status_code == 403  # not an address


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver on loopback: the metric names of every export it is sent."""

    def __init__(self) -> None:
        self.names: list[str] = []
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportMetricsServiceRequest.FromString(body)
                collector.names += [
                    metric.name
                    for resource in request.resource_metrics
                    for scope in resource.scope_metrics
                    for metric in scope.metrics
                ]
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Receive)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


async def test_with_otlp_metrics_are_pushed_to_the_collector_and_not_served(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    collector = Collector()
    pushed = settings.model_copy(update={"metrics": "otlp", "otlp_endpoint": collector.url})
    system = System(pushed, nats_server.url)
    await system.start()
    try:
        assert (await system.post("coventry", "funding", "/income", income())).status_code == 201
        await system.report_when(lambda r: r.stamp.applied_events == 1)
        assert (await scrape(system._apps[("coventry", "funding")])).status_code == 404
    finally:
        await system.stop()
    providers = [s.telemetry.meter_provider for s in system.services.values()]
    for provider in [*providers, system.reporting.telemetry.meter_provider]:
        assert isinstance(provider, MeterProvider)
        provider.shutdown()  # exports what it holds
    collector.shutdown()
    assert {"http.server.duration", "hub.relay.published", "hub.reporting.events"} <= set(
        collector.names
    )


@pytest.fixture
async def traced(
    settings: HubSettings, nats_server: NatsServer
) -> AsyncIterator[tuple[System, InMemorySpanExporter]]:
    """A system whose every service has a tracer provider of its own (as in `hub demo`), all
    exporting to one in-memory exporter."""
    exporter = InMemorySpanExporter()

    def telemetry(service: str, node: str | None) -> Telemetry:
        return service_telemetry(
            settings, service, node, own_traces=True, extra=SimpleSpanProcessor(exporter)
        )

    system = System(settings, nats_server.url, telemetry=telemetry)
    await system.start()
    try:
        yield system, exporter
    finally:
        await system.stop()


async def test_spans_say_which_event_which_service_and_which_statement(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, exporter = traced
    for name in ("Quench Arts", "Orchestra of the Swan"):
        r = await system.post("coventry", "partners", "/organisations", organisation(name))
        assert r.status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events == 2)
    finished = exporter.get_finished_spans()
    applied = [s for s in finished if s.name == "apply OrganisationRegistered"]
    assert len(applied) == 2, [s.name for s in finished]
    attributes: list[dict[str, Any]] = [dict(s.attributes or {}) for s in applied]
    assert {a["hub.event.sequence"] for a in attributes} == {1, 2}
    for a in attributes:
        assert a["hub.event.type"] == "OrganisationRegistered" and a["hub.node"] == "coventry"
        assert a["hub.service"] == "partners" and a["messaging.batch.message_count"] >= 1
        assert a["hub.stream.sequence"] >= 1
    by_service = {s.resource.attributes["service.name"] for s in finished}
    assert {"hub-ledger-partners", "hub-ledger-reporting"} <= by_service
    for span in applied:
        assert span.resource.attributes["service.name"] == "hub-ledger-reporting"
    posts = [s for s in finished if s.name.startswith("POST /organisations")]
    assert {s.resource.attributes["service.name"] for s in posts} == {"hub-ledger-partners"}
    assert {s.resource.attributes["hub.node"] for s in posts} == {"coventry"}
    assert {s.context.trace_id for s in applied} <= {s.context.trace_id for s in posts}
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in finished]
    services = {
        s.resource.attributes["service.name"]
        for s in finished
        if "db.statement" in (s.attributes or {})
    }
    assert {"hub-ledger-partners", "hub-ledger-reporting"} <= services
    assert not any("Quench" in statement for statement in statements)  # SQL text, no values
    batches = [s for s in finished if s.name == "ingest batch"]
    applied_in_batches: list[Any] = [
        dict(s.attributes or {})["hub.events.applied"] for s in batches
    ]
    assert sum(applied_in_batches) == 2


PROMQL = {"sum", "max", "rate", "increase", "histogram_quantile", "label_values"}
"""The functions the dashboard's queries call: any other word in a query must be a series."""


def dashboard_queries() -> list[str]:
    """Every query of the dashboard: its panels' and its variables'."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return panels + variables


def series_in(query: str) -> set[str]:
    """The series a PromQL query reads: its words once label matchers, grouping labels, ranges,
    variables and function names are taken out."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)", " ", query)
    bare = re.sub(r"\$\w+|\b\d+(\.\d+)?\b", " ", bare)
    bare = re.sub(r"label_values\((\w+),\s*\w+\)", r"label_values(\1)", bare)
    return set(re.findall(r"[a-zA-Z_:][\w:]*", bare)) - PROMQL


async def test_the_dashboard_reads_exactly_the_series_the_services_export(system: System) -> None:
    asked = {series for query in dashboard_queries() for series in series_in(query)}
    assert len(asked) >= 8, asked
    assert (await system.post("coventry", "partners", "/organisations", organisation())).is_success
    await system.report_when(lambda r: r.stamp.applied_events == 1)
    await wait_for(
        lambda: samples(system.reporting_app),
        lambda s: value(s, "hub_reporting_events_total", outcome="applied") == 1,
    )
    exported: set[str] = set()
    families: set[str] = set()
    for app in [*system._apps.values(), system.reporting_app]:
        response = await scrape(app)
        for family in text_string_to_metric_families(response.text):
            families.add(family.name)
            exported |= {sample.name for sample in family.samples}
    assert asked <= exported, f"the dashboard reads series no service exports: {asked - exported}"
    ours = {f for f in families if f.startswith("hub_")}
    unread = {f for f in ours if not any(a.startswith(f) for a in asked)}
    assert not unread, f"series the services export that the dashboard does not show: {unread}"


def test_the_kubernetes_manifest_lets_the_pod_network_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = DASHBOARD.parents[1] / "k8s" / "hub.yaml"
    pods = [d for d in yaml.safe_load_all(manifest.read_text()) if d and d["kind"] == "Deployment"]
    container = pods[0]["spec"]["template"]["spec"]["containers"][0]
    for entry in container["env"]:
        if "value" in entry:
            monkeypatch.setenv(entry["name"], entry["value"])
    assert IPv4Network("10.0.0.0/8") in HubSettings().metrics_from
    annotations = pods[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"


async def test_services_sharing_a_process_report_apart(
    settings: HubSettings, nats_server: NatsServer
) -> None:
    """`hub demo` runs every service in one process (hub/runner.py): each still names its own spans
    and serves its own series, over real HTTP."""
    running = await start_system(
        settings,
        Wiring.single_server(nats_server.url, settings.nodes),
        base_port=free_base_port(),
    )
    try:
        urls = {
            **{f"{n} {s}": u for (n, s), u in running.urls.items()},
            "reporting": running.reporting_url,
        }
        async with httpx.AsyncClient(timeout=10) as http:
            scraped = {name: (await http.get(f"{url}/metrics")).text for name, url in urls.items()}
    finally:
        await running.stop()
    for name, text in scraped.items():
        node, _, service = name.rpartition(" ")
        assert f'service_name="hub-ledger-{service}"' in text, name
        assert (f'hub_node="{node}"' in text) == bool(node), name
    assert running.reporting_service is not None
    provider = running.reporting_service.telemetry.tracer_provider
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "hub-ledger-reporting"


def test_the_lag_is_read_from_the_ack_subject_of_a_batchs_last_message() -> None:
    """As the stream sequence is (handlers.stream_sequence): with and without a JetStream domain."""
    plain = "$JS.ACK.HL_HUB.reporting.1.4107.4100.1733472000000000000.17"
    domain = "$JS.ACK.hub.ABCDEF.HL_HUB.reporting.1.4107.4100.1733472000000000000.0.xyz"
    assert stream_pending(Msg(None, reply=plain)) == 17  # type: ignore[arg-type]
    assert stream_pending(Msg(None, reply=domain)) == 0  # type: ignore[arg-type]
    assert stream_sequence(Msg(None, reply=domain)) == 4107  # type: ignore[arg-type]
    assert stream_pending(Msg(None, reply="")) is None  # type: ignore[arg-type]
