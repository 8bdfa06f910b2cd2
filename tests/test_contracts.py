"""Event contracts: every published version keeps parsing; old versions are upcast;
bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts import all_contracts, contract, is_latest, read_payload
from shared.contracts.activities import ActivityDelivered
from shared.envelope import (
    Envelope,
    InvalidEvent,
    ReadEvent,
    ReceivedEvent,
    new_event_id,
    parse_event,
    read_event,
    utcnow,
)
from tests.test_property_contracts import as_read

SAMPLES = Path(__file__).parent / "samples"


def envelope_for(event_type: str, version: int, payload: dict, **extra: object) -> bytes:
    env = {
        "event_id": str(new_event_id()),
        "type": event_type,
        "version": version,
        "hub": "heart-of-england",
        "node": "coventry",
        "service": "activities",
        "sequence": 1,
        "occurred_at": utcnow().isoformat(),
        "recorded_at": utcnow().isoformat(),
        "correlation_id": str(new_event_id()),
        "payload": payload,
        **extra,
    }
    return json.dumps(env).encode()


def test_every_contract_version_has_a_kept_sample() -> None:
    kept = {p.stem for p in SAMPLES.glob("*.json")}
    missing = {f"{c.event_type}.v{c.version}" for c in all_contracts()} - kept
    assert not missing, f"add a sample payload for {sorted(missing)} to tests/samples"


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_kept_samples_still_parse(sample: Path) -> None:
    event_type, version = sample.stem.rsplit(".v", 1)
    data = json.loads(sample.read_text())
    payload = read_payload(event_type, int(version), data)
    assert payload.event_type == event_type


def test_activity_delivered_v1_is_upcast_to_current_shape() -> None:
    v1 = json.loads((SAMPLES / "ActivityDelivered.v1.json").read_text())
    payload = read_payload("ActivityDelivered", 1, v1)
    assert isinstance(payload, ActivityDelivered)
    assert payload.headcount == v1["participants"]
    assert payload.hours == 0


def test_parse_event_reads_an_old_version_through_the_envelope() -> None:
    v1 = json.loads((SAMPLES / "ActivityDelivered.v1.json").read_text())
    event = parse_event(envelope_for("ActivityDelivered", 1, v1))
    assert event.envelope.version == 1
    assert isinstance(event.payload, ActivityDelivered)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "envelope invalid"),
        (b"[]", "envelope invalid"),
        (envelope_for("NoSuchEvent", 1, {}), "unknown event type"),
        (envelope_for("ActivityDelivered", 9, {}), "unknown version 9"),
        (
            envelope_for("ActivityDelivered", 2, {"activity_id": "x"}),
            "payload of ActivityDelivered v2 invalid",
        ),
        (b'{"pad": "' + b"x" * 300_000 + b'"}', "exceeds"),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "unknown-type",
        "unknown-version",
        "bad-payload",
        "oversized",
    ],
)
def test_bad_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_event(raw)
    assert reason in refused.value.reason


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_escape_as_anything_but_invalid_event(raw: bytes) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        assert exc.reason
    else:  # pragma: no cover - random bytes forming a valid event would be remarkable
        pytest.fail("random bytes parsed as an event")


def test_signing_bytes_exclude_the_signature_and_are_stable() -> None:
    env = Envelope.model_validate_json(envelope_for("ActivityDelivered", 1, {}))
    signed = env.model_copy(update={"signature": "abc"})
    assert env.signing_bytes() == signed.signing_bytes()
    assert b"abc" not in signed.signing_bytes()


LATEST_SAMPLES = sorted((c.event_type, c.version) for c in all_contracts() if is_latest(c))


@pytest.mark.parametrize(("event_type", "version"), LATEST_SAMPLES, ids=str)
def test_the_consumer_reads_an_event_in_one_validation_ids_as_text(
    event_type: str, version: int
) -> None:
    raw = envelope_for(
        event_type, version, json.loads((SAMPLES / f"{event_type}.v{version}.json").read_text())
    )
    event = read_event(raw)
    assert isinstance(event, ReadEvent)  # not the two-step parse
    assert isinstance(event.payload, contract(event_type))
    assert type(event.envelope.event_id) is str
    assert as_read(event) == as_read(parse_event(raw))


def test_what_one_validation_cannot_read_as_it_is_is_read_as_parse_event_reads_it() -> None:
    v1 = json.loads((SAMPLES / "ActivityDelivered.v1.json").read_text())
    v2 = json.loads((SAMPLES / "ActivityDelivered.v2.json").read_text())
    shouting = str(new_event_id()).upper()
    doubled = envelope_for("ActivityDelivered", 2, v2).replace(
        b'"title": ', b'"title": "first", "title": '
    )
    for raw in (
        envelope_for("ActivityDelivered", 1, v1),  # upcast
        envelope_for("ActivityDelivered", 2, {**v2, "activity_id": shouting}),
        envelope_for("ActivityDelivered", 2, v2, signature="c2lnbmVk"),  # checked over the envelope
        doubled,
    ):
        assert as_read(read_event(raw)) == as_read(parse_event(raw))
    upcast = read_event(envelope_for("ActivityDelivered", 1, v1))
    assert isinstance(upcast, ReceivedEvent)
    assert upcast.payload.headcount == v1["participants"]  # type: ignore[attr-defined]
    normalised = read_event(envelope_for("ActivityDelivered", 2, {**v2, "activity_id": shouting}))
    assert str(normalised.payload.activity_id) == shouting.lower()  # type: ignore[attr-defined]
    signed = read_event(envelope_for("ActivityDelivered", 2, v2, signature="c2lnbmVk"))
    assert isinstance(signed.envelope, Envelope) and signed.envelope.signature == "c2lnbmVk"
