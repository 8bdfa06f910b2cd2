"""Every export opens in a spreadsheet made for people: a bold frozen header with an autofilter on
every sheet, pounds (never pence) with a £ format and the unit in the header, names beside ids,
no JSON in a cell, dates as dates. The cases come from the exporter registry, so an export added
there (or a view added to the catalogue) is checked without editing this file."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from services.reporting.read.exports import giving360
from services.reporting.read.exports.registry import EXPORTERS
from services.reporting.read.params import ViewParams
from tests.helpers import System, activity, organisation
from tests.test_giving360 import validator
from tests.test_reporting_views import TODAY, load_dataset

PERIOD = "2024-25"


async def exported(system: System) -> dict[str, list[tuple[str, bytes]]]:
    """Every file of every exporter in the registry, over the fixed dataset."""
    params = ViewParams(
        hub=system.settings.hub, nodes=system.settings.nodes, period=PERIOD, today=TODAY
    )
    files: dict[str, list[tuple[str, bytes]]] = {}
    async with system.reporting.read_sessions() as session:
        for name, exporter in EXPORTERS.items():
            data = await exporter.load(session, params)
            files[name] = [f for write in exporter.write.values() for f in write(data)]
    return files


def money_columns(header: list[Any]) -> list[int]:
    return [i for i, h in enumerate(header) if isinstance(h, str) and h.endswith("(£)")]


def check_sheet(where: str, ws: Worksheet) -> list[str]:
    """What is wrong with one sheet, for people."""
    wrong = []
    header = [c.value for c in ws[1]]
    if not all(c.font.b for c in ws[1]) or ws.freeze_panes != "A2" or not ws.auto_filter.ref:
        wrong.append(f"{where}: header not bold, frozen and filtered")
    if any("pence" in str(h).lower() for h in header):
        wrong.append(f"{where}: a column in pence {header}")
    figures = header[:2] == ["Figure", "Value"]
    for row in ws.iter_rows(min_row=2):
        for c in row:
            if isinstance(c.value, str) and c.value.lstrip().startswith(("{", "[")):
                wrong.append(f"{where}!{c.coordinate}: JSON in a cell: {c.value[:40]}")
        money = money_columns(header) or (
            [1] if figures and str(row[0].value).endswith("(£)") else []
        )
        for i in money:
            c = row[i]
            if c.value is not None and (
                not isinstance(c.value, (int, float)) or "£" not in c.number_format
            ):
                wrong.append(f"{where}!{c.coordinate}: money not a £ number: {c.value!r}")
    return wrong


async def with_named_partner(system: System) -> str:
    """The fixed dataset, and a registered partner delivering in it (by its organisation id)."""
    await load_dataset(system)
    r = await system.post("coventry", "partners", "/organisations", organisation("Wild Earth"))
    partner = r.json()["organisation_id"]
    r = await system.post("coventry", "activities", "/activities", activity(partner, kind="cpd"))
    assert r.status_code == 201, r.text
    await system.report_when(lambda rep: rep.stamp.applied_events >= 19, timeout=30)
    return str(partner)


async def test_every_export_is_laid_out_for_people_with_pounds_and_names(system: System) -> None:
    partner = await with_named_partner(system)
    files = await exported(system)
    wrong: list[str] = []
    csv_headers: list[str] = []
    money_seen = 0
    for name, written in files.items():
        for file_name, content in written:
            if file_name.endswith(".xlsx"):
                for ws in load_workbook(io.BytesIO(content)).worksheets:
                    wrong += check_sheet(f"{name} {ws.title}", ws)
                    money_seen += len(money_columns([c.value for c in ws[1]]))
            else:
                header, *rows = list(csv.reader(io.StringIO(content.decode())))
                csv_headers += header
                for i in money_columns(header):
                    for row in rows:  # pounds with two places, never pence
                        if row[i] and Decimal(row[i]) != Decimal(row[i]).quantize(Decimal("0.01")):
                            wrong.append(f"{name} {file_name}: {row[i]!r} is not pounds")
                if any(c.lstrip().startswith(("{", "[")) for row in rows for c in row):
                    wrong.append(f"{name} {file_name}: JSON in a field")
    assert not wrong, "\n".join(wrong)
    assert money_seen > 5 and any(h.endswith("(£)") for h in csv_headers)
    assert not [h for h in csv_headers if "pence" in h.lower() or "_" in h]

    funding = load_workbook(io.BytesIO(dict(files["view:funding"])["funding.xlsx"]))
    assert "Spend by function" in funding.sheetnames  # not "spend_by_function"
    spend = funding["Spend by function"]
    header = [c.value for c in spend[1]]
    first = dict(zip(header, [c.value for c in spend[2]], strict=True))
    assert first["Amount (£)"] == 300 and spend["B2"].number_format == '"£"#,##0.00'
    spend_csv = next(c for f, c in files["view:funding"] if f == "spend-by-function.csv")
    assert spend_csv.decode().splitlines()[:2] == [
        '"Function","Amount (£)"',
        '"Progression",300.00',
    ]

    reach = load_workbook(io.BytesIO(dict(files["view:reach"])["reach.xlsx"]))
    by_partner = [[c.value for c in r] for r in reach["By partner"].iter_rows()]
    assert by_partner[0][:2] == ["Partner", "Partner name"]
    assert [partner, "Wild Earth"] in [r[:2] for r in by_partner]  # the name beside its id

    annual = load_workbook(io.BytesIO(dict(files["view:annual-return"])["annual-return.xlsx"]))
    assert {"Engaged URNs", "Pupils by level", "Delivery by kind"} <= set(annual.sheetnames)
    urns = [[c.value for c in r] for r in annual["Engaged URNs"].iter_rows()]
    assert urns[0] == ["Engaged URN", "School name"] and ["103690", "Canley Primary"] in urns


async def test_the_360giving_spreadsheet_has_typed_dates_and_pounds_and_still_converts(
    system: System,
) -> None:
    await load_dataset(system)
    [(_, content)] = (await exported(system))["360giving"]
    ws = load_workbook(io.BytesIO(content)).active
    assert check_sheet("360giving", ws) == []
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, row, strict=True)) for row in ws.iter_rows(min_row=2)]
    assert rows
    for r in rows:
        assert isinstance(r["Award Date"].value, datetime), r["Award Date"].value
        assert r["Award Date"].number_format == "yyyy-mm-dd"
        assert "£" in r["Amount Awarded"].number_format
    # Read back as 360Giving's converter reads the flat layout: still a valid package.
    grants = [
        {
            "id": r["Identifier"].value,
            "title": r["Title"].value,
            "description": r["Description"].value,
            "currency": r["Currency"].value,
            "amountAwarded": Decimal(str(r["Amount Awarded"].value)),
            "awardDate": r["Award Date"].value.date().isoformat(),
            "recipientOrganization": [
                {"id": r["Recipient Org:Identifier"].value, "name": r["Recipient Org:Name"].value}
            ],
            "fundingOrganization": [
                {"id": r["Funding Org:Identifier"].value, "name": r["Funding Org:Name"].value}
            ],
        }
        for r in rows
    ]
    package = {
        "version": "1.4",
        "publisher": {"name": "hub"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "grants": grants,
    }
    data = json.loads(giving360.to_json(package), parse_float=Decimal)
    errors = sorted(validator().iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]


async def test_exports_write_the_hubs_words_not_its_internal_names(system: System) -> None:
    await load_dataset(system)
    files = await exported(system)
    funding = load_workbook(io.BytesIO(dict(files["view:funding"])["funding.xlsx"]))
    allocations = [[c.value for c in r] for r in funding["Allocations to leads"].iter_rows()]
    assert allocations[0][0] == "From → to" and allocations[1][0] == "Solihull → Coventry"
    summary = {r[0].value: r[1].value for r in funding["Summary"].iter_rows(min_row=2)}
    assert summary["Kind"] == "Academic year"
    reach = load_workbook(io.BytesIO(dict(files["view:reach"])["reach.xlsx"]))
    assert reach["By lead organisation"]["A1"].value == "Lead organisation"
    trail = load_workbook(io.BytesIO(dict(files["trail"])["trail.xlsx"]))
    assert {c.value for c in trail["Grants"]["E"][1:]} <= {"Yes", "No"}
    assert "ok" not in {c.value for c in trail["Trail"]["K"][1:]}
    grants = (await exported(system))["360giving"]
    assert grants
    package = giving360.package([], "heart-of-england")
    assert package["publisher"] == {"name": "Heart of England"}
    assert package["title"] == "Heart of England: grants to partners"
    assert (
        giving360.package([], "heart-of-england", "HoE Music")["publisher"]["name"] == "HoE Music"
    )


async def test_an_empty_year_says_so_instead_of_a_lone_header(system: System) -> None:
    await load_dataset(system)
    params = ViewParams(
        hub=system.settings.hub, nodes=system.settings.nodes, period="2099-00", today=TODAY
    )
    async with system.reporting.read_sessions() as session:
        sheets = await EXPORTERS["view:reach"].load(session, params)
    assert not [s.title for s in sheets if s.columns == ["Rows"]]
    assert any(s.rows == [["None recorded for this period"]] for s in sheets)
