"""Who the hub works with: organisations by role, area, function and state, and the schools share.

An organisation registered by two nodes under the same org-id is one organisation here; one
without an org-id can only be told apart by its node's own id, so it counts once per node.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import Text, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.models.funding import FundingFlowView
from services.reporting.models.partners import OrganisationView, SettingView
from services.reporting.read.queries import ReportStamp, report_stamp

"""Included under /report by the reporting API."""


class SharedOrganisation(BaseModel):
    org_id: str
    name: str
    nodes: list[str]


class SettingsFigures(BaseModel):
    area: str
    settings: int
    state_funded: int


class OrganisationsReport(BaseModel):
    stamp: ReportStamp
    registrations: int = Field(
        description="Rows in the nodes' registers, before recognising shared organisations."
    )
    organisations: int = Field(
        description="Distinct organisations: one per org-id, else one per node registration."
    )
    by_role: dict[str, int]
    by_area: dict[str, int]
    by_function: dict[str, int]
    by_state: dict[str, int] = Field(description="Partner lifecycle states (settings have none).")
    shared: list[SharedOrganisation] = Field(
        description="Organisations on more than one node's register."
    )
    settings: list[SettingsFigures]


def _identity(row: OrganisationRow) -> str:
    return row.org_id or f"{row.node}/{row.organisation_id}"


class OrganisationRow(NamedTuple):
    """What the hub's figures read of a registration (its row in organisation_view)."""

    node: str
    organisation_id: str
    org_id: str | None
    name: str
    state: str | None
    roles: list[str]
    areas: list[str]
    functions: list[str]


_ORG = OrganisationView.__table__
_LISTS = ("roles", "areas", "functions")


def _decoded_lists(column: Sequence[Any]) -> list[Any]:
    """A JSON list column read as its text, decoded once per distinct text: registrations repeat
    the same few roles, areas and functions, and decoding each row's was most of reading them. A
    driver that hands back the list is taken at its word."""
    texts = {v: json.loads(v) for v in {v for v in column if isinstance(v, str)}}
    return [texts[v] if isinstance(v, str) else v for v in column]


async def organisation_rows(
    session: AsyncSession, state: str | None = None
) -> list[OrganisationRow]:
    """Every registration (or those in `state`) in node order as plain rows (mapped objects cost
    ten times as much to load: a hub registers tens of thousands of organisations). Rows decoded
    from one text share their lists: read them, never change them."""
    query = select(
        *(_ORG.c[c] for c in OrganisationRow._fields if c not in _LISTS),
        *(type_coerce(_ORG.c[c], Text) for c in _LISTS),
    ).order_by(_ORG.c.node, _ORG.c.organisation_id)
    if state is not None:
        query = query.where(_ORG.c.state == state)
    rows = (await session.execute(query)).all()
    columns = [list(c) for c in zip(*rows, strict=True)] or [[] for _ in OrganisationRow._fields]
    lists = len(OrganisationRow._fields) - len(_LISTS)
    for i in range(lists, len(columns)):
        columns[i] = _decoded_lists(columns[i])
    return [OrganisationRow._make(row) for row in zip(*columns, strict=True)]


@dataclass(frozen=True)
class PartnerIdentity:
    """Whose delivery and money a partner's figures count: the node's own registration, or, when it
    has an org-id, every registration of that org-id (one organisation hub-wide). Never a name:
    two nodes' partners of the same name without an org-id are two organisations."""

    org_id: str | None
    registrations: frozenset[tuple[str, str]]
    """(node, organisation id in that node's register)."""

    def delivered(self, node: str, delivered_by: str | None) -> bool:
        return (node, delivered_by or "") in self.registrations

    def commissioned(self, entry: FundingFlowView) -> bool:
        """A commission names its recipient by the commissioning node's register id
        (and org-id, if known)."""
        if self.org_id and entry.recipient_org_id == self.org_id:
            return True
        return (
            entry.node,
            str((entry.details or {}).get("recipient_organisation_id", "")),
        ) in self.registrations


@dataclass(frozen=True)
class CommissionKeys:
    """How money views name a commission's recipient: by organisation,
    never a name shared across nodes."""

    org_ids: dict[tuple[str, str], str]
    """(node, organisation id) → org-id, for registrations that have one."""
    names: dict[str, str]
    """org-id → its name (the first node's registration), so one organisation is one row."""

    def key(self, entry: FundingFlowView) -> str:
        """The org-id's name when the recipient has an org-id;
        else the name with the commissioning node."""
        local = (entry.node, str((entry.details or {}).get("recipient_organisation_id", "")))
        org_id = entry.recipient_org_id or self.org_ids.get(local)
        if org_id:
            return self.names.get(org_id, entry.counterparty or org_id)
        return f"{entry.counterparty or '?'} ({entry.node})"


async def commission_keys(session: AsyncSession) -> CommissionKeys:
    rows = await session.execute(
        select(
            OrganisationView.node,
            OrganisationView.organisation_id,
            OrganisationView.org_id,
            OrganisationView.name,
        )
        .where(OrganisationView.org_id.is_not(None))
        .order_by(OrganisationView.node)
    )
    keys = CommissionKeys({}, {})
    for node, organisation_id, org_id, name in rows:
        assert org_id is not None  # selected where it is not
        keys.org_ids[(node, organisation_id)] = org_id
        keys.names.setdefault(org_id, name)
    return keys


async def partner_identity(session: AsyncSession, organisation_id: str) -> PartnerIdentity | None:
    """The identity of the registration `organisation_id`
    (ids are UUIDs minted by each node: unique hub-wide)."""
    row = (
        await session.scalars(
            select(OrganisationView).where(OrganisationView.organisation_id == organisation_id)
        )
    ).first()
    if row is None:
        return None
    if row.org_id is None:
        return PartnerIdentity(None, frozenset({(row.node, row.organisation_id)}))
    shared = await session.execute(
        select(OrganisationView.node, OrganisationView.organisation_id).where(
            OrganisationView.org_id == row.org_id
        )
    )
    return PartnerIdentity(row.org_id, frozenset((node, org) for node, org in shared))


async def organisations_report(session: AsyncSession) -> OrganisationsReport:
    """Distinct organisations per role, area and function
    (a set each, so shared ones count once)."""
    rows = await organisation_rows(session)
    by: dict[str, defaultdict[str, set[str]]] = {
        d: defaultdict(set) for d in ("role", "area", "function", "state")
    }
    nodes_of: defaultdict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for row in rows:
        who = _identity(row)
        names.setdefault(who, row.name)
        nodes_of[who].add(row.node)
        states = [row.state] if row.state else []  # settings have no lifecycle state
        for dimension, values in (
            ("role", row.roles),
            ("area", row.areas),
            ("function", row.functions),
            ("state", states),
        ):
            for value in values:
                by[dimension][value].add(who)
    shared = [
        SharedOrganisation(org_id=who, name=names[who], nodes=sorted(nodes))
        for who, nodes in sorted(nodes_of.items())
        if len(nodes) > 1
    ]
    return OrganisationsReport(
        stamp=await report_stamp(session),
        registrations=len(rows),
        organisations=len(nodes_of),
        **{f"by_{d}": {k: len(v) for k, v in sorted(groups.items())} for d, groups in by.items()},
        shared=shared,
        settings=await _settings_figures(session),
    )


async def _settings_figures(session: AsyncSession) -> list[SettingsFigures]:
    total: Counter[str] = Counter()
    funded: Counter[str] = Counter()
    seen: set[str] = set()
    for urn, area, state_funded in await session.execute(
        select(SettingView.urn, SettingView.area, SettingView.state_funded).order_by(
            SettingView.node
        )
    ):
        if urn in seen:
            continue  # a URN names one school whichever node registered it
        seen.add(urn)
        total[area] += 1
        funded[area] += int(state_funded)
    return [
        SettingsFigures(area=a, settings=total[a], state_funded=funded[a]) for a in sorted(total)
    ]
