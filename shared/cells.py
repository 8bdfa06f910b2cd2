"""The one spreadsheet cell writer: every XLSX and CSV the project writes passes its cells here.

Text a spreadsheet would run as a formula (OWASP "CSV injection": a cell starting ``=``, ``+``,
``-``, ``@``, tab, CR or LF, their full-width forms, or any of these after leading spaces, as in
the DDE payloads ``=cmd|' /C calc'!A0`` and ``@SUM(1+1)*cmd|…``) is neutralised the same way in
every file: prefixed with ``'``, so it is shown as the text it is. A plain number written as text
(``-12.50``) is left alone: no spreadsheet runs it. Characters XML cannot hold (control
characters, lone surrogates, U+FFFE/U+FFFF) become U+FFFD and line breaks become LF, so a hostile
name can neither break a workbook nor an HTTP response. Numbers, Decimals, dates and booleans
stay typed: only text is touched. Importers (shared/tabular.py) refuse the same cells this module
neutralises (`looks_like_formula`).

Every saved workbook also leaves here made for people, whichever exporter built it: each sheet's
first row is a bold, frozen header with an autofilter over the table; money (`Pounds`) carries a
£ number format, dates a date format, whole numbers thousands separators.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""First characters that make a spreadsheet read a cell as a formula
(with their full-width forms)."""
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BREAK = re.compile(r"\r\n?")


POUNDS_FORMAT = '"£"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


class Pounds(Decimal):
    """An amount of money in pounds, exact: written as a number with a £ format in XLSX and as a
    plain number (``1234.50``) in CSV, under a header that names the unit."""


def pounds(pence: int) -> Pounds:
    """Exact pounds with two places: 12345 → 123.45, -5 → -0.05 (no float on the way)."""
    return Pounds(Decimal(pence).scaleb(-2))


def looks_like_formula(text: str) -> bool:
    """True when a spreadsheet could run `text` (leading spaces ignored, as some do);
    plain numbers are not."""
    if text.startswith(TRIGGERS):
        return not _NUMBER.match(text)
    stripped = text.lstrip(" \u00a0\u3000")
    return stripped.startswith(TRIGGERS) and not _NUMBER.match(stripped)


def text(value: str) -> str:
    """Text as every spreadsheet we write holds it: XML-safe, LF line breaks,
    formulas neutralised."""
    clean = _BREAK.sub("\n", _NOT_XML.sub("\ufffd", value))
    return "'" + clean if looks_like_formula(clean) else clean


def cell(value: Any) -> Any:
    """An XLSX cell: text through `text`; times in UTC without a zone (Excel has none); numbers,
    Decimals, dates, booleans and None as they are."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return text(value) if isinstance(value, str) else value


def csv_field(value: Any) -> Any:
    """A CSV field: dates as ISO 8601, None as empty, text through `text`, numbers as they are."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None:
        return ""
    return text(value) if isinstance(value, str) else value


def write_csv(out: TextIO, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> None:
    """CSV rows onto `out` as they come (LF line ends); every field, the header's too, through
    `csv_field`. Text is always quoted, so a ``;`` or ``,`` inside it cannot start a cell where a
    spreadsheet splits on another separator than ours; numbers are not."""
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([csv_field(v) for v in header])
    writer.writerows([csv_field(v) for v in row] for row in rows)


def to_csv(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV file as text (see `write_csv`)."""
    out = io.StringIO()
    write_csv(out, header, rows)
    return out.getvalue()


def new_workbook() -> Workbook:
    """An empty workbook (no default sheet): add sheets with `add_sheet`, rows with `append`."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.worksheets[0])
    return book


def add_sheet(book: Workbook, title: str) -> Worksheet:
    """A sheet whose title holds no character XML or Excel's tab cannot (a title is never run)."""
    sheet: Worksheet = book.create_sheet(
        re.sub("[\t\r\n]", " ", _NOT_XML.sub("\ufffd", title)) or "sheet"
    )
    return sheet


def append(sheet: Worksheet, row: Iterable[Any]) -> None:
    """One row, every value through `cell`."""
    sheet.append([cell(v) for v in row])


def xlsx_bytes(book: Workbook) -> bytes:
    """The saved workbook, after checking every cell: a formula or formula-like text written around
    `append` is neutralised here, so no path can save one. Every sheet is laid out for people here
    too (`_lay_out`), so no exporter can forget it."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                if c.data_type == "f" or isinstance(c.value, str):
                    c.value = text(str(c.value))
                elif isinstance(c.value, (date, Pounds)) or c.number_format == "General":
                    c.number_format = _format_of(c.value)  # openpyxl's own date format has seconds
        _lay_out(sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _format_of(value: Any) -> str:
    """The number format a typed value is shown with; text and booleans keep Excel's own."""
    if isinstance(value, Pounds):
        return POUNDS_FORMAT
    if isinstance(value, datetime):
        return DATETIME_FORMAT if (value.hour, value.minute) != (0, 0) else DATE_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    if isinstance(value, int) and not isinstance(value, bool):
        return "#,##0"
    return "General"


def _lay_out(sheet: Worksheet) -> None:
    """A bold header frozen above the rows, an autofilter over the table, readable widths."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if sheet.max_row < 1 or sheet.cell(1, 1).value is None:
        return
    for c in sheet[1]:
        c.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for number, column in enumerate(sheet.iter_cols(), start=sheet.min_column):
        width = max(len(_shown(c.value)) for c in column)
        sheet.column_dimensions[get_column_letter(number)].width = min(max(width + 2, 10), 60)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Pounds):
        return f"£{value:,.2f}"
    return str(value)


def save_xlsx(book: Workbook, path: Path) -> None:
    path.write_bytes(xlsx_bytes(book))
