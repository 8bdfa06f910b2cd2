"""The hub's grants to partners in the 360Giving Data Standard (1.4), as JSON and XLSX.

Grants are the standing allocations to collaborative lead organisations and commissions of
delivery partners; never one from an organisation to itself (a lead's own share is not a grant).
Amounts are pence turned into pounds with Decimal (exact); the JSON writer emits them as plain
numbers without ever passing through a float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models import OrganisationView
from services.reporting.read.labels import label
from services.reporting.read.present import name as place
from services.reporting.read.versioned import once_per_version
from services.reporting.read.views.funding import Ledger, grants_ledger
from shared import cells

ACE = {"id": "GB-CHC-1036733", "name": "Arts Council England"}
LEAD_ROLES = ("hub_lead", "collaborative_lead")
SCHEMA_VERSION = "1.4"


def pounds(pence: int) -> Decimal:
    """Exact pounds, two places: 12345 → Decimal('123.45') (a `cells.Pounds`: a £ cell in XLSX)."""
    return cells.pounds(pence)


def grant_id(prefix: str, entry_id: str) -> str:
    return f"360G-{prefix}-{entry_id}"


def _internal_org_id(prefix: str, local: str) -> str:
    """360Giving's fallback for an organisation without an org-id:
    the publisher prefix and a local id."""
    return f"360G-{prefix}-{re.sub(r'[^A-Za-z0-9-]', '-', local)}"


async def _lead_organisations(session: AsyncSession, prefix: str) -> dict[str, dict[str, str]]:
    """Each node's lead organisation, as a 360Giving Organization."""
    leads: dict[str, dict[str, str]] = {}
    for org in sorted(await _maybe_leads(session), key=lambda o: (o.node, o.name)):
        if org.node not in leads and any(role in LEAD_ROLES for role in org.roles):
            leads[org.node] = {
                "id": org.org_id or _internal_org_id(prefix, org.organisation_id),
                "name": org.name,
            }
    return leads


class LeadRow(NamedTuple):
    node: str
    organisation_id: str
    org_id: str | None
    name: str
    roles: list[str]


async def _maybe_leads(session: AsyncSession) -> list[LeadRow]:
    """The registrations whose roles' JSON text names a lead role, in `organisation_rows` order:
    every lead and perhaps a few others (the caller checks the roles), not the tens of thousands
    of other partners a hub registers."""
    o = OrganisationView.__table__.c
    roles = cast(o.roles, Text)
    query = (
        select(o.node, o.organisation_id, o.org_id, o.name, o.roles)
        .where(or_(*(roles.contains(role, autoescape=True) for role in LEAD_ROLES)))
        .order_by(o.node, o.organisation_id)
    )
    return [LeadRow._make(row) for row in await session.execute(query)]


def _origins(
    ledger: Ledger, node: str, entry_id: str, seen: frozenset[tuple[str, str]] = frozenset()
) -> set[str]:
    """Income sources (funder names or org-ids) a flow ultimately draws on."""
    key = (node, entry_id)
    entry = ledger.entries.get(key)
    if entry is None or key in seen:
        return set()
    if entry.kind == "income":
        return {entry.counterparty or ""}
    if entry.kind == "received":
        return _origins(
            ledger, entry.counterpart_node or "", entry.counterpart_entry_id or "", seen | {key}
        )
    return set().union(
        *(_origins(ledger, node, s, seen | {key}) for s in ledger.links.get(key, {}))
    )


@once_per_version
async def build_grants(session: AsyncSession, prefix: str) -> list[dict[str, Any]]:
    ledger = await grants_ledger(session)
    leads = await _lead_organisations(session, prefix)
    grants = []
    for e in sorted(
        ledger.originals("allocation", "commission"), key=lambda e: (e.entry_on, e.node, e.entry_id)
    ):
        if not ledger.active((e.node, e.entry_id)):
            continue
        funder = leads.get(e.node, {"id": _internal_org_id(prefix, e.node), "name": place(e.node)})
        if e.kind == "allocation":
            node = e.counterpart_node or ""
            recipient = leads.get(node, {"id": _internal_org_id(prefix, node), "name": place(node)})
            title = e.title or f"Music Hub allocation to {recipient['name']}"
            description = (
                f"{label(e.stream)} funding passed to a collaborative lead organisation "
                "of the music hub."
            )
        else:
            local = e.details.get("recipient_organisation_id", e.entry_id)
            recipient = {
                "id": e.recipient_org_id or _internal_org_id(prefix, local),
                "name": e.counterparty or "",
            }
            title = e.title or "Commission"
            description = (
                f"Commission for {label(e.function or '').lower()} work in {place(e.area)}, "
                f"{label(e.stream).lower()} funding."
            )
        if recipient["id"] == funder["id"] or (
            e.kind == "allocation" and e.counterpart_node == e.node
        ):
            # an organisation's own share is no grant to itself (refused at the node; older events
            # may say so)
            continue
        grant: dict[str, Any] = {
            "id": grant_id(prefix, e.entry_id),
            "title": title[:140],
            "description": description,
            "currency": "GBP",
            "amountAwarded": pounds(e.amount_pence),
            "awardDate": e.entry_on,  # a date: ISO text in JSON, a date cell in XLSX
            "recipientOrganization": [recipient],
            "fundingOrganization": [funder],
        }
        if e.kind == "allocation":
            grant["regrantType"] = "FRG020"
        if ACE["id"] in _origins(ledger, e.node, e.entry_id):
            grant["grantProgramme"] = [
                {"code": "music-hubs", "title": f"Music Hubs (DfE, via {ACE['name']} {ACE['id']})"}
            ]
        grants.append(grant)
    return grants


def package(grants: list[dict[str, Any]], hub: str, name: str | None = None) -> dict[str, Any]:
    """The 360Giving package, published under the hub's `name` as people write it
    (``HUB_NAME``; default the slug `hub` in words), never its slug."""
    publisher = name or place(hub)
    return {
        "version": SCHEMA_VERSION,
        "title": f"{publisher}: grants to partners",
        "publisher": {"name": publisher},
        "issued": datetime.now(UTC).isoformat(timespec="seconds"),
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "grants": grants,
    }


def to_json(data: dict[str, Any]) -> str:
    """JSON with Decimal amounts written as exact numbers (``1234.50``), never via float; dates
    as ISO 8601 text."""
    marks: dict[str, str] = {}

    def mark(value: Any) -> str:
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            token = f"@@decimal{len(marks)}@@"
            marks[token] = str(value)
            return token
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    text = json.dumps(data, default=mark, indent=2, ensure_ascii=False)
    return re.sub(r'"(@@decimal\d+@@)"', lambda m: marks[m.group(1)], text)


COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("Identifier", lambda g: g["id"]),
    ("Title", lambda g: g["title"]),
    ("Description", lambda g: g["description"]),
    ("Currency", lambda g: g["currency"]),
    ("Amount Awarded", lambda g: g["amountAwarded"]),
    ("Award Date", lambda g: g["awardDate"]),
    ("Recipient Org:Identifier", lambda g: g["recipientOrganization"][0]["id"]),
    ("Recipient Org:Name", lambda g: g["recipientOrganization"][0]["name"]),
    ("Funding Org:Identifier", lambda g: g["fundingOrganization"][0]["id"]),
    ("Funding Org:Name", lambda g: g["fundingOrganization"][0]["name"]),
    ("Grant Programme:Title", lambda g: g.get("grantProgramme", [{}])[0].get("title")),
    ("For Regrant Type", lambda g: g.get("regrantType")),
]


def to_xlsx(grants: list[dict[str, Any]]) -> bytes:
    """The 360Giving flat spreadsheet layout: one row per grant, standard column titles; names and
    titles are partners' own words, so every cell goes through the one cell writer. Award Date is
    a date cell and Amount Awarded a £ number, as 360Giving's spreadsheet template has them (its
    converter reads both back to the JSON values)."""
    book = cells.new_workbook()
    sheet = cells.add_sheet(book, "grants")
    cells.append(sheet, [title for title, _ in COLUMNS])
    for grant in grants:
        cells.append(sheet, [value(grant) for _, value in COLUMNS])
    return cells.xlsx_bytes(book)
