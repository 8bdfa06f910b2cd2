"""Versioned event payload contracts, one module per bounded context.

Every payload is a frozen pydantic model registered with its type, version and service.
Optional additions keep the version; a breaking change adds a new version and an upcaster
that turns the previous version's payload into the new shape, so old events stay readable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

UpcastFn = Callable[[dict[str, Any]], dict[str, Any]]
P = TypeVar("P", bound="EventPayload")

_MODELS: dict[tuple[str, int], type[EventPayload]] = {}
_LATEST: dict[str, int] = {}
_UPCASTERS: dict[tuple[str, int], UpcastFn] = {}


class NodeRule(StrEnum):
    """Which nodes a node-naming payload field may name (the hub's nodes are a closed set)."""

    HUB = "hub"
    """Any of the hub's nodes (e.g. the area an activity took place in)."""
    OWN = "own"
    """Only the publishing node: a node speaks for its own area, never another's."""
    OTHER = "other"
    """A hub node other than the publisher: a transfer's other side
    (an own share is no transfer)."""


class EventPayload(BaseModel):
    """Base of every payload. Tolerant reader: unknown fields from newer producers are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    version: ClassVar[int]
    service: ClassVar[str]
    node_fields: ClassVar[Mapping[str, NodeRule]] = {}
    """Fields naming a node or a node's area (dotted into nested models) and which nodes they may
    name; fields that may name places outside the hub (a pupil's home) are not listed. The areas an
    organisation serves are the hub's (a node's register is of its hub's partners)."""


def named_nodes(payload: EventPayload) -> Iterator[tuple[str, str, NodeRule]]:
    """Each (field, node named, rule) of a payload's node-naming fields that are set."""
    for path, rule in payload.node_fields.items():
        value: Any = payload
        for part in path.split("."):
            value = getattr(value, part, None)
        for named in value if isinstance(value, tuple) else (value,):
            if named is not None:
                yield path.rsplit(".", 1)[-1], str(named), rule


def node_problem(
    field: str, named: str, rule: NodeRule, publisher: str, nodes: Collection[str] | None
) -> str | None:
    """Why `field` may not name `named` when `publisher` publishes (None if it may). `nodes` None:
    the hub's set is not known here, so only the rules that need no set are checked."""
    if rule == NodeRule.OWN and named != publisher:
        return f"{named!r} is not this node's own: must be {publisher!r}"
    if rule == NodeRule.OTHER and named == publisher:
        others = ", ".join(n for n in nodes or () if n != publisher)
        return (
            f"{named!r} is this node: a lead organisation's own share is not a transfer to itself"
            + (f"; one of {others}" if others else "")
        )
    if nodes is not None and named not in nodes:
        allowed = [n for n in nodes if rule != NodeRule.OTHER or n != publisher]
        return f"{named!r} is not one of the hub's nodes: one of {', '.join(allowed)}"
    return None


def node_problems(
    payload: EventPayload, publisher: str, nodes: Collection[str] | None
) -> dict[str, str]:
    """Field → reason for every node-naming field of `payload` naming a node it may not."""
    problems: dict[str, str] = {}
    for name, named, rule in named_nodes(payload):
        if name not in problems and (problem := node_problem(name, named, rule, publisher, nodes)):
            problems[name] = problem
    return problems


class UnknownEvent(Exception):
    """No contract is registered for a type and version (or no path upcasts it)."""


def event(service: str, event_type: str, version: int) -> Callable[[type[P]], type[P]]:
    """Register a payload class as the contract for (event_type, version) published by `service`."""

    def register(cls: type[P]) -> type[P]:
        key = (event_type, version)
        if key in _MODELS:
            raise RuntimeError(f"contract {event_type} v{version} registered twice")
        cls.event_type, cls.version, cls.service = event_type, version, service
        _MODELS[key] = cls
        _LATEST[event_type] = max(_LATEST.get(event_type, 0), version)
        return cls

    return register


def upcaster(event_type: str, from_version: int) -> Callable[[UpcastFn], UpcastFn]:
    """Register a pure function turning a `from_version` payload dict into `from_version + 1`."""

    def register(fn: UpcastFn) -> UpcastFn:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def read_payload(event_type: str, version: int, data: dict[str, Any]) -> EventPayload:
    """Upcast `data` step by step to the latest version of `event_type` and validate it."""
    _load_all()
    latest = _LATEST.get(event_type)
    if latest is None:
        raise UnknownEvent(f"unknown event type {event_type!r}")
    if (event_type, version) not in _MODELS:
        raise UnknownEvent(f"unknown version {version} of {event_type} (latest is {latest})")
    if version < latest:  # an old event must be valid as written before an upcaster may read it
        _MODELS[(event_type, version)].model_validate(data)
    while version < latest:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEvent(f"no upcaster from {event_type} v{version}")
        data = step(dict(data))
        version += 1
    return _MODELS[(event_type, version)].model_validate(data)


def contract(event_type: str, version: int | None = None) -> type[EventPayload]:
    """The payload class for a type (latest version unless given)."""
    _load_all()
    return _MODELS[(event_type, version or _LATEST[event_type])]


def all_contracts() -> list[type[EventPayload]]:
    """Every registered payload class, every version, sorted by service, type and version."""
    _load_all()
    return sorted(_MODELS.values(), key=lambda c: (c.service, c.event_type, c.version))


def is_latest(cls: type[EventPayload]) -> bool:
    return _LATEST[cls.event_type] == cls.version


_loaded = False


def _load_all() -> None:
    """Import every context module so their contracts are registered
    (once; this is on the hot path)."""
    global _loaded
    if not _loaded:
        from shared.contracts import activities, funding, partners  # noqa: F401 (registers them)

        _loaded = True
