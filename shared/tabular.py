"""Read CSV and XLSX files into validated rows, reporting every problem as row, column and reason.

Importers (settings register, activity registers, partner returns) build on this: validate the
whole file first, import nothing if any row is bad. Cells that a spreadsheet would run as a
formula (``shared.cells.looks_like_formula``: starting ``=``, ``+``, ``-``, ``@``, tab, CR, LF
or their full-width forms) are refused, not stored: they are how formula injection reaches
whoever opens an export later. Plain negative numbers are allowed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.cells import looks_like_formula

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

M = TypeVar("M", bound=BaseModel)
MAX_CELL_CHARS = 2000


@dataclass(frozen=True)
class RowProblem:
    """One reason a row cannot be imported; `row` counts the header as row 1, as spreadsheets do."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass
class TabularResult(Generic[M]):
    rows: list[tuple[int, M]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class TabularError(Exception):
    """The file as a whole cannot be read (wrong type, missing columns, empty)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def read_table(
    path: Path, sheet: str | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """Header names and an iterator of (row number, {column: cell}) for a .csv or .xlsx file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in {".xlsx", ".xlsm"}:
        return _read_xlsx(path, sheet)
    raise TabularError(
        [RowProblem(0, "(file)", f"unsupported file type {suffix!r}: use .csv or .xlsx")]
    )


def count_rows(path: Path) -> int:
    """Data rows in a file, for progress bars (cheap for CSV; XLSX reads the sheet dimension)."""
    if path.suffix.lower() == ".csv":
        with path.open("rb") as f:
            return max(sum(1 for _ in f) - 1, 0)
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        return max((_data_sheet(wb, None).max_row or 1) - 1, 0)
    finally:
        wb.close()


def _read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            yield (
                number,
                {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)},
            )

    return header, rows()


def _read_xlsx(
    path: Path, sheet: str | None
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    it = _data_sheet(wb, sheet).values
    header = [str(h).strip() if h is not None else "" for h in next(it, ())]

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for number, cells in enumerate(it, start=2):
                if all(c is None or str(c).strip() == "" for c in cells):
                    continue
                yield (
                    number,
                    {h: _cell(cells[i] if i < len(cells) else None) for i, h in enumerate(header)},
                )
        finally:
            wb.close()

    return header, rows()


def _data_sheet(wb: Workbook, sheet: str | None) -> ReadOnlyWorksheet:
    """The named sheet, else the active one; a chart sheet or a workbook without one has no rows."""
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    found = wb[sheet] if sheet else wb.active
    if not isinstance(found, ReadOnlyWorksheet):
        named = f" {sheet!r}" if sheet else ""
        raise TabularError([RowProblem(0, "(file)", f"no worksheet{named} to read rows from")])
    return found


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value


def validate_rows(
    path: Path,
    model: type[M],
    *,
    columns: dict[str, str] | None = None,
    required: set[str] | None = None,
    progress: Callable[[int], None] | None = None,
    sheet: str | None = None,
) -> TabularResult[M]:
    """Validate every row of `path` against `model`; collect all problems rather than stopping.

    `columns` maps file headers to model field names (unmapped headers pass through as-is);
    `required` names the file headers that must be present.
    """
    header, rows = read_table(path, sheet)
    columns = columns or {}
    missing = sorted((required or set()) - set(header))
    if missing:
        raise TabularError([RowProblem(1, c, "required column is missing") for c in missing])
    to_header = {columns.get(h, h): h for h in header}
    result: TabularResult[M] = TabularResult()
    for number, raw in rows:
        if progress:
            progress(1)
        problems = _injection_problems(number, raw)
        data = {columns.get(h, h): (None if v == "" else v) for h, v in raw.items() if h}
        if not problems:
            try:
                result.rows.append((number, model.model_validate(data)))
                continue
            except ValidationError as exc:
                for err in exc.errors():
                    field_name = str(err["loc"][0]) if err["loc"] else "(row)"
                    blank = err["input"] is None and len(err["loc"]) == 1
                    problems.append(  # a blank cell is "required", not a type's library text
                        RowProblem(
                            number,
                            to_header.get(field_name, field_name),
                            "required: the cell is blank" if blank else err["msg"],
                        )
                    )
        result.problems.extend(problems)
    return result


def _injection_problems(number: int, raw: dict[str, Any]) -> list[RowProblem]:
    problems = []
    for column, value in raw.items():
        if not isinstance(value, str):
            continue
        if len(value) > MAX_CELL_CHARS:
            problems.append(
                RowProblem(number, column, f"cell longer than {MAX_CELL_CHARS} characters")
            )
        elif looks_like_formula(value):
            problems.append(
                RowProblem(number, column, "cell starts like a spreadsheet formula; refused")
            )
    return problems
