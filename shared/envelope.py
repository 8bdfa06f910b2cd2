"""The one envelope every event travels in, and how raw bytes become a trusted event.

The envelope carries identity and ordering (event id, node, per-producer sequence), time
(when it happened, when it was recorded), causality (correlation, causation, trace context)
and the versioned payload. Payload contracts live in ``shared.contracts``.
"""

from __future__ import annotations

import json
import types
from copy import copy
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple, Protocol, Union, get_args, get_origin
from uuid import UUID

import uuid6
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)

from shared.contracts import EventPayload, UnknownEvent, all_contracts, is_latest, read_payload
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


class EventHead(Protocol):
    """What a consumer reads of an envelope, however the event was read: an `Envelope`
    (`parse_event`), or the head `read_event` validates together with its payload, whose ids are
    the text they arrived as (`str()` of either is the same)."""

    @property
    def event_id(self) -> UUID | str: ...
    @property
    def type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def hub(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def traceparent(self) -> str | None: ...


class Received(Protocol):
    """An event as a consumer reads it: its envelope and its payload at the latest version
    (a `ReceivedEvent` from `parse_event`, or what `read_event` gives)."""

    @property
    def envelope(self) -> EventHead: ...
    @property
    def payload(self) -> EventPayload: ...


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


class ReadEvent(NamedTuple):
    """An event read in one validation (`read_event`): the head holds the payload too."""

    envelope: EventHead
    payload: EventPayload


def read_event(raw: bytes) -> Received:
    """`parse_event`, in one validation of the bytes where it can: the envelope and the payload
    together, with the model of the envelope's type (a discriminated union of the latest version
    of every contract), ids checked for their canonical form and kept as text rather than made
    UUIDs and turned back into text. Anything else (an older version to upcast, an id in another
    form, an event signed in its envelope, anything invalid) goes to `parse_event`, so the events
    read, and the reasons given for those refused, are the same."""
    if len(raw) <= MAX_EVENT_BYTES:
        try:
            head = _reader().validate_json(raw)
        except ValidationError:
            pass
        else:
            return ReadEvent(head, head.payload)
    return parse_event(raw)


CANONICAL_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""A UUID as `str(UUID)` writes it: the only form `read_event` keeps as it is."""
_IdText = Annotated[str, StringConstraints(pattern=CANONICAL_ID)]


@cache
def _reader() -> TypeAdapter[Any]:
    """The envelope of each contract's latest version with its payload, told apart by type."""
    literal: Any = Literal
    heads = [
        create_model(
            f"Read{c.event_type}",
            __config__=Envelope.model_config,
            **_head_fields(),
            type=(literal[c.event_type], ...),
            version=(literal[c.version], ...),
            payload=(_with_ids_as_text(c), ...),
        )
        for c in all_contracts()
        if is_latest(c)
    ]
    union: Any = Annotated[Union[tuple(heads)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


def _head_fields() -> dict[str, Any]:
    """The envelope's fields but its type, version and payload, ids as text; no signature (an
    event signed in its envelope is checked over the envelope as `parse_event` reads it)."""
    fields: dict[str, Any] = {
        name: (_ids_as_text(f.annotation), copy(f))
        for name, f in Envelope.model_fields.items()
        if name not in ("type", "version", "payload", "signature")
    }
    return {**fields, "signature": (None, None)}


@cache
def _with_ids_as_text(model: type[BaseModel]) -> type[BaseModel]:
    """A subclass of `model` whose UUID fields (nested ones too) take canonical text instead."""
    changed: dict[str, Any] = {
        name: (annotation, copy(f))
        for name, f in model.model_fields.items()
        if (annotation := _ids_as_text(f.annotation)) is not f.annotation
    }
    if not changed:
        return model
    made: type[BaseModel] = create_model(
        model.__name__, __base__=model, __module__=model.__module__, **changed
    )
    return made


def _ids_as_text(annotation: Any) -> Any:
    if annotation is UUID:
        return _IdText
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _with_ids_as_text(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None:
        return annotation
    new = tuple(a if a is Ellipsis else _ids_as_text(a) for a in args)
    if all(n is a for n, a in zip(new, args, strict=True)):
        return annotation
    if origin is Annotated:
        return Annotated[(new[0], *annotation.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[new]  # noqa: UP007
    return origin[new]


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
