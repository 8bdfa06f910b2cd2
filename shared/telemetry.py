"""OpenTelemetry for each service: its tracer and meter providers, named for it, passed explicitly
to what it instruments (so services sharing a process, as in ``hub demo``, still report apart), the
Prometheus text its ``/metrics`` serves, and logs that carry the trace id."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import HubSettings

_configured = False
_process_exports = False
"""Whether the process's tracer provider (`configure_tracing`) sends spans anywhere."""

LABELLED_RESOURCE = frozenset({"service.name", "hub.node"})
"""Resource attributes copied onto every Prometheus series (``service_name``, ``hub_node``), so a
dashboard tells services and nodes apart whatever the scrape job calls them."""


SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Histogram buckets for durations in seconds (the SDK's default ones suit milliseconds)."""


HTTP_VIEWS = (
    View(
        instrument_name="http.server.duration",
        attribute_keys={"http.method", "http.status_code", "http.target"},
    ),
    View(instrument_name="http.server.active_requests", attribute_keys={"http.method"}),
    View(instrument_name="http.server.request.size", aggregation=DropAggregation()),
    View(instrument_name="http.server.response.size", aggregation=DropAggregation()),
)
"""HTTP series by method, status and route template only: the Host header and the like are the
client's to choose, and would make a series per value sent."""


def service_name(service: str) -> str:
    """The ``service.name`` a service's spans and metrics carry, whatever command started it."""
    return f"hub-ledger-{service}"


def resource(settings: HubSettings, name: str, node: str | None = None) -> Resource:
    attributes = {"service.name": name, "hub": settings.hub, **({"hub.node": node} if node else {})}
    return Resource.create(attributes)


@dataclass(frozen=True)
class Telemetry:
    """One service's providers. `traced`: spans go somewhere, so per-event and per-statement spans
    are worth their cost (without an exporter they are skipped, not made and dropped)."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    registry: CollectorRegistry | None = None
    traced: bool = False

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def meter(self, name: str) -> metrics.Meter:
        return self.meter_provider.get_meter(name)

    def exposition(self) -> bytes:
        """This service's metrics in Prometheus' text format (empty without a Prometheus reader)."""
        return generate_latest(self.registry) if self.registry is not None else b""

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Spans for each statement on `engine` (SQL text only, never parameters), when traced."""
        if not self.traced:
            return
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        usage = self.meter("hub-ledger.db").create_up_down_counter(
            "db.client.connections.usage", unit="{connection}"
        )
        tracer = self.tracer("hub-ledger.db")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]  # untyped

    @classmethod
    def quiet(cls) -> Telemetry:
        """No spans, no metrics (tools and tests that build a part of a service on its own)."""
        return cls(trace.NoOpTracerProvider(), metrics.NoOpMeterProvider())


def service_telemetry(
    settings: HubSettings,
    service: str,
    node: str | None = None,
    *,
    own_traces: bool = False,
    extra: SpanProcessor | None = None,
) -> Telemetry:
    """A service's telemetry: its own meter provider always (metrics are per service whatever shares
    the process); spans through the process's provider (`configure_process`), or, with
    `own_traces` (the demo: many services, one process), a tracer provider of its own."""
    name = service_name(service)
    meters, registry = _meter_provider(settings, resource(settings, name, node))
    tracer_provider: trace.TracerProvider
    if own_traces:
        tracer_provider, exports = _tracer_provider(settings, resource(settings, name, node), extra)
    else:
        tracer_provider, exports = trace.get_tracer_provider(), _process_exports
    return Telemetry(tracer_provider, meters, registry, exports)


def _meter_provider(
    settings: HubSettings, where: Resource
) -> tuple[MeterProvider, CollectorRegistry | None]:
    readers: list[MetricReader] = []
    registry = None
    if settings.metrics in ("prometheus", "both"):
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        registry = CollectorRegistry(auto_describe=True)
        readers.append(
            PrometheusMetricReader(
                registry=registry,
                scope_info_enabled=False,
                resource_attribute_filter=LABELLED_RESOURCE.__contains__,
            )
        )
    if settings.metrics in ("otlp", "both"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(**_otlp_endpoint(settings, "metrics"))
        readers.append(PeriodicExportingMetricReader(exporter))  # OTEL_METRIC_EXPORT_INTERVAL
    return MeterProvider(metric_readers=readers, resource=where, views=HTTP_VIEWS), registry


def _otlp_endpoint(settings: HubSettings, signal: str) -> dict[str, Any]:
    """``HUB_OTLP_ENDPOINT`` is the collector's base URL; unset, the exporters' own default."""
    base = settings.otlp_endpoint
    if not base:
        return {}
    for suffix in ("/v1/traces", "/v1/metrics"):
        base = base.removesuffix(suffix)
    return {"endpoint": f"{base.rstrip('/')}/v1/{signal}"}


def _tracer_provider(
    settings: HubSettings, where: Resource, extra: SpanProcessor | None
) -> tuple[TracerProvider, bool]:
    provider = TracerProvider(resource=where)
    if settings.telemetry == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.telemetry == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(**_otlp_endpoint(settings, "traces"))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if extra is not None:
        provider.add_span_processor(extra)
    return provider, settings.telemetry != "none" or extra is not None


def instrument_http_clients() -> None:
    """Spans for the process's httpx requests (the demo's sample loader), through the process's
    tracer provider: the W3C ``traceparent`` they carry starts the trace the services continue."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())


def configure_process(settings: HubSettings, service: str, node: str | None = None) -> None:
    """Logging and tracing for a process that runs `service` (of `node`): each service's entry
    calls this before it builds anything, so every way of starting it traces the same way."""
    configure_logging(settings)
    configure_tracing(settings, service_name(service), node=node)


def configure_tracing(
    settings: HubSettings,
    service_name: str,
    extra: SpanProcessor | None = None,
    node: str | None = None,
) -> None:
    """Install the process's tracer provider, exporting as configured (once per process): services
    built without a tracer provider of their own trace through it."""
    global _configured, _process_exports
    if _configured:
        return
    provider, _process_exports = _tracer_provider(
        settings, resource(settings, service_name, node), extra
    )
    trace.set_tracer_provider(provider)
    _configured = True


class TraceContextFilter(logging.Filter):
    """Adds the current trace and span ids to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else "-"
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", "-"),
            "span_id": getattr(record, "span_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: HubSettings) -> None:
    """Structured (JSON) or readable text logs on stderr, each line with its trace id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
