"""The 360Giving export: the hub's grants to partners validate against the official schema."""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from openpyxl import load_workbook
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from services.reporting.read.exports.giving360 import pounds, to_json
from tests.helpers import System, income, organisation
from tests.test_funding import commission, draw, entry

REFERENCE = Path(__file__).resolve().parent / "samples" / "360giving"  # vendored: see its SOURCE.md


def validator() -> Draft202012Validator:
    """The package schema, its grant $ref (which names the 1.4.2 URL upstream) resolved to the
    local copy."""
    package = json.loads((REFERENCE / "360-giving-package-schema.json").read_text())
    grant = json.loads((REFERENCE / "360-giving-schema.json").read_text())
    resource = Resource(
        grant, specification=DRAFT202012
    )  # upstream writes the dialect URI with http:
    registry = Registry().with_resources(
        [
            (grant["$id"], resource),
            (package["properties"]["grants"]["items"]["$ref"], resource),
        ]
    )
    return Draft202012Validator(package, registry=registry, format_checker=FORMATS)


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _rfc3339_date_time(value: object) -> bool:
    """RFC 3339 date-time (date, 'T', time, offset);
    without it the schema's awardDate oneOf cannot decide."""
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    return "T" in value.upper() and parsed.tzinfo is not None


def test_pounds_are_exact_and_json_numbers_never_pass_through_float() -> None:
    assert pounds(12_345_678_901) == Decimal("123456789.01")
    assert pounds(5) == Decimal("0.05")
    text = to_json({"a": pounds(1_000_000_000_000_01), "b": [pounds(10)]})
    assert '"a": 1000000000000.01' in text and "0.10" in text
    assert json.loads(text, parse_float=Decimal)["a"] == Decimal("1000000000000.01")


async def test_grants_to_partners_export_validates_against_the_official_schema(
    system: System,
) -> None:
    await system.post(
        "coventry",
        "partners",
        "/organisations",
        organisation("Coventry Music", roles=["collaborative_lead"], org_id="GB-LAE-COV"),
    )
    await system.post(
        "solihull",
        "partners",
        "/organisations",
        organisation(
            "Solihull Music", roles=["collaborative_lead", "hub_lead"], areas=["solihull"]
        ),
    )
    grant = await entry(
        system, "solihull", "/income", income(2_000_000_00, purpose="Music Hub revenue grant")
    )
    sent = await entry(
        system,
        "solihull",
        "/allocations",
        {
            "to_node": "coventry",
            "stream": "revenue",
            "amount_pence": 549_373_01,
            "allocated_on": "2025-09-15",
            "funded_from": draw((grant, 549_373_01)),
        },
    )
    received = await entry(
        system,
        "coventry",
        "/received",
        {
            "from_node": "solihull",
            "sender_entry_id": sent,
            "stream": "revenue",
            "amount_pence": 549_373_01,
            "received_on": "2025-09-16",
        },
    )
    kept = await entry(
        system, "coventry", "/commissions", commission(draw((received, 12_345_67)), 12_345_67)
    )
    unknown_id = commission(
        draw((received, 1_00)), 1_00, recipient_org_id=None, recipient_name="Wild Earth"
    )
    local = await entry(system, "coventry", "/commissions", unknown_id)
    dropped = await entry(
        system, "coventry", "/commissions", commission(draw((received, 5_00)), 5_00)
    )
    await entry(
        system,
        "coventry",
        "/reversals",
        {"entry_id": dropped, "reversed_on": "2025-10-02", "reason": "cancelled"},
    )
    await system.report_when(lambda r: r.stamp.applied_events >= 9)

    from services.reporting.app import create_app

    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        body = (await client.get("/report/funding/360giving.json", params={"prefix": "heoe"})).text
        sheet = (
            await client.get("/report/funding/360giving.xlsx", params={"prefix": "heoe"})
        ).content

    data = json.loads(body, parse_float=Decimal)
    errors = sorted(validator().iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]
    grants = {g["id"]: g for g in data["grants"]}
    assert set(grants) == {f"360G-heoe-{sent}", f"360G-heoe-{kept}", f"360G-heoe-{local}"}
    allocation = grants[f"360G-heoe-{sent}"]
    assert allocation["amountAwarded"] == Decimal("549373.01")
    assert allocation["recipientOrganization"][0] == {"id": "GB-LAE-COV", "name": "Coventry Music"}
    assert allocation["fundingOrganization"][0]["id"].startswith("360G-heoe-")
    assert "GB-CHC-1036733" in allocation["grantProgramme"][0]["title"]
    partner = grants[f"360G-heoe-{kept}"]
    assert partner["recipientOrganization"][0]["id"] == "GB-CHC-1158305"
    assert partner["fundingOrganization"][0] == {"id": "GB-LAE-COV", "name": "Coventry Music"}
    assert (
        partner["amountAwarded"] == Decimal("12345.67")
        and "GB-CHC-1036733" in partner["grantProgramme"][0]["title"]
    )
    assert grants[f"360G-heoe-{local}"]["recipientOrganization"][0]["id"].startswith("360G-heoe-")

    rows = list(load_workbook(io.BytesIO(sheet)).active.iter_rows(values_only=True))
    assert rows[0][:5] == ("Identifier", "Title", "Description", "Currency", "Amount Awarded")
    amounts = {r[0]: Decimal(str(r[4])) for r in rows[1:]}
    assert amounts == {g["id"]: g["amountAwarded"] for g in data["grants"]}


def test_the_validator_checks_dates_and_rejects_a_grant_missing_its_recipient() -> None:
    assert FORMATS.conforms("2025-09-01T10:00:00Z", "date-time")
    assert not FORMATS.conforms("2025-09-01", "date-time")
    bad = {
        "grants": [
            {
                "id": "360G-x-1",
                "title": "t",
                "description": "d",
                "currency": "GBP",
                "amountAwarded": 1,
                "awardDate": "2025-09-01",
                "fundingOrganization": [{"id": "GB-CHC-1036733", "name": "ACE"}],
            }
        ]
    }
    assert list(validator().iter_errors(bad))
