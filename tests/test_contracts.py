"""Event contracts: every published version keeps parsing; old versions are upcast;
bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contracts import all_contracts, read_payload
from shared.contracts.activities import ActivityDelivered
from shared.envelope import Envelope, InvalidEvent, new_event_id, parse_event, utcnow

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
