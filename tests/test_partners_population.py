"""A node's school population: the DfE-shaped import (whole file checked first, idempotent,
revisions republished), the HTTP route with field-level refusals, and nothing stored or published
when refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from harness.sample.partners import POPULATION_CSV
from hub.cli import app as hub_cli
from services.partners import app as partners_app
from services.partners.services import import_school_population, list_school_population
from shared.node_service import NodeService
from shared.settings import HubSettings
from shared.tabular import TabularError
from tests.test_partners import events

HEADER = (
    "time_period,old_la_code,la_name,headcount,sen_support,ehcp,fsm_eligible,looked_after,"
    "gender_female,gender_male\n"
)


def population_file(tmp_path: Path, rows: str, name: str = "population.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows)
    return path


async def test_the_dfe_table_is_recorded_for_the_nodes_own_area_once(
    partners: NodeService, tmp_path: Path
) -> None:
    dry = await import_school_population(
        POPULATION_CSV, partners.unit_of_work(), "coventry", dry_run=True
    )
    assert (dry.recorded, dry.other_area_skipped, await events(partners)) == (2, 4, [])
    first = await import_school_population(POPULATION_CSV, partners.unit_of_work(), "coventry")
    # The sample table has every area's two years: Coventry's two are recorded,
    # the other four skipped.
    assert (
        first.recorded,
        first.revised,
        first.unchanged,
        first.other_area_skipped,
        first.problems,
    ) == (2, 0, 0, 4, [])
    published = await events(partners)
    assert [t for t, _ in published] == ["SchoolPopulationRecorded"] * 2
    latest = published[1][1]
    assert (
        latest["area"],
        latest["la_code"],
        latest["academic_year"],
        latest["pupils"],
        latest["ehcp"],
    ) == ("coventry", "331", "2024-25", 60310, 2051)
    assert latest["looked_after"] is None  # the DfE's z: unknown, not zero
    assert latest["source"] == "DfE Schools, pupils and their characteristics 2024/25"

    again = await import_school_population(POPULATION_CSV, partners.unit_of_work(), "coventry")
    assert (again.recorded, again.unchanged, len(await events(partners))) == (0, 2, 2)
    revised = tmp_path / "revised.csv"  # with a source column, left blank: the default source
    revised.write_text(
        HEADER.replace("\n", ",source\n")
        + "2024/25,331,Coventry,60310,8383,2051,17000,120,29552,30758,\n"
    )
    outcome = await import_school_population(revised, partners.unit_of_work(), "coventry")
    assert (outcome.revised, outcome.recorded) == (1, 0)
    assert (await events(partners))[-1][1]["fsm_eligible"] == 17000
    stored = {
        r.academic_year: r.figures for r in await list_school_population(partners.unit_of_work())
    }
    assert stored["2024-25"]["looked_after"] == 120 and stored["2023-24"]["fsm_eligible"] == 16405


async def test_a_population_file_with_any_bad_row_records_nothing(
    partners: NodeService, tmp_path: Path
) -> None:
    bad = population_file(
        tmp_path,
        (
            "202425,331,Coventry,1000,120,30,250,z,490,510\n"  # good
            # SEN support + EHCP above the pupils
            "202324,331,Coventry,1000,900,200,250,z,490,510\n"
            "202426,331,Coventry,1000,120,30,250,z,490,510\n"  # not a year
            "202223,331,Coventry,,120,30,250,z,490,510\n"  # no headcount
            "2024/25,331,Coventry,1000,120,30,250,z,490,510\n"  # the first row's LA and year again
            "202122,331,Coventry,1000,120,30,1001,z,490,510\n"  # FSM above the pupils
        ),
    )
    outcome = await import_school_population(bad, partners.unit_of_work(), "coventry")
    assert [(p.row, p.column) for p in outcome.problems] == [
        (3, "ehcp"),
        (4, "time_period"),
        (5, "headcount"),
        (7, "fsm_eligible"),
        (6, "time_period"),
    ]
    assert (
        "more than the 1000 pupils" in outcome.problems[0].reason
        and "row 2" in outcome.problems[-1].reason
    )
    assert (
        await events(partners) == [] and await list_school_population(partners.unit_of_work()) == []
    )
    headerless = tmp_path / "no-headcount.csv"
    headerless.write_text("time_period,old_la_code\n202425,331\n")
    with pytest.raises(TabularError) as missing:
        await import_school_population(headerless, partners.unit_of_work(), "coventry")
    assert [(p.column, p.reason) for p in missing.value.problems] == [
        ("headcount", "required column is missing")
    ]


async def test_the_route_records_refuses_by_field_and_says_when_nothing_changed(
    partners: NodeService,
) -> None:
    app = partners_app.create_app(partners)
    body = {
        "la_code": "331",
        "academic_year": "2024-25",
        "pupils": 1000,
        "sen_support": 120,
        "ehcp": 30,
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://partners"
    ) as client:
        other_area = await client.post("/school-population", json={**body, "la_code": "937"})
        too_many = await client.post("/school-population", json={**body, "ehcp": 990})
        typo = await client.post("/school-population", json={**body, "ehcps": 3})
        assert [r.status_code for r in (other_area, too_many, typo)] == [422, 422, 422]
        assert (
            other_area.json()["detail"][0]["loc"] == ["body", "la_code"]
            and "coventry" in other_area.text
        )
        assert too_many.json()["detail"][0]["loc"] == ["body", "ehcp"]
        assert await events(partners) == []
        first = await client.post("/school-population", json=body)
        same = await client.post("/school-population", json=body)
        assert (first.status_code, first.json(), same.status_code, same.json()) == (
            201,
            {"outcome": "recorded"},
            200,
            {"outcome": "unchanged"},
        )
        listed = (await client.get("/school-population")).json()
    assert [
        (r["area"], r["academic_year"], r["figures"]["ehcp"], r["figures"]["fsm_eligible"])
        for r in listed
    ] == [("coventry", "2024-25", 30, None)]
    assert len(await events(partners)) == 1


def test_cli_imports_the_population_table_and_refuses_a_bad_one(tmp_path: Path) -> None:
    def hub(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(
            hub_cli, ["partners", *args, "--node", "solihull", "--data-dir", str(tmp_path)]
        )

    bad = population_file(tmp_path, "202425,334,Solihull,100,90,20,5,z,50,50\n")
    refused = hub("import-population", str(bad))
    assert (
        refused.exit_code == 1 and "nothing imported" in refused.output and "ehcp" in refused.output
    )
    dry = hub("import-population", str(POPULATION_CSV), "--dry-run")
    assert (
        dry.exit_code == 0
        and "would record 2 year(s)" in dry.output
        and "4 rows of other areas" in dry.output
    )
    assert "(0 years)" in hub("population").output
    assert "recorded 2 year(s)" in hub("import-population", str(POPULATION_CSV)).output
    assert "2 unchanged" in hub("import-population", str(POPULATION_CSV)).output
    listed = hub("population").output
    assert "2023-24" in listed and "2024-25" in listed and "37620" in listed


async def test_a_node_whose_la_the_hub_does_not_know_records_one_la_only(
    settings: HubSettings, tmp_path: Path
) -> None:
    """Birmingham's LA is not in the hub's table: a national file would make every LA's rows its
    own, so several unknown LA codes are refused; one LA's rows are recorded and it then stays that
    LA."""
    # a hub Birmingham has joined
    hub = settings.model_copy(update={"nodes": [*settings.nodes, "birmingham"]})
    birmingham = partners_app.build_service(hub, "birmingham", "")
    await birmingham.start(relay=False)
    try:
        await _records_one_la_only(birmingham, tmp_path)
    finally:
        await birmingham.stop()


async def _records_one_la_only(partners: NodeService, tmp_path: Path) -> None:
    national = population_file(
        tmp_path,
        "202425,330,Birmingham,1000,120,30,250,z,490,510\n"
        "202425,873,Cambridgeshire,900,100,20,200,z,450,450\n",
    )
    refused = await import_school_population(national, partners.unit_of_work(), "birmingham")
    assert [(p.row, p.column) for p in refused.problems] == [(3, "old_la_code")]
    assert "330, 873" in refused.problems[0].reason and await events(partners) == []

    own = population_file(tmp_path, "202425,330,Birmingham,1000,120,30,250,z,490,510\n", "own.csv")
    assert (
        await import_school_population(own, partners.unit_of_work(), "birmingham")
    ).recorded == 1
    later = await import_school_population(national, partners.unit_of_work(), "birmingham")
    assert (later.unchanged, later.other_area_skipped, later.problems) == (
        1,
        1,
        [],
    )  # 873 is not Birmingham's now
