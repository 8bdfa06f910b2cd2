"""A seeded, realistic mix of hub events for benchmarks: partner changes, activities with
participations, and funding flows, from three node streams, a year's worth of events per academic
year (a large hub records under 100,000 events a year: docs/benchmarks.md), so a million events
are a decade of one hub's history, as a hub that has run for years holds them. Each node signs
its events as a deployed node's relay does (``shared.relay``: one signature per published batch,
each message carrying its proof in headers), with a key derived from the seed."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

from nacl.signing import SigningKey

from shared.signing import NodeSigner
from shared.subjects import event_subject

EVENTS_PER_YEAR = 100_000
FIRST_YEAR = 2024

MIX = (  # (service, event type, share of events)
    ("partners", "OrganisationRegistered", 0.08),
    ("partners", "PartnerStateChanged", 0.04),
    ("activities", "ActivityDelivered", 0.20),
    ("activities", "ParticipationRecorded", 0.45),
    ("funding", "IncomeRecorded", 0.05),
    ("funding", "ExpenditureRecorded", 0.18),
)


_PREREQUISITE = {
    "PartnerStateChanged": ("partners", "OrganisationRegistered"),
    "ParticipationRecorded": ("activities", "ActivityDelivered"),
    "ActivityDelivered": ("partners", "OrganisationRegistered"),
    "ExpenditureRecorded": ("funding", "IncomeRecorded"),
}


RELAY_BATCH = 1000
"""Events a relay publishes (and signs) at once: its default batch (``OutboxRelay``)."""


@dataclass(frozen=True)
class GeneratedEvent:
    subject: str
    body: bytes
    event_id: str
    headers: dict[str, str] = field(default_factory=dict)
    """The node's batch signature headers, when signed."""


class _NodeState:
    def __init__(self) -> None:
        self.sequence: dict[str, int] = {}
        self.organisations: list[str] = []
        self.activities: list[str] = []
        self.income: list[str] = []


def bench_signers(nodes: list[str], seed: int = 7) -> dict[str, NodeSigner]:
    """Each node's signing key, the same for a seed: a run's events verify against `public_keys`."""
    rng = random.Random(f"signers {seed}")
    return {node: NodeSigner(SigningKey(rng.randbytes(32))) for node in nodes}


def public_keys(signers: Mapping[str, NodeSigner]) -> dict[str, str]:
    """The reporting service's node keys file for these signers ({node: base64 public key})."""
    return {node: signer.public_key for node, signer in signers.items()}


def academic_years(count: int) -> list[str]:
    """The academic years `count` events of the mix cover, oldest first."""
    return [_year_name(y) for y in range(max(1, -(-count // EVENTS_PER_YEAR)))]


def _year_name(index: int) -> str:
    return f"{FIRST_YEAR + index}-{(FIRST_YEAR + index + 1) % 100:02d}"


def event_mix(
    hub: str,
    nodes: list[str],
    count: int,
    seed: int = 7,
    signers: Mapping[str, NodeSigner] | None = None,
) -> Iterator[GeneratedEvent]:
    """`count` events spread over `nodes`, deterministic for a seed; pupils continue from year to
    year (the same pool), activities and their participations belong to one year. Signed by their
    node's signer when `signers` are given: each window of `RELAY_BATCH` events as one batch per
    node, as each node's relays would have published them."""
    events = _unsigned_mix(hub, nodes, count, seed)
    if signers is None:
        yield from events
        return
    while window := list(islice(events, RELAY_BATCH)):
        yield from _signed(hub, window, signers)


def _signed(
    hub: str, events: list[GeneratedEvent], signers: Mapping[str, NodeSigner]
) -> list[GeneratedEvent]:
    """The window's events with their node's batch signature headers, in their order."""
    by_node: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_node.setdefault(event.subject.split(".")[2], []).append(i)
    signed = list(events)
    for node, places in by_node.items():
        proofs = signers[node].sign_batch(hub, node, [events[i].body for i in places])
        for i, headers in zip(places, proofs, strict=True):
            signed[i] = GeneratedEvent(
                events[i].subject, events[i].body, events[i].event_id, headers
            )
    return signed


def _unsigned_mix(hub: str, nodes: list[str], count: int, seed: int) -> Iterator[GeneratedEvent]:
    rng = random.Random(seed)
    states = {node: _NodeState() for node in nodes}
    # the same pool whatever the count, so that a longer mix begins with a shorter one (the
    # queries' burst is the events after those published)
    pupils = [f"{rng.getrandbits(256):064x}" for _ in range(EVENTS_PER_YEAR // 4)]
    kinds, weights = [(s, t) for s, t, _ in MIX], [w for *_, w in MIX]
    for i in range(count):
        year, into_year = divmod(i, EVENTS_PER_YEAR)
        if into_year == 0:
            for state in states.values():
                # a new year's participations are in that year's activities
                state.activities.clear()
        node = rng.choice(nodes)
        state = states[node]
        service, event_type = rng.choices(kinds, weights)[0]
        moment = datetime(FIRST_YEAR + year, 9, 2, tzinfo=UTC) + timedelta(minutes=into_year * 5)
        ids = _Ids(rng, int(moment.timestamp() * 1000))
        payload = _payload(event_type, rng, ids, state, node, pupils, year)
        while payload is None:  # needs something that does not exist yet: make that first
            service, event_type = _PREREQUISITE[event_type]
            payload = _payload(event_type, rng, ids, state, node, pupils, year)
        key = service
        state.sequence[key] = state.sequence.get(key, 0) + 1
        when = moment.isoformat()
        event_id = ids.new()
        envelope: dict[str, Any] = {
            "event_id": event_id,
            "type": event_type,
            "version": 1 if event_type != "ActivityDelivered" else 2,
            "hub": hub,
            "node": node,
            "service": service,
            "sequence": state.sequence[key],
            "occurred_at": when,
            "recorded_at": when,
            "correlation_id": event_id,
            "payload": payload,
        }
        version = envelope["version"]
        body = json.dumps(envelope).encode()
        yield GeneratedEvent(event_subject(hub, node, service, event_type, version), body, event_id)


class _Ids:
    """Seed-determined UUIDv7s of one moment, time-ordered as the ids nodes make are
    (`shared.envelope.new_event_id`): the order decides how much work a database's primary-key
    index does per insert (random ids scatter every insert across the index), so the bench must
    not use random ones. Seeded, so that runs repeat (uuid6.uuid7() is not, and costs more:
    docs/benchmarks.md)."""

    def __init__(self, rng: random.Random, unix_ms: int) -> None:
        self._rng, self._ms = rng, unix_ms

    def new(self) -> str:
        value = (
            (self._ms << 80)
            | (0x7 << 76)
            | (self._rng.getrandbits(12) << 64)
            | (0b10 << 62)
            | self._rng.getrandbits(62)
        )
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _payload(
    event_type: str,
    rng: random.Random,
    ids: _Ids,
    s: _NodeState,
    node: str,
    pupils: list[str],
    year: int,
) -> dict[str, Any] | None:
    new_id = ids.new()
    day = date(FIRST_YEAR + year, 9, 2) + timedelta(days=rng.randrange(330))
    if event_type == "OrganisationRegistered":
        s.organisations.append(new_id)
        return {
            "organisation_id": new_id,
            "name": f"Partner {len(s.organisations)}",
            "roles": ["delivery_partner"],
            "areas": [node],
            "functions": ["progression"],
        }
    if event_type == "PartnerStateChanged":
        if not s.organisations:
            return None
        return {
            "organisation_id": rng.choice(s.organisations),
            "from_state": "interest",
            "to_state": "under_review",
            "decided_by": "bench",
            "decided_at": f"{day}T10:00:00+00:00",
        }
    if event_type == "ActivityDelivered":
        if not s.organisations:
            return None
        s.activities.append(new_id)
        return {
            "activity_id": new_id,
            "kind": rng.choice(["wcet", "tuition", "ensemble", "workshop"]),
            "title": "Bench activity",
            "delivered_by": rng.choice(s.organisations),
            "area": node,
            "starts_on": str(day),
            "ends_on": str(day + timedelta(weeks=10)),
            "hours": "20",
            "headcount": 25,
            "functions": ["schools"],
            "aims": ["support_schools"],
            "level": rng.choice(["beginner", "beginner", "intermediate", "advanced"]),
            "academic_year": _year_name(year),
        }
    if event_type == "ParticipationRecorded":
        if not s.activities:
            return None
        return {
            "activity_id": rng.choice(s.activities),
            "academic_year": _year_name(year),
            "participants": [
                {
                    "participation_id": ids.new(),
                    "pseudonym": rng.choice(pupils),
                    "year_group": str(rng.randint(1, 11)),
                    "send": "none",
                    "fsm": rng.random() < 0.25,
                    "looked_after": False,
                    "ethnicity": "white",
                    "gender": rng.choice(["female", "male"]),
                    "school_urn": f"{rng.randint(100000, 140000)}",
                    "home_area": node,
                }
                for _ in range(rng.randint(1, 10))
            ],
        }
    if event_type == "IncomeRecorded":
        s.income.append(new_id)
        return {
            "entry_id": new_id,
            "source": "local_authority",
            "funder": f"{node} council",
            "stream": "revenue",
            "amount_pence": 10_000_000_00,
            "received_on": str(day),
        }
    if event_type == "ExpenditureRecorded":
        if not s.income:
            return None
        source = rng.choice(s.income)
        amount = rng.randint(100, 50_000)
        return {
            "entry_id": new_id,
            "category": "delivery",
            "function": "schools",
            "area": node,
            "description": "Bench spend",
            "payee": "Tutor",
            "activity_ids": [],
            "stream": "revenue",
            "amount_pence": amount,
            "spent_on": str(day),
            "funded_from": [{"entry_id": source, "amount_pence": amount}],
        }
    raise ValueError(event_type)
