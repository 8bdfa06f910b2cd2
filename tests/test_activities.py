"""Activities end to end: pupils leave a node only as pseudonyms, joint work counts once in each
pupil's own area, corrections and withdrawals change the figures, partner returns show as late or
missing."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from services.reporting.read.views.activities import Reach, partner_returns, reach
from shared.pseudonym import make_upn
from tests.helpers import System, activity, organisation

DELIVERER = "01a2011f-0000-7000-8000-000000000001"


def pupil(digits: str, **extra: Any) -> dict[str, Any]:
    body = {
        "upn": make_upn(digits),
        "year_group": "4",
        "send": "support",
        "fsm": True,
        "ethnicity": "asian",
        "gender": "female",
        "school_urn": "103690",
        "home_area": "coventry",
    }
    return {**body, **extra}


async def record(system: System, node: str, **extra: Any) -> str:
    r = await system.post(
        node, "activities", "/activities", activity(DELIVERER, area=node, **extra)
    )
    assert r.status_code == 201, r.text
    return r.json()["activity_id"]


async def add_pupils(system: System, node: str, activity_id: str, pupils: list[dict]) -> dict:
    r = await system.post(
        node, "activities", f"/activities/{activity_id}/participants", {"pupils": pupils}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def reach_when(system: System, year: str, by: str, done) -> Reach:  # type: ignore[no-untyped-def]
    from tests.helpers import wait_for

    async def check() -> Reach:
        async with system.reporting.read_sessions() as session:
            return await reach(session, year, by)  # type: ignore[arg-type]

    return await wait_for(check, done)


def all_text_in(db: Path) -> str:
    """Every value of every table of a SQLite database, outbox bodies included, as one string."""
    with sqlite3.connect(db) as conn:
        tables = [t for (t,) in conn.execute("select name from sqlite_master where type='table'")]
        parts = []
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):
                parts += [
                    v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row
                ]
    return "\n".join(parts)


async def test_upns_never_leave_the_node_and_one_pupil_at_two_nodes_is_one_pseudonym(
    system: System, tmp_path: Path
) -> None:
    shared_pupil = pupil("331369024001")
    cov = await record(system, "coventry")
    sol = await record(system, "solihull", kind="ensemble", level="intermediate")
    await add_pupils(
        system, "coventry", cov, [shared_pupil, pupil("331369024002"), pupil("331369024003")]
    )
    await add_pupils(
        system, "solihull", sol, [shared_pupil, pupil("334100124001", home_area="solihull")]
    )

    got = await reach_when(system, "2024-25", "area", lambda r: r.participations == 5)
    assert (got.participations, got.unique_pupils) == (5, 4)
    assert {(r.group, r.unique_pupils) for r in got.rows} == {("coventry", 3), ("solihull", 1)}

    upns = [make_upn(d) for d in ("331369024001", "331369024002", "331369024003", "334100124001")]
    reporting_text = all_text_in(tmp_path / "hub" / "reporting.db")
    for node in ("coventry", "solihull"):
        outbox = all_text_in(tmp_path / node / "activities.db").split("\n")
        bodies = "\n".join(v for v in outbox if v.startswith("{"))
        assert "ParticipationRecorded" in bodies
        assert not [u for u in upns if u in bodies], f"a UPN is in an event of {node}"
    assert not [u for u in upns if u in reporting_text], "a UPN reached the reporting database"
    with sqlite3.connect(tmp_path / "hub" / "reporting.db") as conn:
        by_node = dict(
            conn.execute(
                "select node, pseudonym from participation_view "
                "where year_group='4' and send='support' "
                "group by node, pseudonym having count(*) = 1 and pseudonym in "
                "(select pseudonym from participation_view "
                "group by pseudonym having count(distinct node) = 2)"
            ).fetchall()
        )
    assert set(by_node) == {"coventry", "solihull"} and by_node["coventry"] == by_node["solihull"]


async def test_joint_work_is_recorded_once_and_attributed_to_each_pupils_own_area(
    system: System,
) -> None:
    orchestra = await record(
        system,
        "coventry",
        kind="ensemble",
        level="advanced",
        title="Regional youth orchestra",
        setting_urn=None,
        headcount=3,
    )
    members = [
        pupil("331369024011", year_group="9"),
        pupil("334100124012", home_area="solihull", year_group="10", school_urn="104100"),
        pupil("937200124013", home_area="warwickshire", year_group="9", school_urn="125600"),
    ]
    await add_pupils(system, "coventry", orchestra, members)

    by_area = await reach_when(system, "2024-25", "area", lambda r: r.participations == 3)
    rows = {r.group: r for r in by_area.rows}
    assert {a: r.unique_pupils for a, r in rows.items()} == {
        "coventry": 1,
        "solihull": 1,
        "warwickshire": 1,
    }
    assert rows["coventry"].headcount == 3 and rows["solihull"].headcount == 0, (
        "headcount stays where it was delivered"
    )
    by_year = await reach_when(system, "2024-25", "year_group", lambda r: True)
    assert {(r.group, r.unique_pupils, r.headcount) for r in by_year.rows} == {
        ("9", 2, None),
        ("10", 1, None),
    }
    again = await system.post(
        "coventry", "activities", f"/activities/{orchestra}/participants", {"pupils": members}
    )
    assert (
        again.json()["participations_added"] == 0 and again.json()["participations_existing"] == 3
    )


async def test_corrections_and_withdrawals_change_the_figures_and_keep_history(
    system: System, tmp_path: Path
) -> None:
    wrong_kind = await record(system, "coventry", headcount=28)
    mistaken = await record(
        system, "coventry", kind="workshop", headcount=40, title="Entered twice"
    )
    await add_pupils(system, "coventry", wrong_kind, [pupil("331369024021"), pupil("331369024022")])
    await system.report_when(lambda r: r.totals.headcount == 68)

    fixed = activity(
        DELIVERER, kind="tuition", level="intermediate", headcount=2, reason="was tuition, not WCET"
    )
    assert (
        await system.post("coventry", "activities", f"/activities/{wrong_kind}/correct", fixed)
    ).status_code == 204
    r = await system.post(
        "coventry", "activities", f"/activities/{mistaken}/withdraw", {"reason": "duplicate entry"}
    )
    assert r.status_code == 204
    r = await system.post(
        "coventry",
        "activities",
        f"/activities/{wrong_kind}/participants/withdraw",
        {"upns": [make_upn("331369024022")], "reason": "left the group before it started"},
    )
    assert r.json() == {"withdrawn": 1}

    report = await system.report_when(lambda r: r.stamp.applied_events == 7)
    assert (report.totals.activities, report.totals.headcount) == (1, 2)
    kinds = await reach_when(system, "2024-25", "kind", lambda r: r.unique_pupils == 1)
    assert [(r.group, r.unique_pupils, r.headcount) for r in kinds.rows] == [("tuition", 1, 2)]
    with sqlite3.connect(tmp_path / "hub" / "reporting.db") as conn:
        changes = sorted(
            conn.execute("select change, participations, reason from activity_correction_view")
        )
        history = [
            t for (t,) in conn.execute("select event_type from applied_event order by position")
        ]
    assert changes == [
        ("activity withdrawn", 0, "duplicate entry"),
        ("corrected", 0, "was tuition, not WCET"),
        ("participations withdrawn", 1, "left the group before it started"),
    ]
    assert history.count("ActivityDelivered") == 2 and "ActivityCorrected" in history

    gone = await system.post("coventry", "activities", f"/activities/{mistaken}/correct", fixed)
    assert gone.status_code == 409
    unknown = await system.post(
        "coventry",
        "activities",
        f"/activities/{wrong_kind}/participants/withdraw",
        {"upns": [make_upn("331369024099")], "reason": "x"},
    )
    assert unknown.status_code == 404


async def test_late_and_missing_partner_returns_are_visible_at_the_node_and_the_hub(
    system: System,
) -> None:
    on_time, late, missing = [
        (await system.post("coventry", "partners", "/organisations", organisation(name))).json()[
            "organisation_id"
        ]
        for name in ("Drake Music", "Quench Arts", "Studio X")
    ]
    for partner in (on_time, late, missing):
        body = {"partner_id": partner, "academic_year": "2024-25", "due_on": "2025-07-31"}
        assert (
            await system.post("coventry", "activities", "/returns/expected", body)
        ).status_code == 201
    for partner, day in ((on_time, "2025-07-20"), (late, "2025-08-20")):
        body = {
            "partner_id": partner,
            "academic_year": "2024-25",
            "submitted_on": day,
            "file_digest": "a" * 64,
            "activities": 4,
            "participations": 90,
        }
        assert (await system.post("coventry", "activities", "/returns", body)).json()["new"] is True
    repeat = await system.post(
        "coventry", "activities", "/returns", {**body, "submitted_on": "2025-09-01"}
    )
    assert repeat.json()["new"] is False

    async with system.client("coventry", "activities") as client:
        lines = (
            await client.get("/returns", params={"academic_year": "2024-25", "today": "2025-09-01"})
        ).json()
    assert {(line["partner_id"], line["status"]) for line in lines} == {
        (on_time, "received"),
        (late, "late"),
        (missing, "missing"),
    }
    await system.report_when(lambda r: r.stamp.applied_events == 8)
    async with system.reporting.read_sessions() as session:
        hub_lines = await partner_returns(session, "2024-25", date(2025, 7, 1))
    assert sorted(line.status for line in hub_lines) == ["due", "late", "received"]


async def test_reach_is_served_over_http_and_bad_pupils_are_refused(system: System) -> None:
    from services.reporting.app import create_app

    act = await record(system, "coventry")
    bad = await system.post(
        "coventry",
        "activities",
        f"/activities/{act}/participants",
        {"pupils": [pupil("331369024031", upn="A331369024031"[:12])]},
    )
    assert bad.status_code == 422 and "13 characters" in bad.text
    await add_pupils(system, "coventry", act, [pupil("331369024031")])
    await reach_when(system, "2024-25", "level", lambda r: r.unique_pupils == 1)
    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        body = (
            await client.get(
                "/report/activities/reach", params={"academic_year": "2024-25", "by": "level"}
            )
        ).json()
        refused = await client.get(
            "/report/activities/reach", params={"academic_year": "2024", "by": "level"}
        )
    assert body["rows"] == [
        {"group": "beginner", "unique_pupils": 1, "participations": 1, "headcount": 28}
    ]
    assert refused.status_code == 422
