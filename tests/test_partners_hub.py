"""Partners through HTTP, NATS and reporting: refusals, one organisation seen by two nodes,
the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import httpx
from typer.testing import CliRunner

from hub.cli import app as hub_cli
from services.reporting.app import create_app
from tests.helpers import System, organisation, wait_for

TODAY = date.today()


async def organisations_report(system: System) -> dict:
    app = create_app(system.reporting)  # routes only; the service is already running
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        response = await client.get("/report/organisations")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


async def test_bad_input_gets_field_level_4xx_and_nothing_is_stored_or_published(
    system: System,
) -> None:
    bad_id = await system.post(
        "coventry", "partners", "/organisations", organisation(org_id="GB-COH-123456789")
    )
    bad_role = await system.post(
        "coventry", "partners", "/organisations", organisation(roles=["sponsor"])
    )
    both = await system.post(  # every bad field at once, not one per attempt
        "coventry",
        "partners",
        "/organisations",
        organisation(org_id="GB-COH-123456789", areas=["mars", "coventry"]),
    )
    ok = await system.post("coventry", "partners", "/organisations", organisation())
    organisation_id = ok.json()["organisation_id"]
    jump = await system.post(
        "coventry",
        "partners",
        f"/organisations/{organisation_id}/state-changes",
        {"to_state": "active", "decided_by": "Panel"},
    )
    missing = await system.post(
        "coventry",
        "partners",
        "/organisations/01a2011f-0000-7000-8000-00000000dead/state-changes",
        {"to_state": "under_review", "decided_by": "Panel"},
    )
    backwards = await system.post(
        "coventry",
        "partners",
        f"/organisations/{organisation_id}/agreements",
        {"kind": "sla", "title": "x", "starts_on": "2025-09-01", "ends_on": "2025-08-01"},
    )

    assert (bad_id.status_code, bad_id.json()["detail"][0]["loc"]) == (422, ["body", "org_id"])
    assert both.status_code == 422, both.text
    assert {tuple(d["loc"]) for d in both.json()["detail"]} == {
        ("body", "org_id"),
        ("body", "areas"),
    }
    assert "'mars' is not one of the hub's nodes" in both.text
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"][:2] == [
        "body",
        "roles",
    ]
    assert (jump.status_code, jump.json()["detail"][0]["loc"]) == (422, ["body", "to_state"])
    assert (
        "from interest the allowed states are: ended, under_review"
        in jump.json()["detail"][0]["msg"]
    )
    assert missing.status_code == 404
    assert (backwards.status_code, backwards.json()["detail"][0]["loc"]) == (
        422,
        ["body", "ends_on"],
    )
    async with system.client("coventry", "partners") as client:
        listed = (await client.get("/organisations")).json()
    assert [o["state"] for o in listed] == ["interest"]
    await system.report_when(lambda r: r.stamp.applied_events >= 1)
    await asyncio.sleep(0.3)  # anything wrongly published would have arrived by now
    assert (await system.report()).stamp.applied_events == 1


async def test_two_nodes_registering_one_charity_count_as_one_organisation(system: System) -> None:
    for node, spelling in (("coventry", "GB-CHC-1036733"), ("solihull", "gb-chc-1036733")):
        body = {
            "name": "Arts Council England",
            "roles": ["funder"],
            "functions": ["sustainability"],
            "org_id": spelling,
        }
        assert (await system.post(node, "partners", "/organisations", body)).status_code == 201
    for node in ("coventry", "solihull"):  # no org-id: the hub cannot tell these are the same
        assert (
            await system.post(node, "partners", "/organisations", organisation(areas=[node]))
        ).status_code == 201

    await system.report_when(lambda r: r.stamp.applied_events >= 4)
    report = await organisations_report(system)
    assert (report["registrations"], report["organisations"]) == (4, 3)
    assert report["by_role"] == {"delivery_partner": 2, "funder": 1}
    assert report["by_area"] == {"coventry": 1, "solihull": 1}
    assert report["shared"] == [
        {
            "org_id": "GB-CHC-1036733",
            "name": "Arts Council England",
            "nodes": ["coventry", "solihull"],
        }
    ]
    report_totals = (await system.report()).totals
    assert report_totals.organisations == 3  # hub-wide, the shared charity counts once


async def test_lifecycle_agreements_and_settings_reach_the_hub_view(
    system: System, tmp_path: Path
) -> None:
    org = (
        await system.post(
            "coventry",
            "partners",
            "/organisations",
            organisation("Drake Music", functions=["inclusion"]),
        )
    ).json()
    path = f"/organisations/{org['organisation_id']}"
    for state in ("under_review", "approved"):
        assert (
            await system.post(
                "coventry",
                "partners",
                f"{path}/state-changes",
                {"to_state": state, "decided_by": "Panel"},
            )
        ).status_code == 201
    signed = await system.post(
        "coventry",
        "partners",
        f"{path}/agreements",
        {
            "kind": "commission",
            "title": "Inclusion commission",
            "starts_on": str(TODAY - timedelta(days=5)),
            "ends_on": str(TODAY + timedelta(days=20)),
        },
    )
    assert signed.status_code == 201 and signed.json()["functions"] == ["inclusion"]
    assert (
        await system.post(
            "coventry",
            "partners",
            f"{path}/state-changes",
            {"to_state": "active", "decided_by": "Panel", "reason": "Commission signed"},
        )
    ).status_code == 201
    setting = {
        "urn": "103975",
        "name": "Canley Primary School",
        "la_code": "331",
        "phase": "Primary",
        "setting_type": "Community school",
    }
    first = await system.post("coventry", "partners", "/settings", setting)
    again = await system.post("coventry", "partners", "/settings", setting)
    elsewhere = await system.post(
        "coventry", "partners", "/settings", {**setting, "urn": "125744", "la_code": "937"}
    )
    assert (first.status_code, again.status_code, elsewhere.status_code) == (201, 200, 422)
    assert first.json()["organisation_id"] == again.json()["organisation_id"]
    async with system.client("coventry", "partners") as client:
        detail = (await client.get(path)).json()
        expiring = (await client.get("/agreements", params={"expiring_within_days": 30})).json()
        active = (
            await client.get("/organisations", params={"state": "active", "function": "inclusion"})
        ).json()
        renamed = await client.patch(path, json={"name": "Drake Music Ltd"})
    assert detail["state"] == "active" and detail["state_changed_by"] == "Panel"
    assert (
        [a["title"] for a in detail["agreements"]]
        == [a["title"] for a in expiring]
        == ["Inclusion commission"]
    )
    assert [o["name"] for o in active] == ["Drake Music"]
    assert renamed.status_code == 200

    await system.report_when(lambda r: r.stamp.applied_events >= 7)
    report = await organisations_report(system)
    assert report["organisations"] == 2
    assert report["by_state"] == {"active": 1}
    assert report["by_role"] == {"delivery_partner": 1, "education_setting": 1}
    assert report["settings"] == [{"area": "coventry", "settings": 1, "state_funded": 1}]

    shown = await asyncio.to_thread(
        CliRunner().invoke,
        hub_cli,
        ["partners", "report", "--json", "--data-dir", str(system.settings.data_dir)],
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["by_state"] == {"active": 1}
    async with system.reporting.read_sessions() as session:
        from services.reporting.models.partners import OrganisationView

        names = await wait_for(
            lambda: _names(session, OrganisationView), lambda n: "Drake Music Ltd" in n
        )
    assert "Drake Music Ltd" in names


async def _names(session, view) -> set[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    session.expire_all()
    return set((await session.scalars(select(view.name))).all())


def test_cli_import_refuses_a_bad_file_whole_then_dry_runs_and_imports(tmp_path: Path) -> None:
    header = "URN,EstablishmentName,LA (code),PhaseOfEducation (name),TypeOfEstablishment (name)\n"
    (tmp_path / "bad.csv").write_text(
        header
        + "103975,Canley Primary School,331,Primary,Community school\n"
        + "10397X,Broken,331,Primary,Community school\n"
    )
    (tmp_path / "good.csv").write_text(
        header + "103975,Canley Primary School,331,Primary,Community school\n"
    )
    runner = CliRunner()

    def hub(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(
            hub_cli, ["partners", *args, "--node", "coventry", "--data-dir", str(tmp_path)]
        )

    bad = hub("import-settings", str(tmp_path / "bad.csv"))
    assert bad.exit_code == 1 and "nothing imported" in bad.output and "URN" in bad.output
    dry = hub("import-settings", str(tmp_path / "good.csv"), "--dry-run")
    assert dry.exit_code == 0 and "would add 1 setting" in dry.output
    assert "(0)" in hub("settings").output
    done = hub("import-settings", str(tmp_path / "good.csv"))
    assert done.exit_code == 0 and "added 1 setting" in done.output
    again = hub("import-settings", str(tmp_path / "good.csv"))
    assert "added 0 setting(s); 1 already registered" in again.output
    assert "Canley Primary School" in hub("settings").output


def test_cli_registers_and_refuses_an_invalid_move_with_its_reason(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--node", "solihull", "--data-dir", str(tmp_path)]
    made = runner.invoke(
        hub_cli,
        [
            "partners",
            "register",
            *common,
            "--name",
            "Example Community Music Trust",
            "--role",
            "delivery_partner",
            "--charity-number",
            "1101234",
        ],
    )
    assert made.exit_code == 0, made.output
    assert "GB-CHC-1101234" in made.output
    organisation_id = made.output.split(" as ")[1].split(",")[0]
    refused = runner.invoke(
        hub_cli,
        ["partners", "change-state", *common, organisation_id, "active", "--decided-by", "Panel"],
    )
    assert refused.exit_code == 1 and "from interest the allowed states are" in refused.output
    moved = runner.invoke(
        hub_cli,
        [
            "partners",
            "change-state",
            *common,
            organisation_id,
            "under_review",
            "--decided-by",
            "Panel",
        ],
    )
    assert moved.exit_code == 0 and "interest → under_review" in moved.output
    listed = runner.invoke(hub_cli, ["partners", "list", *common, "--state", "under_review"])
    assert "organisations (1)" in listed.output and "GB-CHC-1101234" in listed.output
    with_ids = runner.invoke(hub_cli, ["partners", "list", *common, "--ids"])
    assert organisation_id in with_ids.output
