"""The events behind the accountability figures (schools, inclusion, progression, WCET continuation,
partners) on the small dataset of test_reporting_views, with the events expected worked out by
hand."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from services.reporting.ingest.audit import verify
from tests.helpers import System
from tests.test_reporting_views import hub_cli, load_dataset, reporting_client, view

TODAY = date.today()  # a partner becomes active only under an agreement in force on the real today


async def activate(system: System, node: str, body: dict[str, Any], *, to: str = "active") -> str:
    """Register an organisation and walk it to `to` (signing an agreement in force today on
    the way)."""
    r = await system.post(node, "partners", "/organisations", body)
    assert r.status_code == 201, r.text
    org = r.json()["organisation_id"]
    for state in ("under_review", "approved", "active")[
        : ("under_review", "approved", "active").index(to) + 1
    ]:
        if state == "active":
            r = await system.post(
                node,
                "partners",
                f"/organisations/{org}/agreements",
                {
                    "kind": "sla",
                    "title": "SLA",
                    "starts_on": str(TODAY - timedelta(days=30)),
                    "ends_on": str(TODAY + timedelta(days=300)),
                },
            )
            assert r.status_code == 201, r.text
        r = await system.post(
            node,
            "partners",
            f"/organisations/{org}/state-changes",
            {"to_state": state, "decided_by": "SLT"},
        )
        assert r.status_code == 201, r.text
    return str(org)


async def load_partners(system: System) -> None:
    """Orchestra of the Swan active at two nodes (one org-id), Drake Music active with changed
    details, Armonico approved."""
    swan = {
        "name": "Orchestra of the Swan",
        "roles": ["delivery_partner"],
        "functions": ["progression"],
        "org_id": "GB-CHC-1158305",
    }
    await activate(system, "coventry", {**swan, "areas": ["coventry"]})
    await activate(system, "solihull", {**swan, "areas": ["solihull"]})
    drake = await activate(
        system,
        "coventry",
        {"name": "Drake Music", "roles": ["delivery_partner"], "areas": ["coventry"]},
    )
    async with system.client("coventry", "partners") as client:
        assert (
            await client.patch(f"/organisations/{drake}", json={"functions": ["inclusion"]})
        ).status_code == 200
    await activate(
        system,
        "coventry",
        {"name": "Armonico Consort", "roles": ["delivery_partner"], "areas": ["coventry"]},
        to="approved",
    )
    # Swan 5 + 5 events (register, 3 moves, agreement), Drake 6 (and its details), Armonico 3.
    await system.report_when(lambda r: r.stamp.applied_events >= 17 + 19, timeout=30)


async def evidence(
    client: httpx.AsyncClient, view_name: str, key: str, period: str
) -> dict[str, Any]:
    r = await client.get(
        "/report/evidence", params={"view": view_name, "key": key, "period": period}
    )
    assert r.status_code == 200, r.text
    return r.json()


def counts(body: dict[str, Any], ids: dict[str, str]) -> dict[str, int]:
    """The events' counts, named by what the dataset calls them
    (an unknown event keeps its type)."""
    names = {v: k for k, v in ids.items()}
    return {names.get(e["event_id"], e["event_type"]): e["count"] for e in body["events"]}


async def participation_events(system: System) -> dict[str, str]:
    """Each activity's ParticipationRecorded event id, by the dataset's name for the activity."""
    from sqlalchemy import select

    from services.reporting.models.activities import ActivityView, ParticipationView

    async with system.reporting.read_sessions() as session:
        rows = await session.execute(
            select(
                ActivityView.title,
                ActivityView.kind,
                ActivityView.event_id,
                ParticipationView.event_id,
            ).join(ParticipationView, ParticipationView.activity_id == ActivityView.activity_id)
        )
        found: dict[str, str] = {}
        for _, kind, activity_event, participation_event in rows:
            found[f"{kind} activity"], found[kind] = activity_event, participation_event
        return found


async def test_schools_inclusion_progression_and_continuation_expand_into_their_events(
    system: System,
) -> None:
    await load_dataset(system)
    ids = await participation_events(system)
    async with reporting_client(system) as client:
        # 2023-24: Coventry's state-funded 103690 is named by the WCET activity and the WCET
        # pupils' records.
        schools = await evidence(client, "schools", "coventry", "2023-24")
        assert (
            schools["figure"]
            == (await view(client, "schools", period="2023-24"))["areas"][0]["state_funded_engaged"]
            == 1
        )
        assert (schools["distinct"], counts(schools, ids)) == (1, {"wcet activity": 1, "wcet": 1})
        # 2024-25: no activity at a school; A's tuition record and B's ensemble record name 103690
        # (D's 104100 is unregistered).
        later = await evidence(client, "schools", "hub", "2024-25")
        assert (later["figure"], later["distinct"], counts(later, ids)) == (
            1,
            1,
            {"tuition": 1, "ensemble": 1},
        )

        # 2024-25 pupils A, B, D: only D (solihull tuition) has an EHCP; A and B live in Coventry,
        # neither on FSM this year.
        ehcp = await evidence(client, "inclusion", "hub/send/ehcp", "2024-25")
        assert (ehcp["figure"], ehcp["distinct"], ehcp["total"], counts(ehcp, ids)) == (
            1,
            1,
            1,
            {"tuition": 1},
        )
        assert "school population: unknown" in ehcp["note"]
        no_fsm = await evidence(client, "inclusion", "coventry/fsm/no", "2024-25")
        assert (no_fsm["figure"], no_fsm["distinct"], counts(no_fsm, ids)) == (
            2,
            2,
            {"tuition": 1, "ensemble": 1},
        )
        assert (await evidence(client, "inclusion", "coventry/fsm/yes", "2024-25"))["events"] == []
        fsm_before = await evidence(client, "inclusion", "coventry/fsm/yes", "2023-24")
        assert (fsm_before["figure"], counts(fsm_before, ids)) == (1, {"wcet": 1})

        # A: beginner (WCET 2023-24) → intermediate (tuition 2024-25); B stays beginner; C leaves;
        # D arrives.
        for key, expected in (
            ("hub/beginner/intermediate", {"wcet": 1, "tuition": 1}),
            ("hub/beginner/beginner", {"wcet": 1, "ensemble": 1}),
            ("hub/beginner/none", {"wcet": 1}),
            ("hub/none/intermediate", {"tuition": 1}),
        ):
            moved = await evidence(client, "progression", key, "2024-25")
            assert (moved["figure"], moved["distinct"], counts(moved, ids)) == (1, 1, expected), key

        # WCET 2023-24 A, B, C: A continues in tuition and B in the ensemble in 2024-25.
        for key in ("hub", "coventry"):
            went_on = await evidence(client, "continuation", key, "2023-24")
            assert (went_on["figure"], went_on["distinct"], went_on["total"]) == (2, 2, 4), key
            assert counts(went_on, ids) == {"wcet": 2, "tuition": 1, "ensemble": 1}
        assert (await evidence(client, "continuation", "solihull", "2023-24"))["figure"] == 0

        bad = await client.get(
            "/report/evidence",
            params={"view": "inclusion", "key": "send/ehcp", "period": "2024-25"},
        )
        assert bad.status_code == 422 and "area/characteristic/value" in bad.text


async def test_active_partners_expand_into_their_register_events(system: System) -> None:
    await load_dataset(system)
    await load_partners(system)
    async with reporting_client(system) as client:
        report = await view(client, "partnerships", period="2024-25")
        every = await evidence(client, "partners", "hub", "2024-25")
        # Swan (one org-id at two nodes) and Drake: 2 partners from 3 register rows;
        # Armonico is only approved.
        assert (every["figure"], every["distinct"]) == (report["active_partners"], 2) == (2, 2)
        # Swan: registered and made active at each node (2 + 2); Drake: registered,
        # details changed, made active (3).
        assert every["total"] == 7 and len(every["events"]) == 7
        assert sorted(e["event_type"] for e in every["events"]) == sorted(
            ["OrganisationRegistered"] * 3
            + ["PartnerStateChanged"] * 3
            + ["OrganisationDetailsChanged"]
        )
        solihull = await evidence(client, "partners", "area/solihull", "2024-25")
        assert (
            solihull["figure"],
            solihull["distinct"],
            {e["node"] for e in solihull["events"]},
        ) == (1, 1, {"solihull"})
        inclusion = await evidence(client, "partners", "function/inclusion", "2024-25")
        assert (inclusion["figure"], inclusion["distinct"], len(inclusion["events"])) == (
            report["active_by_function"]["inclusion"],
            1,
            3,
        )
        assert (
            await client.get(
                "/report/evidence",
                params={"view": "partners", "key": "colour/blue", "period": "2024-25"},
            )
        ).status_code == 422
    # The state event a partner's evidence names is covered by the audit like every projected
    # event id.
    async with system.reporting.read_sessions() as session:
        assert (await verify(session)).ok
    async with system.reporting.sessions() as session, session.begin():
        await session.execute(
            text("update organisation_view set state_event_id = :e where state = 'active'"),
            {"e": "01a2011f-0000-7000-8000-00000000dead"},
        )
    async with system.reporting.read_sessions() as session:
        problems = (await verify(session)).problems
    assert {(p.check, "state_event_id" in p.detail) for p in problems} == {
        ("projection reference", True)
    }


async def test_evidence_of_a_characteristic_from_the_shell(system: System, tmp_path: Any) -> None:
    await load_dataset(system)
    shown = hub_cli(
        "report",
        "evidence",
        "inclusion",
        "hub/send/ehcp",
        "--period",
        "2024-25",
        "--json",
        "--data-dir",
        str(tmp_path),
    )
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["figure"], body["distinct"], [e["event_type"] for e in body["events"]]) == (
        1,
        1,
        ["ParticipationRecorded"],
    )
