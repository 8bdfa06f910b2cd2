"""OpenTelemetry tracing and logs that carry the trace id, configured once per process."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from shared.settings import HubSettings

_configured = False


def service_name(service: str) -> str:
    """The ``service.name`` a service's spans carry, whatever command started it."""
    return f"hub-ledger-{service}"


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
    """Install a tracer provider exporting to the console or OTLP as configured
    (once per process)."""
    global _configured
    if _configured:
        return
    attributes = {
        "service.name": service_name,
        "hub": settings.hub,
        **({"hub.node": node} if node else {}),
    }
    provider = TracerProvider(resource=Resource.create(attributes))
    if settings.telemetry == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.telemetry == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint
        provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
            )
        )
    if extra is not None:
        provider.add_span_processor(extra)
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
