"""Periods and tabular reading: the plumbing importers and reports share."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from pydantic import BaseModel, Field

from shared.periods import academic_year, financial_year, parse_period, period_of
from shared.tabular import TabularError, validate_rows


@pytest.mark.parametrize(
    ("day", "academic", "financial"),
    [
        (date(2024, 8, 31), "2023-24", "2024-25"),
        (date(2024, 9, 1), "2024-25", "2024-25"),
        (date(2025, 3, 31), "2024-25", "2024-25"),
        (date(2025, 4, 1), "2024-25", "2025-26"),
    ],
)
def test_boundaries_of_academic_and_financial_years(
    day: date, academic: str, financial: str
) -> None:
    assert academic_year(day) == academic
    assert financial_year(day) == financial


def test_period_bounds_and_parsing() -> None:
    p = parse_period("2024-25", "academic")
    assert (p.starts_on, p.ends_on) == (date(2024, 9, 1), date(2025, 8, 31))
    assert parse_period("2024-25", "financial").ends_on == date(2025, 3, 31)
    assert period_of(date(2025, 8, 31), "academic") == p and p.next().name == "2025-26"
    with pytest.raises(ValueError):
        parse_period("2024-26", "academic")


class Row(BaseModel):
    urn: str = Field(pattern=r"^\d{6}$")
    name: str
    pupils: int = Field(ge=0)


def test_csv_rows_are_validated_with_row_column_and_reason(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(
        "URN,Name,Pupils\n100000,Good School,30\n12,Bad URN,5\n"
        '100001,=HYPERLINK("x"),4\n100002,Neg,-3\n'
    )
    result = validate_rows(
        f, Row, columns={"URN": "urn", "Name": "name", "Pupils": "pupils"}, required={"URN"}
    )
    assert [n for n, _ in result.rows] == [2]
    assert [(p.row, p.column) for p in result.problems] == [(3, "URN"), (4, "Name"), (5, "Pupils")]
    assert "formula" in result.problems[1].reason


def test_xlsx_is_read_like_csv(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["urn", "name", "pupils"])
    ws.append(["100000", "A", 3])
    ws.append([None, None, None])
    ws.append(["100001", "B", "many"])
    wb.save(tmp_path / "x.xlsx")
    result = validate_rows(tmp_path / "x.xlsx", Row)
    assert [n for n, _ in result.rows] == [2]
    assert [(p.row, p.column) for p in result.problems] == [(4, "pupils")]


def test_missing_columns_and_unknown_types_refuse_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("name\nA\n")
    with pytest.raises(TabularError, match="URN"):
        validate_rows(tmp_path / "x.csv", Row, required={"URN"})
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(TabularError, match="unsupported"):
        validate_rows(tmp_path / "x.txt", Row)
