"""The dashboard's pages made for people: figures written the one way (read/present.py), view
tables curated from any result (dashboard/curated.py), pages opening on a year with data and
saying when a year has none, and a partner's history across years."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from services.reporting.dashboard.curated import UUID, curate
from services.reporting.read.catalogue import VIEWS
from services.reporting.read.labels import Names
from services.reporting.read.present import hours, level_order, name, number, pounds, words
from tests.dashboard_helpers import PERIOD, dashboard_app, signed_in, text_of
from tests.helpers import System, income
from tests.test_reporting_views import load_dataset


def test_figures_are_written_for_people() -> None:
    assert pounds(-439_498) == "\u2212£4,394.98" and pounds(302_710_648) == "£3,027,106.48"
    assert number(1136) == "1,136" and number(-5) == "\u22125" and number(None) == "–"
    assert hours(Decimal("1058.00")) == "1,058" and hours(Decimal("12.50")) == "12.5"
    assert words("dfe_grant") == "DfE grant" and words("early_years") == "Early years"
    assert name("heart-of-england") == "Heart of England" and name("coventry") == "Coventry"
    levels = ["intermediate", "none", "beginner", "advanced", "early_years"]
    assert sorted(levels, key=level_order) == [
        "none",
        "early_years",
        "beginner",
        "intermediate",
        "advanced",
    ]


class Line(BaseModel):
    node: str
    delivered_by: str
    variance_pence: int
    status: str


class Stamp(BaseModel):
    hub_stream_seq: int
    applied_events: int
    chain_head: str


class Result(BaseModel):
    stamp: Stamp
    academic_year: str
    pupils_by_level: dict[str, int]
    lines: list[Line]


def test_a_result_becomes_tables_with_names_flags_order_and_provenance_apart() -> None:
    partner = "01a24a7a-c34f-7ec1-9e86-579bfdc31914"
    result = Result(
        stamp=Stamp(hub_stream_seq=488, applied_events=480, chain_head="d50de1439860"),
        academic_year="2024-25",
        pupils_by_level={"intermediate": 374, "none": 3, "beginner": 978},
        lines=[
            Line(node="coventry", delivered_by=partner, variance_pence=439_498, status="late"),
            Line(node="solihull", delivered_by="01a2", variance_pence=-5, status="submitted"),
        ],
    )
    shown = curate(result, Names(organisations={partner: "Studio X"}))
    assert ("Hub stream position", "488") in shown.about and ("Academic year", "2024-25") in (
        shown.about
    )
    levels, lines = shown.tables
    assert [row[0].text for row in levels.rows] == ["Not taking part", "Beginner", "Intermediate"]
    assert [c.label for c in lines.columns] == [
        "Lead organisation",
        "Partner",
        "Variance, actual − budget (£)",
        "Status",
    ]
    assert [c.numeric for c in lines.columns] == [False, False, True, False]
    first, second = ([c.text for c in row] for row in lines.rows)
    assert first == ["Coventry", "Studio X", "£4,394.98", "Late"]
    assert second[2] == "\u2212£0.05"
    assert [c.flag for c in lines.rows[0]] == [None, None, "Overspend", "Late"]
    assert [c.flag for c in lines.rows[1]] == [None, None, None, None]
    assert lines.rows[0][1].href == f"/dashboard/partners/{partner}"  # a named partner: its page
    assert lines.rows[1][1].href is None
    every = [c.text for t in shown.tables for row in t.rows for c in row]
    assert not any(UUID.match(text) for text in every) and "stamp" not in str(every)


class Counted(dict[str, str]):
    """A names mapping that counts the ids looked up in it."""

    looked_up = 0

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.looked_up += 1
        return super().get(key, default)


class Long(BaseModel):
    engaged_urns: list[str]
    lines: list[Line]


def test_a_long_table_writes_out_only_the_rows_it_shows() -> None:
    """A view with thousands of rows (a year's schools, a funding view's commissions) shows its
    first ROW_LIMIT: only those are written out, names looked up for them alone."""
    urns = [str(100_000 + i) for i in range(1000)]
    partners = [f"0000{i:04}-c34f-7ec1-9e86-579bfdc31914" for i in range(1000)]
    schools = Counted({u: f"School {u}" for u in urns})
    organisations = Counted({p: f"Partner {i:04}" for i, p in enumerate(partners)})
    result = Long(
        engaged_urns=urns,
        lines=[
            Line(node="coventry", delivered_by=p, variance_pence=i, status="late")
            for i, p in enumerate(partners)
        ],
    )
    urn_table, lines = curate(result, Names(organisations=organisations, schools=schools)).tables
    assert (urn_table.total_rows, len(urn_table.rows)) == (1000, 200)
    assert urn_table.rows[-1][0].text == "School 100199 (URN 100199)"
    assert (lines.total_rows, len(lines.rows)) == (1000, 200)
    assert [c.text for c in lines.rows[199]] == ["Coventry", "Partner 0199", "£1.99", "Late"]
    assert schools.looked_up == 200 and organisations.looked_up == 200


async def test_a_money_figures_trace_opens_on_the_latest_year_with_money(
    system: System, tmp_path: Path
) -> None:
    """Like the money pages: a trace of income without a year is of the latest year with money
    (here a year after the delivery), a trace of pupils of the latest year with delivery."""
    await load_dataset(system)
    later = income(5_00, received_on="2025-10-01")
    assert (await system.post("coventry", "funding", "/income", later)).status_code == 201
    await system.report_when(lambda r: r.stamp.applied_events >= 18, timeout=30)
    async with signed_in(dashboard_app(system, tmp_path), "manager") as client:
        traced = text_of((await client.get("/dashboard/trace?view=income&key=hub")).text)
        pupils = text_of((await client.get("/dashboard/trace?view=pupils&key=hub")).text)
    assert "The events behind income for hub, 2025-26" in traced and "£5.00" in traced
    assert f"for hub, {PERIOD}" in pupils and PERIOD != "2025-26"


async def test_pages_open_on_a_year_with_data_and_say_when_one_has_none(
    system: System, tmp_path: Path
) -> None:
    await load_dataset(system)  # delivery in 2023-24 and 2024-25
    app = dashboard_app(system, tmp_path)
    async with signed_in(app, "manager") as client:
        opened = text_of((await client.get("/dashboard/")).text)
        assert f"Showing {PERIOD}, the latest academic year with delivery recorded" in opened
        assert "Unique pupils 3" in opened  # A, B and D
        empty = (await client.get("/dashboard/views/reach?period=2020-21")).text
        assert "No delivery recorded for 2020-21" in text_of(empty)
        assert re.search(rf'href="\?period={PERIOD}&amp;kind=academic"[^>]*>{PERIOD}<', empty)
        funding = text_of((await client.get("/dashboard/funding")).text)
        assert "the latest academic year with money recorded" in funding
        for view in VIEWS:  # every view's tables: names, never an id
            page = (await client.get(f"/dashboard/views/{view}?period={PERIOD}")).text
            cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", page, re.S)
            bare = [c for c in cells if UUID.match(re.sub(r"<[^>]+>", "", c).strip())]
            assert (
                bare == []
                and "stamp." not in page
                and "breakdowns."
                not in text_of(page.split('<h2 class="govuk-heading-m">Download</h2>')[0])
            ), view
