"""Inclusion beside the school population: shares worked out by hand from two areas' recorded
populations, the latest year up to the report's, unknown where a source lacks a figure; the schools
view shows each area's pupils; published tables stay suppressed; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.read.catalogue import run_view
from services.reporting.read.params import ViewParams
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.dashboard_helpers import dashboard_app, signed_in, text_of
from tests.helpers import System
from tests.test_contracts import envelope_for
from tests.test_reporting_views import load_dataset, reporting_client, view
from tests.test_reporting_views_databases import sample

COVENTRY_2023 = {
    "la_code": "331",
    "academic_year": "2023-24",
    "pupils": 1000,
    "sen_support": 120,
    "ehcp": 30,
    "fsm_eligible": 250,
    "ethnicity_white": 600,
    "ethnicity_mixed": 50,
    "ethnicity_asian": 250,
    "ethnicity_black": 70,
    "ethnicity_other": 20,
    "ethnicity_unclassified": 10,
    "gender_female": 490,
    "gender_male": 510,
}  # looked-after not given
SOLIHULL_2024 = {
    "la_code": "334",
    "academic_year": "2024-25",
    "pupils": 500,
    "sen_support": 60,
    "ehcp": 20,
    "fsm_eligible": 100,
    "looked_after": 5,
    "ethnicity_white": 350,
    "ethnicity_mixed": 30,
    "ethnicity_asian": 100,
    "ethnicity_black": 10,
    "ethnicity_other": 5,
    "ethnicity_unclassified": 5,
    "gender_female": 250,
    "gender_male": 250,
}


def rows_of(inclusion: dict[str, Any]) -> dict[tuple[str, str], tuple[int, str | None, str | None]]:
    return {
        (c["characteristic"], c["value"]): (c["pupils"], c["share"], c["population_share"])
        for c in inclusion["characteristics"]
    }


async def test_inclusion_sits_beside_the_areas_school_population(
    system: System, tmp_path: Path
) -> None:
    await load_dataset(system)
    for node, body in (("coventry", COVENTRY_2023), ("solihull", SOLIHULL_2024)):
        r = await system.post(node, "partners", "/school-population", body)
        assert r.status_code == 201, r.text
    await system.report_when(lambda r: r.stamp.applied_events >= 19, timeout=30)
    async with reporting_client(system) as client:
        hub = await view(client, "inclusion", period="2024-25")
        got = rows_of(hub)
        # 2024-25 participants A, B (Coventry) and D (Solihull, EHCP, FSM); the population is
        # Coventry's 2023-24 (its latest) and Solihull's 2024-25: 1,500 pupils.
        assert got[("send", "ehcp")] == (1, "33.3", "3.3")  # (30 + 20) / 1500
        assert got[("send", "none")] == (2, "66.7", "84.7")  # (850 + 420) / 1500
        assert got[("send", "support")] == (
            0,
            "0.0",
            "12.0",
        )  # nobody on SEN support takes part: still shown
        assert got[("fsm", "yes")] == (1, "33.3", "23.3")  # 350 / 1500
        assert got[("ethnicity", "asian")] == (0, "0.0", "23.3")  # 350 / 1500
        assert got[("gender", "male")] == (1, "33.3", "50.7")  # 760 / 1500
        assert got[("looked_after", "no")] == (3, "100.0", None)  # Coventry's source does not say
        assert ("looked_after", "yes") not in got
        notes = {(c["characteristic"], c["value"]): c["population"] for c in hub["characteristics"]}
        assert notes[("fsm", "yes")] == (
            "1,500 pupils in state-funded schools (coventry 2023-24, solihull 2024-25; "
            "DfE Schools, pupils and their characteristics 2023/24; "
            "DfE Schools, pupils and their characteristics 2024/25)"
        )
        assert notes[("looked_after", "no")].startswith(
            "unknown: not in the school population data"
        )

        coventry = rows_of(await view(client, "inclusion", period="2024-25", area="coventry"))
        assert coventry[("fsm", "no")] == (2, "100.0", "75.0")  # (1000 - 250) / 1000
        earlier = await view(client, "inclusion", period="2023-24")
        assert {c["population"] for c in earlier["characteristics"]} >= {
            "1,000 pupils in state-funded schools (coventry 2023-24; DfE Schools, pupils and "
            "their characteristics 2023/24)"
        }

        areas = {
            a["area"]: (a["school_pupils"], a["school_pupils_year"])
            for a in (await view(client, "schools", period="2024-25"))["areas"]
        }
        assert areas == {"coventry": (1000, "2023-24"), "solihull": (500, "2024-25")}

        # The public tables publish participant counts only, still suppressed;
        # the zero rows show as 0.
        public = await view(client, "transparency", period="2024-25")
        assert all(
            r["pupils"] in ("c", "0") and set(r) == {"group", "pupils"}
            for t in public["tables"]
            for r in t["rows"]
        )
        behind = (
            await client.get(
                "/report/evidence",
                params={"view": "inclusion", "key": "hub/fsm/yes", "period": "2024-25"},
            )
        ).json()
        assert behind["figure"] == 1 and "1,500 pupils in state-funded schools" in behind["note"]

    async with signed_in(dashboard_app(system, tmp_path), "manager") as dashboard:
        page = text_of(
            (await dashboard.get("/dashboard/views/inclusion", params={"period": "2024-25"})).text
        )
        assert (
            "FSM Yes: 33.3% against 23.3%" in page
            and "Looked after No: 100.0% against unknown" in page
        )


async def test_population_is_projected_and_replaced_on_each_database(
    settings: HubSettings, database_url: str
) -> None:
    reporting = build_service(settings, "", ReportingSettings(database_url=database_url))
    await reporting.start(consume=False)
    try:
        first = sample("SchoolPopulationRecorded.v1")
        revised = {
            **first,
            "fsm_eligible": 300,
            "source": "DfE Schools, pupils and their characteristics 2024/25 (revised)",
        }
        events = [sample("SettingAdded.v1"), first, revised]
        messages = [
            Incoming(
                event_subject(settings.hub, "coventry", "partners", t, 1),
                envelope_for(
                    t, 1, body, hub=settings.hub, node="coventry", service="partners", sequence=i
                ),
                i,
            )
            for i, (t, body) in enumerate(
                zip(
                    ("SettingAdded", "SchoolPopulationRecorded", "SchoolPopulationRecorded"),
                    events,
                    strict=True,
                ),
                start=1,
            )
        ]
        assert (await reporting.ingest(messages)).applied == 3
        params = ViewParams(hub=settings.hub, nodes=["coventry"], period="2025-26")
        async with reporting.read_sessions() as session:
            schools = await run_view(session, "schools", params)
        assert [(a.area, a.school_pupils, a.school_pupils_year) for a in schools.areas] == [  # type: ignore[attr-defined]
            ("coventry", 1000, "2024-25")
        ]
        from services.reporting.read.views.population import school_population, with_population
        from services.reporting.read.views.rows import Characteristic

        async with reporting.read_sessions() as session:
            population = await school_population(session, "2025-26")
            [earlier] = await with_population(
                session,
                "2023-24",
                "coventry",
                [Characteristic(characteristic="gender", value="other", pupils=1, share=100)],
                1,
            )
        assert (
            earlier.population
            == "unknown: no school population recorded for coventry for 2023-24 or before"
        )
        assert (
            population.count("fsm", "yes"),
            population.count("send", "none"),
            population.count("looked_after", "no"),
        ) == (300, 830, None)
        assert population.rows[0].source.endswith("(revised)")
    finally:
        await reporting.stop()
