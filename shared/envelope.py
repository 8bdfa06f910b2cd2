"""The one envelope every event travels in, and how raw bytes become a trusted event.

The envelope carries identity and ordering (event id, node, per-producer sequence), time
(when it happened, when it was recorded), causality (correlation, causation, trace context)
and the versioned payload. Payload contracts live in ``shared.contracts``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uuid6
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contracts import EventPayload, UnknownEvent, read_payload
from shared.identity import Slug

MAX_EVENT_BYTES = 256 * 1024
"""Larger messages are dead-lettered unread: no legitimate event comes close."""


def new_event_id() -> UUID:
    """Time-ordered (UUIDv7) id, so ids sort in the order events were made."""
    return uuid6.uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata common to every event, with the payload as published (not yet upcast)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(description="Unique, time-ordered id; also the JetStream Nats-Msg-Id.")
    type: str = Field(
        min_length=1, max_length=80, description="Event type, e.g. PartnerRegistered."
    )
    version: int = Field(ge=1, description="Schema version of the payload.")
    hub: Slug = Field(description="Hub the node belongs to.")
    node: Slug = Field(description="Lead organisation (node) that published the event.")
    service: str = Field(min_length=1, max_length=40, description="Producing service on that node.")
    sequence: int = Field(
        ge=1, description="Gapless per (node, service) counter: a gap means loss."
    )
    occurred_at: datetime = Field(description="When the fact happened in the world.")
    recorded_at: datetime = Field(description="When the producing service committed it.")
    correlation_id: UUID = Field(description="Shared by every event caused by one request.")
    causation_id: UUID | None = Field(
        default=None, description="The event or command that caused it."
    )
    traceparent: str | None = Field(
        default=None, description="W3C trace context of the writing request."
    )
    payload: dict[str, Any] = Field(description="The versioned payload, see the event catalogue.")
    signature: str | None = Field(
        default=None,
        description=(
            "Only in events published before batch signing: the node's signature over the rest "
            "(still verified). Relays now sign batches in headers (see Signatures)."
        ),
    )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def signing_bytes(self) -> bytes:
        """Canonical bytes a node signs: everything but the signature, keys sorted."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class InvalidEvent(Exception):
    """Raw bytes that cannot be trusted as an event; `reason` goes into the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReceivedEvent(BaseModel):
    """An event as a consumer sees it: the envelope and its payload upcast to the latest version."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    envelope: Envelope
    payload: EventPayload


def parse_event(raw: bytes) -> ReceivedEvent:
    """Validate raw message bytes into an event, raising InvalidEvent with a readable reason."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"message of {len(raw)} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"envelope invalid: {_summarise(exc)}") from None
    try:
        payload = read_payload(envelope.type, envelope.version, envelope.payload)
    except UnknownEvent as exc:
        raise InvalidEvent(str(exc)) from None
    except ValidationError as exc:
        raise InvalidEvent(
            f"payload of {envelope.type} v{envelope.version} invalid: {_summarise(exc)}"
        ) from None
    return ReceivedEvent(envelope=envelope, payload=payload)


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
