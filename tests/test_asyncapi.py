"""The AsyncAPI documents: valid AsyncAPI 3.0 (against the specification's own JSON Schema), served
by every service with what it sends or receives, committed to docs/, and true to the contracts:
cases come from the contract registry, and each contract's sample event validates against the
message schema the document gives it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from services.reporting.app import create_app
from shared.asyncapi import hub_document
from shared.contracts import EventPayload, all_contracts
from shared.envelope import Envelope, new_event_id
from shared.subjects import event_subject
from tests.helpers import System

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "tests/samples/asyncapi/asyncapi-3.0.0.schema.json").read_text())
CONTRACTS = all_contracts()


def asyncapi_problems(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(SPEC)(SPEC)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def message_of(document: dict[str, Any], cls: type[EventPayload]) -> dict[str, Any]:
    channel = document["channels"][f"{cls.service}.{cls.event_type}.v{cls.version}"]
    (ref,) = [m["$ref"] for m in channel["messages"].values()]
    return document["components"]["messages"][ref.rsplit("/", 1)[-1]]


def payload_problems(document: dict[str, Any], cls: type[EventPayload], event: Any) -> list[str]:
    """Problems of `event` against the payload schema `document` gives `cls`'s message."""
    schema = {**message_of(document, cls)["payload"], "components": document["components"]}
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [e.message for e in validator.iter_errors(event)]


def sample_event(cls: type[EventPayload]) -> dict[str, Any]:
    """An envelope, as published, around the contract's committed sample payload."""
    payload = json.loads((ROOT / f"tests/samples/{cls.event_type}.v{cls.version}.json").read_text())
    now = datetime(2025, 1, 6, tzinfo=UTC)
    envelope = Envelope(
        event_id=new_event_id(),
        type=cls.event_type,
        version=cls.version,
        hub="heart-of-england",
        node="coventry",
        service=cls.service,
        sequence=1,
        occurred_at=now,
        recorded_at=now,
        correlation_id=new_event_id(),
        payload=payload,
    )
    return json.loads(envelope.to_bytes())


def test_the_specification_schema_refuses_an_invalid_document() -> None:
    broken = hub_document()
    broken["operations"]["publish.partners.OrganisationRegistered.v1"]["action"] = "emit"
    assert asyncapi_problems(broken)
    del broken["channels"]
    assert asyncapi_problems(broken)


def test_hub_document_is_valid_asyncapi_3() -> None:
    assert asyncapi_problems(hub_document()) == []


def test_docs_asyncapi_is_up_to_date() -> None:
    committed = json.loads((ROOT / "docs/asyncapi.json").read_text())
    assert committed == hub_document(), "run `make docs` and commit docs/asyncapi.json"


@pytest.mark.parametrize("cls", CONTRACTS, ids=lambda c: f"{c.event_type}.v{c.version}")
def test_every_contract_has_its_subject_and_a_schema_its_events_meet(
    cls: type[EventPayload],
) -> None:
    document = hub_document()
    channel = document["channels"][f"{cls.service}.{cls.event_type}.v{cls.version}"]
    address = channel["address"].format(hub="heart-of-england", node="coventry")
    assert address == event_subject(
        "heart-of-england", "coventry", cls.service, cls.event_type, cls.version
    )
    event = sample_event(cls)
    assert payload_problems(document, cls, event) == []
    for wrong in ({**event, "type": "SomethingElse"}, {**event, "payload": {}}):
        assert payload_problems(document, cls, wrong), "the schema must refuse a wrong event"
    headers = message_of(document, cls)["headers"]["properties"]
    assert {"Nats-Msg-Id", "Hub-Batch-Root", "Hub-Batch-Signature"} <= set(headers)


async def served(app: FastAPI) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        r = await client.get("/asyncapi.json")  # open, like /openapi.json: shapes, not data
    assert r.status_code == 200, r.text
    document: dict[str, Any] = r.json()
    return document


async def test_every_service_serves_what_it_sends_or_receives(system: System) -> None:
    by_service = {
        name: {f"{c.service}.{c.event_type}.v{c.version}" for c in CONTRACTS if c.service == name}
        for (_, name) in system.services
    }
    for node, name in system.services:
        async with system.client(node, name) as client:
            document = (await client.get("/asyncapi.json")).json()
        assert asyncapi_problems(document) == [], (node, name)
        assert set(document["channels"]) == by_service[name], (node, name)
        assert {op["action"] for op in document["operations"].values()} == {"send"}
    reporting = await served(create_app(system.reporting))
    assert asyncapi_problems(reporting) == []
    everything = set().union(*by_service.values())
    assert set(reporting["channels"]) == everything | {"deadLetters"}
    received = {op["channel"]["$ref"] for op in reporting["operations"].values()}
    assert {f"#/channels/{c}" for c in everything} <= received
