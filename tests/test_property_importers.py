"""Properties of the spreadsheet importers (partners' settings register, activities' register):
random rows never crash them; every refusal names its row, column and reason."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.sample.activities import REGISTER_COLUMNS
from hub.commands.activities import REQUIRED as REGISTER_REQUIRED
from services.activities.services import RegisterRow
from services.partners.services import DFE_COLUMNS, POPULATION_COLUMNS, AddSetting, PopulationRow
from shared.tabular import RowProblem, TabularError, validate_rows

CELL = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "=1+1",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "'; DROP TABLE activity;--",
            "2024-09-02",
            "103690",
            "coventry",
            "wcet",
            "",
            " ",
            "x" * 2100,
            "-5",
            "1e309",
            "NaN",
        ]
    ),
)
RUNS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write_csv(header: list[str], rows: list[list[str]]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hostile-import-"))
    path = folder / "import.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return path


def check(path: Path, model: type, rows: list[list[str]], **options: object) -> None:
    try:
        result = validate_rows(path, model, **options)  # type: ignore[arg-type]
    except TabularError as exc:
        problems: list[RowProblem] = exc.problems
        assert problems and all(p.column and p.reason for p in problems)
        return
    for problem in result.problems:
        assert 2 <= problem.row <= len(rows) + 1, problem
        assert problem.column and problem.reason, problem
    blank = sum(
        not any(c.strip() for c in r) for r in rows
    )  # blank lines are skipped, as in a sheet
    assert len(result.rows) + len({p.row for p in result.problems}) == len(rows) - blank
    for _, row in result.rows:  # nothing that looks like a formula gets through
        for value in row.model_dump().values():
            assert not (isinstance(value, str) and value[:1] in "=@\t\r"), value


@RUNS
@given(
    rows=st.lists(
        st.lists(CELL, min_size=len(REGISTER_COLUMNS), max_size=len(REGISTER_COLUMNS)),
        min_size=1,
        max_size=6,
    )
)
def test_random_register_rows_never_crash_the_activities_importer(rows: list[list[str]]) -> None:
    check(write_csv(REGISTER_COLUMNS, rows), RegisterRow, rows, required=REGISTER_REQUIRED)


@RUNS
@given(
    rows=st.lists(
        st.lists(CELL, min_size=len(DFE_COLUMNS), max_size=len(DFE_COLUMNS)), min_size=1, max_size=6
    )
)
def test_random_settings_rows_never_crash_the_partners_importer(rows: list[list[str]]) -> None:
    check(write_csv(list(DFE_COLUMNS), rows), AddSetting, rows, columns=DFE_COLUMNS)


POPULATION_HEADER = [
    *POPULATION_COLUMNS,
    "sen_support",
    "ehcp",
    "fsm_eligible",
    "ethnicity_white",
    "gender_male",
]
COUNT_CELL = st.one_of(
    CELL,
    st.sampled_from(["202425", "2024/25", "331", "z", "c", "1,000", "999999999"]),
    st.integers(-5, 10**8).map(str),
)


@RUNS
@given(
    rows=st.lists(
        st.lists(COUNT_CELL, min_size=len(POPULATION_HEADER), max_size=len(POPULATION_HEADER)),
        min_size=1,
        max_size=6,
    )
)
def test_random_population_rows_never_crash_the_partners_importer(rows: list[list[str]]) -> None:
    check(
        write_csv(POPULATION_HEADER, rows),
        PopulationRow,
        rows,
        columns=POPULATION_COLUMNS,
        required=set(POPULATION_COLUMNS),
    )


@RUNS
@given(
    header=st.lists(st.text(max_size=12), max_size=6),
    rows=st.lists(st.lists(CELL, max_size=6), max_size=4),
)
def test_random_headers_are_refused_as_a_file_or_row_by_row(
    header: list[str], rows: list[list[str]]
) -> None:
    path = write_csv(header, rows)
    try:
        validate_rows(path, RegisterRow, required=REGISTER_REQUIRED)
    except TabularError as exc:
        assert all(p.row == 1 and p.reason for p in exc.problems)


def test_formula_and_sql_injection_cells_are_refused_with_row_column_and_reason() -> None:
    good = {
        "URN": "103690",
        "EstablishmentName": "Ordinary Primary",
        "LA (code)": "331",
        "PhaseOfEducation (name)": "Primary",
        "TypeOfEstablishment (name)": "Community school",
        "EstablishmentStatus (name)": "Open",
    }
    rows = [
        dict(good, EstablishmentName='=HYPERLINK("http://evil")'),
        dict(good, URN="@SUM(A1)"),
        dict(good, EstablishmentName="Robert'); DROP TABLE setting;--"),
    ]
    path = write_csv(list(good), [list(r.values()) for r in rows])
    result = validate_rows(path, AddSetting, columns=DFE_COLUMNS)
    refused = {(p.row, p.column) for p in result.problems}
    assert (2, "EstablishmentName") in refused and (3, "URN") in refused
    assert all("formula" in p.reason for p in result.problems if p.row in (2, 3))
    sql = [
        m for n, m in result.rows if n == 4
    ]  # SQL is only text: kept verbatim, bound as a parameter
    assert sql == [] or sql[0].name.startswith("Robert')")
