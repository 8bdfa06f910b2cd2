"""Properties over every event contract: a genuine event round-trips; any mutation of it, and any
bytes at all, either parse or raise InvalidEvent (which becomes a dead letter), never anything
else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contracts import all_contracts, contract, read_payload
from shared.envelope import (
    Envelope,
    InvalidEvent,
    Received,
    new_event_id,
    parse_event,
    read_event,
    utcnow,
)

SAMPLES = Path(__file__).parent / "samples"
CONTRACTS = [(c.event_type, c.version, c.service) for c in all_contracts()]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample(event_type: str, version: int) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{event_type}.v{version}.json").read_text())


def envelope(
    event_type: str, version: int, service: str, payload: Any, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": str(new_event_id()),
        "type": event_type,
        "version": version,
        "hub": "heart-of-england",
        "node": "coventry",
        "service": service,
        "sequence": 1,
        "occurred_at": utcnow().isoformat(),
        "recorded_at": utcnow().isoformat(),
        "correlation_id": str(new_event_id()),
        "payload": payload,
        **extra,
    }


def parses_or_refuses(raw: bytes) -> str:
    """Whether `parse_event` reads or refuses `raw`; `read_event`, the consumer's one validation,
    must read the same event or refuse it for the same reason."""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        assert exc.reason, "a dead letter needs a reason"
        with pytest.raises(InvalidEvent) as also:
            read_event(raw)
        assert also.value.reason == exc.reason
        return "invalid"
    assert as_read(read_event(raw)) == as_read(event)
    return "parsed"


def as_read(event: Received) -> tuple[dict[str, str], type, dict[str, Any]]:
    """What a consumer can read of an event: the envelope's fields as text, the contract of the
    payload and the payload's values."""
    head = {
        name: str(getattr(event.envelope, name))
        for name in Envelope.model_fields
        if name not in ("payload", "signature")
    }
    latest = contract(event.envelope.type)
    assert isinstance(event.payload, latest)
    return head, latest, event.payload.model_dump(mode="json")


@pytest.mark.parametrize(("event_type", "version", "service"), CONTRACTS)
@FAST
@given(
    sequence=st.integers(1, 2**53),
    node=st.from_regex(r"[a-z][a-z0-9-]{0,38}[a-z0-9]", fullmatch=True),
)
def test_every_contract_round_trips_through_bytes(
    event_type: str, version: int, service: str, sequence: int, node: str
) -> None:
    doc = envelope(
        event_type, version, service, sample(event_type, version), sequence=sequence, node=node
    )
    raw = json.dumps(doc).encode()
    event = parse_event(raw)
    assert as_read(read_event(raw)) == as_read(event)
    again = parse_event(event.envelope.to_bytes())
    assert again == event
    latest = contract(event_type)
    assert type(event.payload) is latest
    assert (
        read_payload(event_type, latest.version, event.payload.model_dump(mode="json"))
        == event.payload
    )


@pytest.mark.parametrize(("event_type", "version", "service"), CONTRACTS)
@FAST
@given(data=st.data())
def test_mutated_payloads_parse_or_are_refused(
    event_type: str, version: int, service: str, data: st.DataObject
) -> None:
    payload = sample(event_type, version)
    keys = sorted(payload)
    action = data.draw(st.sampled_from(["drop", "replace", "add", "whole"]))
    if action == "drop" and keys:
        payload.pop(data.draw(st.sampled_from(keys)))
    elif action == "replace" and keys:
        payload[data.draw(st.sampled_from(keys))] = data.draw(JSON)
    elif action == "add":
        payload[data.draw(st.text(min_size=1, max_size=10))] = data.draw(JSON)
    else:
        payload = data.draw(JSON)
    parses_or_refuses(json.dumps(envelope(event_type, version, service, payload)).encode())


@FAST
@given(
    field=st.sampled_from(
        [
            "event_id",
            "type",
            "version",
            "hub",
            "node",
            "service",
            "sequence",
            "occurred_at",
            "correlation_id",
            "payload",
        ]
    ),
    value=JSON,
)
def test_mutated_envelopes_parse_or_are_refused(field: str, value: Any) -> None:
    event_type, version, service = CONTRACTS[0]
    doc = envelope(event_type, version, service, sample(event_type, version))
    doc[field] = value
    assert parses_or_refuses(json.dumps(doc).encode()) in {"parsed", "invalid"}


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_any_bytes_parse_or_are_refused(raw: bytes) -> None:
    assert parses_or_refuses(raw) == "invalid" or raw.strip().startswith(b"{")


@settings(max_examples=50, deadline=None)
@given(cut=st.integers(0, 2000), junk=st.binary(max_size=20))
def test_truncated_and_spliced_events_are_refused(cut: int, junk: bytes) -> None:
    event_type, version, service = CONTRACTS[0]
    raw = json.dumps(envelope(event_type, version, service, sample(event_type, version))).encode()
    cut = min(cut, len(raw) - 1)
    assert parses_or_refuses(raw[:cut] + junk) in {"parsed", "invalid"}


def test_unknown_types_versions_and_oversized_events_are_refused_with_a_reason() -> None:
    event_type, version, service = CONTRACTS[0]
    body = sample(event_type, version)
    for doc, reason in (
        (envelope("MoneyPrinted", 1, service, body), "MoneyPrinted"),
        (envelope(event_type, 99, service, body), "99"),
        (envelope(event_type, version, service, {**body, "pad": "x" * 300_000}), "exceeds"),
    ):
        with pytest.raises(InvalidEvent, match=reason):
            parse_event(json.dumps(doc).encode())
    assert isinstance(
        Envelope.model_validate_json(json.dumps(envelope(event_type, version, service, body))),
        Envelope,
    )
