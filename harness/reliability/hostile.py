"""Hostile and bad input, tried against the real code paths in this process: reporting's ingest
(parse, check, dedupe, dead-letter), the spreadsheet importer, and a node service's HTTP API.

Every case must end in a clear outcome: applied, a dead letter with its reason, a row/column/
reason problem, or a 4xx. A crash (any other exception, any 5xx) or a changed total is a failure.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx

from services.reporting.app import build_service as build_reporting
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.consumer import ReportingService
from services.reporting.read.queries import hub_report
from shared.envelope import Envelope, InvalidEvent, parse_event
from shared.nats_server import free_port
from shared.settings import HubSettings
from shared.signing import NodeKeys, NodeSigner
from shared.subjects import event_subject
from shared.tabular import TabularError, validate_rows

HUB = "hostile"
NODE = "coventry"


@dataclass
class HostileResult:
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    totals_unchanged: bool = True

    def record(self, outcome: str) -> None:
        self.cases += 1
        self.outcomes[outcome] += 1

    def fail(self, case: str, why: str) -> None:
        self.record("CRASH")
        self.failures.append(f"{case}: {why}")


def genuine_event(sequence: int, name: str = "Genuine Strings", node: str = NODE) -> Envelope:
    payload = {
        "organisation_id": str(uuid4()),
        "name": name,
        "roles": ["delivery_partner"],
        "areas": [node],
    }
    now = datetime.now(UTC)
    return Envelope(
        event_id=uuid4(),
        type="OrganisationRegistered",
        version=1,
        hub=HUB,
        node=node,
        service="partners",
        sequence=sequence,
        occurred_at=now,
        recorded_at=now,
        correlation_id=uuid4(),
        payload=payload,
    )


def signed(signer: NodeSigner, envelope: Envelope) -> tuple[bytes, dict[str, str]]:
    """The envelope's bytes and the proof headers its node's relay would publish it with."""
    data = envelope.to_bytes()
    return data, signer.sign_batch(envelope.hub, envelope.node, [data])[0]


def _subject(env: Envelope) -> str:
    return event_subject(env.hub, env.node, env.service, env.type, env.version)


def event_cases(
    signer: NodeSigner, base: Envelope, rng: random.Random, mutations: int
) -> list[tuple[str, Incoming]]:
    """Hand-made bad messages, then seeded random mutations of `base`, a genuine event already
    applied; a forger copies the genuine message's proof headers onto what it sends."""
    subject = _subject(base)
    raw, proof = signed(signer, base)
    doc = json.loads(raw)
    stranger = genuine_event(1, node="atlantis")
    old = base.model_copy(
        update={  # ActivityDelivered v1 without `participants`
            "event_id": uuid4(),
            "type": "ActivityDelivered",
            "version": 1,
            "service": "activities",
            "payload": {"activity_id": str(uuid4()), "kind": "workshop", "title": "t"},
        }
    )
    other_area = base.model_copy(
        update={  # Coventry's key speaking for Solihull's schools
            "event_id": uuid4(),
            "type": "SchoolPopulationRecorded",
            "sequence": 3,
            "payload": {
                "area": "solihull",
                "la_code": "334",
                "academic_year": "2024-25",
                "source": "DfE",
                "pupils": 1000,
            },
        }
    )
    cases: list[tuple[str, tuple[bytes, dict[str, str]], str]] = [
        ("malformed JSON", (b'{"event_id": ', proof), subject),
        ("not UTF-8", (b"\xff\xfe\x00garbage", proof), subject),
        ("empty message", (b"", proof), subject),
        ("JSON but not an object", (b"[1, 2, 3]", proof), subject),
        (
            "unknown event type",
            (json.dumps({**doc, "type": "MoneyPrinted"}).encode(), proof),
            subject.replace("OrganisationRegistered", "MoneyPrinted"),
        ),
        (
            "unknown version",
            (json.dumps({**doc, "version": 99}).encode(), proof),
            subject.replace(".v1", ".v99"),
        ),
        (
            "oversized payload",
            (
                json.dumps({**doc, "payload": {**doc["payload"], "name": "x" * 300_000}}).encode(),
                proof,
            ),
            subject,
        ),
        (
            "same event id, different content",
            signed(
                signer, base.model_copy(update={"payload": {**base.payload, "name": "Changed"}})
            ),
            subject,
        ),
        ("event from an unknown node", signed(NodeSigner.generate(), stranger), _subject(stranger)),
        ("subject of another node", (raw, proof), subject.replace(f".{NODE}.", ".solihull.")),
        ("unsigned", (base.model_copy(update={"event_id": uuid4()}).to_bytes(), {}), subject),
        (
            "another batch's proof",
            (base.model_copy(update={"event_id": uuid4()}).to_bytes(), proof),
            subject,
        ),
        (
            "SQL in a name",
            signed(signer, genuine_event(2, "Robert'); DROP TABLE organisation_view;--")),
            subject,
        ),
        ("sequence gap (seq 9 after 2)", signed(signer, genuine_event(9)), subject),
        (
            "sequence reused under another event id",
            signed(signer, genuine_event(1, "Impostor")),
            subject,
        ),
        ("another node's area", signed(signer, other_area), _subject(other_area)),
        ("old version missing what its upcaster reads", signed(signer, old), _subject(old)),
    ]
    for i in range(mutations):
        cases.append((f"mutation {i}", (_mutate(rng, raw), proof), subject))
    return [
        (name, Incoming(subj, data, n + 2, headers))
        for n, (name, (data, headers), subj) in enumerate(cases)
    ]


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        i = rng.randrange(len(data))
        if op < 0.4:
            data[i] = rng.randrange(256)
        elif op < 0.7:
            del data[i : i + rng.randint(1, 20)]
        else:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
    return bytes(data)


async def try_events(folder: Path, seed: int, mutations: int, result: HostileResult) -> None:
    """Feed every case to reporting's ingest on a real SQLite database; totals may not move."""
    settings = HubSettings(hub=HUB, data_dir=folder, nodes=[NODE])
    service = build_reporting(settings, "nats://127.0.0.1:1")
    await service.start(consume=False)
    signer = NodeSigner.generate()
    service.keys = NodeKeys(
        {NODE: signer.public_key}
    )  # forgeries must be refused, as a deployed hub refuses them
    try:
        first = genuine_event(1)
        data, proof = signed(signer, first)
        await service.ingest([Incoming(_subject(first), data, 1, proof)])
        before = await _organisations(service)
        for name, incoming in event_cases(signer, first, random.Random(seed), mutations):
            try:
                outcome = await service.ingest([incoming])
            except Exception as exc:  # the whole point: this must never happen
                result.fail(name, repr(exc))
                continue
            if outcome.dead:
                result.record("dead-lettered: " + _reason_kind(outcome.dead[0][1]))
            elif outcome.duplicates:
                result.record("duplicate skipped")
            else:
                result.record("applied")
        after = await _organisations(service)
        applied = result.outcomes["applied"]  # SQL-in-a-name and the gap are genuine events
        result.totals_unchanged = result.totals_unchanged and after == before + applied
    finally:
        await service.stop()


async def _organisations(service: ReportingService) -> int:
    async with service.read_sessions() as session:
        return (await hub_report(session, HUB, [NODE])).totals.organisations


def _reason_kind(reason: str) -> str:
    for marker in (
        "exceeds",
        "envelope invalid",
        "unknown event",
        "unknown version",
        "different content",
        "unknown node",
        "does not match",
        "unsigned",
        "signature",
        "not in the batch",
        "payload of",
        "reused by event",
        "not this node's own",
        "not one of the hub's nodes",
    ):
        if marker in reason:
            return marker
    return reason[:40]


def parse_mutations(seed: int, count: int, result: HostileResult) -> None:
    """parse_event on random mutations: it parses or raises InvalidEvent, nothing else."""
    rng = random.Random(seed)
    raw = genuine_event(1).to_bytes()
    for i in range(count):
        try:
            parse_event(_mutate(rng, raw))
            result.record("parse: parsed")
        except InvalidEvent:
            result.record("parse: InvalidEvent")
        except Exception as exc:
            result.fail(f"parse mutation {i}", repr(exc))


SPREADSHEET_ROWS = [
    ['=HYPERLINK("http://evil","click")', "103690"],
    ["@SUM(A1:A9)", "103691"],
    ["+cmd|' /C calc'!A0", "103692"],
    ["Robert'); DROP TABLE setting;--", "103693"],
    ["\tTabbed", "103694"],
    ["x" * 5000, "103695"],
    ["Ordinary Primary School", "not-a-urn"],
]


def try_spreadsheet(folder: Path, result: HostileResult) -> None:
    """Formula and SQL injection in an imported sheet: each row refused with row, column, reason."""
    from services.partners.services import DFE_COLUMNS, AddSetting

    name_col = next(h for h, f in DFE_COLUMNS.items() if f == "name")
    urn_col = next(h for h, f in DFE_COLUMNS.items() if f == "urn")
    path = folder / "settings.csv"
    lines = [f"{name_col},{urn_col}"] + [
        ",".join(json.dumps(c) for c in row) for row in SPREADSHEET_ROWS
    ]
    path.write_text("\n".join(lines) + "\n")
    try:
        outcome = validate_rows(path, AddSetting, columns=DFE_COLUMNS)
    except TabularError as exc:
        outcome = None
        result.record(f"import: whole file refused ({exc})")
    except Exception as exc:
        result.fail("spreadsheet", repr(exc))
        return
    if outcome is not None:
        refused = {p.row for p in outcome.problems if p.row and p.column and p.reason}
        for number in range(2, 2 + len(SPREADSHEET_ROWS)):
            result.record(
                "import: row refused with column and reason"
                if number in refused
                else "import: row accepted"
            )


async def try_http(folder: Path, result: HostileResult) -> None:
    """A node service (without NATS) against malformed and oversized bodies: 4xx, never 5xx."""
    from services.partners import app as partners_app

    settings = HubSettings(hub=HUB, data_dir=folder, nodes=[NODE], max_request_bytes=64 * 1024)
    service = partners_app.build_service(settings, NODE, f"nats://127.0.0.1:{free_port()}")
    await service.start(attach_timeout=0.1)
    app = partners_app.create_app(service)
    cases = [
        ("malformed JSON", b'{"name": ', "application/json"),
        ("wrong types", json.dumps({"name": 5, "roles": "x"}).encode(), "application/json"),
        ("oversized body", json.dumps({"name": "x" * 200_000}).encode(), "application/json"),
        ("not JSON at all", b"\x00\x01\x02", "application/octet-stream"),
        (
            "formula-like name (kept as text)",
            json.dumps({"name": "=1+1", "roles": ["delivery_partner"]}).encode(),
            "application/json",
        ),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as client:
            for name, body, ctype in cases:
                response = await client.post(
                    "/organisations", content=body, headers={"content-type": ctype}
                )
                if response.status_code >= 500:
                    result.fail(f"http {name}", f"{response.status_code} {response.text[:200]}")
                else:
                    result.record(f"http: {response.status_code}")
    finally:
        await service.stop()


async def run_hostile(seed: int, mutations: int) -> HostileResult:
    result = HostileResult()
    with tempfile.TemporaryDirectory(prefix="hub-hostile-") as tmp:
        folder = Path(tmp)
        await try_events(folder / "ingest", seed, mutations, result)
        parse_mutations(seed, mutations * 4, result)
        try_spreadsheet(folder, result)
        await try_http(folder / "http", result)
    return result
