"""Partners use cases on a real database: identifiers, the lifecycle, agreements,
the settings import."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import select

from services.partners.domain import TRANSITIONS, Identifiers, normalise_org_id
from services.partners.models import OrganisationRow, SettingRow, outbox_table
from services.partners.services import (
    ChangeDetails,
    ChangeState,
    EndAgreement,
    RegisterOrganisation,
    SignAgreement,
    change_details,
    change_state,
    end_agreement,
    expiring_agreements,
    import_settings,
    register_organisation,
    sign_agreement,
)
from shared.contracts.partners import PartnerState
from shared.errors import Invalid, NotFound, Refused
from shared.node_service import NodeService

S = PartnerState
TODAY = date.today()
HEADER = (
    "URN,EstablishmentName,LA (code),PhaseOfEducation (name),TypeOfEstablishment (name),"
    "EstablishmentStatus (name)\n"
)
GOOD_ROWS = (
    "103975,Canley Primary School,331,Primary,Community school,Open\n"
    "137693,Foleshill Academy,331,Secondary,Academy converter,Open\n"
    "103932,Wyken Independent School,331,All-through,Other independent school,Open\n"
)


async def events(service: NodeService) -> list[tuple[str, dict]]:
    """What the service has put in its outbox: (type, payload) in sequence order."""
    async with service.sessions() as session:
        rows = await session.execute(
            select(outbox_table.c.event_type, outbox_table.c.body).order_by("sequence")
        )
        return [(t, json.loads(body)["payload"]) for t, body in rows]


async def register(service: NodeService, name: str = "Drake Music", **extra: object) -> UUID:
    cmd = RegisterOrganisation.model_validate(
        {
            "name": name,
            "roles": ["delivery_partner"],
            "areas": ["coventry"],
            "functions": ["inclusion"],
            **extra,
        }
    )
    return (await register_organisation(cmd, service.unit_of_work())).organisation_id


async def move(service: NodeService, organisation_id: UUID, to: PartnerState) -> None:
    cmd = ChangeState(to_state=to, decided_by="Coventry Music senior leadership team")
    await change_state(organisation_id, cmd, service.unit_of_work())


async def sign(
    service: NodeService, organisation_id: UUID, starts: date, ends: date, kind: str = "sla"
) -> str:
    cmd = SignAgreement(kind=kind, title="Inclusion programme", starts_on=starts, ends_on=ends)
    return (await sign_agreement(organisation_id, cmd, service.unit_of_work())).agreement_id


PATH_TO = {
    S.INTEREST: [],
    S.UNDER_REVIEW: [S.UNDER_REVIEW],
    S.APPROVED: [S.UNDER_REVIEW, S.APPROVED],
    S.ACTIVE: [S.UNDER_REVIEW, S.APPROVED, S.ACTIVE],
    S.SUSPENDED: [S.UNDER_REVIEW, S.APPROVED, S.ACTIVE, S.SUSPENDED],
    S.ENDED: [S.ENDED],
}
ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


async def organisation_in(service: NodeService, state: PartnerState) -> UUID:
    """A partner in `state`, reached the legal way, with an agreement in force
    (so active is possible)."""
    organisation_id = await register(service)
    await sign(service, organisation_id, TODAY - timedelta(days=10), TODAY + timedelta(days=300))
    for step in PATH_TO[state]:
        await move(service, organisation_id, step)
    return organisation_id


def test_the_lifecycle_allows_exactly_these_moves() -> None:
    assert {
        (S.INTEREST, S.UNDER_REVIEW),
        (S.INTEREST, S.ENDED),
        (S.UNDER_REVIEW, S.APPROVED),
        (S.UNDER_REVIEW, S.ENDED),
        (S.APPROVED, S.ACTIVE),
        (S.APPROVED, S.ENDED),
        (S.ACTIVE, S.SUSPENDED),
        (S.ACTIVE, S.ENDED),
        (S.SUSPENDED, S.ACTIVE),
        (S.SUSPENDED, S.ENDED),
    } == ALLOWED


@pytest.mark.parametrize(
    ("current", "target"),
    [pytest.param(a, b, id=f"{a}->{b}") for a, b in sorted(ALLOWED)],
)
async def test_an_allowed_move_changes_state_and_publishes_who_decided(
    partners: NodeService, current: PartnerState, target: PartnerState
) -> None:
    organisation_id = await organisation_in(partners, current)
    await move(partners, organisation_id, target)
    async with partners.sessions() as session:
        row = await session.get_one(OrganisationRow, str(organisation_id))
    assert row.state == target
    assert row.state_changed_by == "Coventry Music senior leadership team"
    kind, payload = (await events(partners))[-1]
    assert kind == "PartnerStateChanged"
    assert (payload["from_state"], payload["to_state"]) == (current, target)
    assert payload["decided_by"] == "Coventry Music senior leadership team"


@pytest.mark.parametrize(
    ("current", "target"),
    [
        pytest.param(a, b, id=f"{a}->{b}")
        for a, b in itertools.product(S, S)
        if (a, b) not in ALLOWED
    ],
)
async def test_a_refused_move_says_why_and_changes_nothing(
    partners: NodeService, current: PartnerState, target: PartnerState
) -> None:
    organisation_id = await organisation_in(partners, current)
    before = await events(partners)
    with pytest.raises(Invalid) as refused:
        await move(partners, organisation_id, target)
    assert f"from {current} the allowed states are" in refused.value.fields["to_state"]
    assert await events(partners) == before
    async with partners.sessions() as session:
        assert (await session.get_one(OrganisationRow, str(organisation_id))).state == current


@pytest.mark.parametrize("agreement", ["none", "expired", "ended", "not-yet-started"])
async def test_active_needs_an_agreement_in_force_today(
    partners: NodeService, agreement: str
) -> None:
    organisation_id = await register(partners)
    if agreement == "expired":
        await sign(
            partners, organisation_id, TODAY - timedelta(days=400), TODAY - timedelta(days=1)
        )
    elif agreement == "not-yet-started":
        await sign(
            partners, organisation_id, TODAY + timedelta(days=1), TODAY + timedelta(days=300)
        )
    elif agreement == "ended":
        agreement_id = await sign(
            partners, organisation_id, TODAY - timedelta(days=30), TODAY + timedelta(days=300)
        )
        await end_agreement(
            UUID(agreement_id), EndAgreement(ended_on=TODAY), partners.unit_of_work()
        )
    await move(partners, organisation_id, S.UNDER_REVIEW)
    await move(partners, organisation_id, S.APPROVED)
    with pytest.raises(Invalid) as refused:
        await move(partners, organisation_id, S.ACTIVE)
    assert "agreement" in refused.value.fields["to_state"]


async def test_an_unknown_organisation_is_not_found(partners: NodeService) -> None:
    with pytest.raises(NotFound):
        await move(partners, UUID("01a2011f-0000-7000-8000-00000000dead"), S.UNDER_REVIEW)
    assert await events(partners) == []


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("GB-CHC-1036733", "GB-CHC-1036733"),
        ("gb-chc-1036733", "GB-CHC-1036733"),
        (" GB-CHC- 1036733 ", "GB-CHC-1036733"),
        ("GB-COH-1234567", "GB-COH-01234567"),
        ("GB-COH-00012345", "GB-COH-00012345"),
        ("gb-coh-sc123456", "GB-COH-SC123456"),
        ("GB-EDU-103690", "GB-EDU-103690"),
        ("GB-EDU-1036901", "GB-EDU-1036901"),
        ("gb-lae-cov", "GB-LAE-COV"),
        ("GB-GOVUK-DFE", "GB-GOVUK-DFE"),
    ],
)
def test_identifiers_normalise_to_one_org_id(typed: str, normal: str) -> None:
    assert normalise_org_id(typed) == normal


@pytest.mark.parametrize(
    "typed",
    [
        "1036733",
        "XX-CHC-1036733",
        "GB-CHC-12a",
        "GB-CHC-123",
        "GB-COH-123456789",
        "GB-COH-S1234567",
        "GB-EDU-12",
        "GB-EDU-ABCDEF",
        "GB-LAE-C0V",
        "GB-CHC-",
    ],
)
def test_malformed_identifiers_are_refused_on_the_org_id_field(typed: str) -> None:
    with pytest.raises(Invalid) as refused:
        normalise_org_id(typed)
    assert "org_id" in refused.value.fields


def test_official_numbers_become_an_org_id_charity_first() -> None:
    assert Identifiers(company_number="1234567").org_id() == "GB-COH-01234567"
    assert (
        Identifiers(charity_number="1036733", company_number="1234567").org_id() == "GB-CHC-1036733"
    )
    assert Identifiers(school_urn="103690").org_id() == "GB-EDU-103690"
    assert Identifiers(la_code="cov").org_id() == "GB-LAE-COV"
    assert Identifiers().org_id() is None


async def test_registration_derives_the_org_id_and_refuses_a_second_record_of_it(
    partners: NodeService,
) -> None:
    first = await register(partners, "Drake Music", identifiers={"company_number": "3431284"})
    with pytest.raises(Refused) as refused:
        await register(partners, "Drake Music Ltd", org_id="gb-coh-03431284")
    assert "already in this register" in refused.value.fields["org_id"]
    async with partners.sessions() as session:
        row = await session.get_one(OrganisationRow, str(first))
    assert row.org_id == "GB-COH-03431284" and row.state == S.INTEREST
    assert [(t, p["org_id"], p["state"]) for t, p in await events(partners)] == [
        ("OrganisationRegistered", "GB-COH-03431284", "interest")
    ]


async def test_details_change_is_published_only_when_something_visible_changed(
    partners: NodeService,
) -> None:
    organisation_id = await register(partners, "Quench Arts")
    await change_details(
        organisation_id, ChangeDetails(contact_name="A Person"), partners.unit_of_work()
    )
    assert [t for t, _ in await events(partners)] == ["OrganisationRegistered"]
    await change_details(
        organisation_id,
        ChangeDetails(functions=["inclusion", "progression"], org_id="gb-chc-1036733"),
        partners.unit_of_work(),
    )
    kind, payload = (await events(partners))[-1]
    assert kind == "OrganisationDetailsChanged"
    assert (
        payload["functions"] == ["inclusion", "progression"]
        and payload["org_id"] == "GB-CHC-1036733"
    )
    assert payload["name"] == "Quench Arts"


async def test_agreements_expiring_within_n_days_are_listed_soonest_first(
    partners: NodeService,
) -> None:
    organisation_id = await register(partners)
    soon = await sign(
        partners,
        organisation_id,
        TODAY - timedelta(days=100),
        TODAY + timedelta(days=10),
        "commission",
    )
    later = await sign(
        partners, organisation_id, TODAY - timedelta(days=100), TODAY + timedelta(days=50)
    )
    await sign(partners, organisation_id, TODAY - timedelta(days=100), TODAY + timedelta(days=200))
    await sign(partners, organisation_id, TODAY - timedelta(days=400), TODAY - timedelta(days=1))
    ended = await sign(
        partners, organisation_id, TODAY - timedelta(days=100), TODAY + timedelta(days=20)
    )
    await end_agreement(
        UUID(ended),
        EndAgreement(ended_on=TODAY, reason="Programme finished"),
        partners.unit_of_work(),
    )

    expiring = await expiring_agreements(partners.unit_of_work(), 60)
    assert [a.agreement_id for a in expiring] == [soon, later]
    assert [a.agreement_id for a in await expiring_agreements(partners.unit_of_work(), 5)] == []
    with pytest.raises(Refused, match="already ended"):
        await end_agreement(UUID(ended), EndAgreement(ended_on=TODAY), partners.unit_of_work())
    assert [t for t, _ in await events(partners)].count("AgreementEnded") == 1


async def test_an_agreement_ending_before_it_starts_or_with_a_departed_partner_is_refused(
    partners: NodeService,
) -> None:
    organisation_id = await register(partners)
    with pytest.raises(Invalid) as refused:
        await sign(partners, organisation_id, TODAY, TODAY - timedelta(days=1))
    assert "ends_on" in refused.value.fields
    await move(partners, organisation_id, S.ENDED)
    with pytest.raises(Invalid):
        await sign(partners, organisation_id, TODAY, TODAY + timedelta(days=1))
    assert [t for t, _ in await events(partners)] == [
        "OrganisationRegistered",
        "PartnerStateChanged",
    ]


def register_file(tmp_path: Path, rows: str, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


async def settings_stored(service: NodeService) -> list[str]:
    async with service.sessions() as session:
        return sorted((await session.scalars(select(SettingRow.urn))).all())


async def test_a_register_with_any_bad_row_imports_nothing(
    partners: NodeService, tmp_path: Path
) -> None:
    bad = register_file(
        tmp_path,
        GOOD_ROWS
        + "12,Too Short URN,331,Primary,Community school,Open\n"
        + '103976,=HYPERLINK("x"),331,Primary,Community school,Open\n'
        + "103977,Unknown Phase School,331,Kindergarten,Community school,Open\n"
        + "103975,Canley Primary School again,331,Primary,Community school,Open\n",
    )
    outcome = await import_settings(bad, partners.unit_of_work(), "coventry")
    assert [(p.row, p.column) for p in outcome.problems] == [
        (5, "URN"),
        (6, "EstablishmentName"),
        (7, "PhaseOfEducation (name)"),
        (8, "URN"),
    ]
    assert "already on row 2" in outcome.problems[3].reason
    assert outcome.added == 0
    assert await settings_stored(partners) == []
    assert await events(partners) == []


async def test_settings_import_is_idempotent_and_a_dry_run_stores_nothing(
    partners: NodeService, tmp_path: Path
) -> None:
    good = register_file(
        tmp_path,
        GOOD_ROWS
        + "104050,Willenhall Infant School,331,Primary,Community school,Closed\n"
        + "125744,Nuneaton Primary School,937,Primary,Community school,Open\n",
    )
    dry = await import_settings(good, partners.unit_of_work(), "coventry", dry_run=True)
    assert (dry.problems, dry.added, dry.closed_skipped, dry.other_area_skipped) == ([], 3, 1, 1)
    assert await settings_stored(partners) == [] and await events(partners) == []

    ticks: list[int] = []
    first = await import_settings(good, partners.unit_of_work(), "coventry", progress=ticks.append)
    assert (first.added, first.already_registered, first.closed_skipped) == (3, 0, 1)
    assert sum(ticks) == 5
    added = [p for t, p in await events(partners) if t == "SettingAdded"]
    assert {(p["urn"], p["org_id"], p["state_funded"]) for p in added} == {
        ("103975", "GB-EDU-103975", True),
        ("137693", "GB-EDU-137693", True),
        ("103932", "GB-EDU-103932", False),
    }
    assert {p["area"] for p in added} == {"coventry"}

    more = register_file(
        tmp_path,
        GOOD_ROWS
        + "103653,Tile Hill Nursery School,331,Nursery,Local authority nursery school,Open\n",
        "more.csv",
    )
    again = await import_settings(more, partners.unit_of_work(), "coventry")
    assert (again.added, again.already_registered) == (1, 3)
    assert len(await events(partners)) == 4
    assert await settings_stored(partners) == ["103653", "103932", "103975", "137693"]


async def test_a_school_already_registered_by_org_id_is_a_row_problem(
    partners: NodeService, tmp_path: Path
) -> None:
    await register(
        partners, "Foleshill Academy", roles=["education_setting"], org_id="GB-EDU-137693"
    )
    outcome = await import_settings(
        register_file(tmp_path, GOOD_ROWS), partners.unit_of_work(), "coventry"
    )
    assert [(p.row, p.column) for p in outcome.problems] == [(3, "URN")]
    assert "GB-EDU-137693 is already in this register" in outcome.problems[0].reason
    assert await settings_stored(partners) == []
    assert [t for t, _ in await events(partners)] == ["OrganisationRegistered"]
