"""AsyncAPI 3.0 documents generated from the event contracts, so the description of what goes over
NATS cannot drift from what is published: every subject, every version's payload schema, the
envelope and the headers.

Node services serve a document of what they send, reporting one of what it receives (and
dead-letters); `hub docs` writes the whole hub's to docs/asyncapi.json.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.contracts import EventPayload, all_contracts, is_latest
from shared.dead_letters import CONSUMER, ORIGINAL_SEQ, ORIGINAL_SUBJECT, REASON
from shared.envelope import Envelope
from shared.signing import PROOF_HEADER_MEANINGS
from shared.subjects import DLQ_PREFIX, PREFIX

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/"
EVENT_HEADERS = {
    "Nats-Msg-Id": "The event id: JetStream drops a second publication of the same event.",
    "traceparent": "W3C trace context of the relay's publish span (absent without tracing).",
    **PROOF_HEADER_MEANINGS,
}
DEAD_LETTER_HEADERS = {
    REASON: "Why the consumer refused the message.",
    ORIGINAL_SUBJECT: "The subject the message was published on.",
    ORIGINAL_SEQ: "Its sequence in the hub stream.",
    CONSUMER: "The consumer that refused it.",
    **PROOF_HEADER_MEANINGS,
}
PARAMETERS = {
    "hub": {"description": "The hub's slug, e.g. heart-of-england."},
    "node": {"description": "The publishing node's slug (one of the hub's nodes)."},
}


def asyncapi_document(
    title: str, *, sends: Iterable[str] = (), receives: Iterable[str] = ()
) -> dict[str, Any]:
    """The AsyncAPI document of an application that publishes the events of the services in
    `sends` and consumes those of `receives`; a receiver also describes its dead letters."""
    sending, receiving = set(sends), set(receives)
    contracts = [c for c in all_contracts() if c.service in sending | receiving]
    channels = {_channel_id(c): _channel(c) for c in contracts}
    operations = {
        f"{verb}.{_channel_id(c)}": _operation(action, c)
        for c in contracts
        for verb, action, services in (
            ("publish", "send", sending),
            ("consume", "receive", receiving),
        )
        if c.service in services
    }
    messages = {_message_id(c): _message(c) for c in contracts}
    if receiving:
        channels["deadLetters"] = _dead_letter_channel()
        operations["deadLetter"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/deadLetters"},
            "summary": "A message the consumer refused, with the reason; `hub dlq` reads them.",
            "messages": [{"$ref": "#/channels/deadLetters/messages/DeadLetter"}],
        }
        messages["DeadLetter"] = _dead_letter_message()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": _package_version(),
            "description": "Events on NATS JetStream, generated from `shared/contracts` "
            "(docs/events.md describes the same contracts in prose). Every event travels in "
            "the same JSON envelope; its `payload` is the event type's versioned contract.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": _schemas(contracts), "messages": messages},
    }


def event_services() -> list[str]:
    """The services that publish events (those with contracts)."""
    return sorted({c.service for c in all_contracts()})


def hub_document() -> dict[str, Any]:
    """The whole hub: every node service's events, as they publish and reporting consumes them."""
    services = event_services()
    return asyncapi_document("Hub Ledger events", sends=services, receives=services)


def _channel_id(cls: type[EventPayload]) -> str:
    return f"{cls.service}.{cls.event_type}.v{cls.version}"


def _message_id(cls: type[EventPayload]) -> str:
    return f"{cls.event_type}V{cls.version}"


def _channel(cls: type[EventPayload]) -> dict[str, Any]:
    name = _message_id(cls)
    return {
        "address": f"{PREFIX}.{{hub}}.{{node}}.{cls.service}.{cls.event_type}.v{cls.version}",
        "title": f"{cls.event_type} v{cls.version}",
        "summary": _status(cls),
        "parameters": PARAMETERS,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
    }


def _operation(action: str, cls: type[EventPayload]) -> dict[str, Any]:
    channel = _channel_id(cls)
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{_pointer(channel)}"},
        "messages": [{"$ref": f"#/channels/{_pointer(channel)}/messages/{_message_id(cls)}"}],
    }


def _message(cls: type[EventPayload]) -> dict[str, Any]:
    return {
        "name": cls.event_type,
        "title": f"{cls.event_type} v{cls.version}",
        "summary": _first_line(cls.__doc__),
        "contentType": "application/json",
        "headers": _headers_schema(EVENT_HEADERS, required=["Nats-Msg-Id"]),
        "payload": {
            "allOf": [
                {"$ref": f"{SCHEMAS}Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": cls.event_type},
                        "version": {"const": cls.version},
                        "service": {"const": cls.service},
                        "payload": {"$ref": f"{SCHEMAS}{cls.__name__}"},
                    },
                },
            ]
        },
    }


def _dead_letter_channel() -> dict[str, Any]:
    return {
        "address": f"{DLQ_PREFIX}.{{hub}}.{{consumer}}",
        "title": "Dead letters",
        "parameters": {
            "hub": PARAMETERS["hub"],
            "consumer": {"description": "The durable consumer that refused the message."},
        },
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "The refused message's bytes as received, unchanged, so it can be replayed.",
        "contentType": "application/octet-stream",
        "headers": _headers_schema(DEAD_LETTER_HEADERS, required=[REASON, ORIGINAL_SUBJECT]),
        "payload": {"type": "string", "description": "The original message's bytes."},
    }


def _headers_schema(meanings: dict[str, str], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": d} for name, d in meanings.items()},
        "required": required,
    }


def _schemas(contracts: list[type[EventPayload]]) -> dict[str, Any]:
    """The envelope's and every payload's JSON Schema, shared definitions (enums, participants)
    once, each referenced by `#/components/schemas/<name>`."""
    models: list[type[BaseModel]] = [Envelope, *contracts]
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(schemas.items()))


def _status(cls: type[EventPayload]) -> str:
    return "Current version." if is_latest(cls) else "Superseded: still readable, upcast on read."


def _first_line(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    return " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())


def _pointer(key: str) -> str:
    """A key as a JSON Pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _package_version() -> str:
    try:
        return version("hub-ledger")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"
