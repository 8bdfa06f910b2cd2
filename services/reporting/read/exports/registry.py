"""Every spreadsheet reporting writes, by name: what data it reads and how that becomes files.

The HTTP routes, the dashboard's downloads and the CLI call the same writers named here
(exports/sheets.py for every view of the catalogue, exports/trail.py for grant trails,
exports/giving360.py for the 360Giving file), and tests/test_cells.py throws hostile text at each
entry, so an export added here (or a view added to the catalogue) is tested without editing the
test; it also fetches every route of the app's route table that answers XLSX or CSV.
tests/test_exports_for_people.py opens every entry's files as a person would (units, names,
layout). Every cell of every file goes through shared/cells.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.read.catalogue import VIEWS, run_view
from services.reporting.read.exports import giving360
from services.reporting.read.exports.sheets import Sheet, csv_files, sheets_of, to_xlsx
from services.reporting.read.exports.trail import trail_sheets
from services.reporting.read.names import load_names
from services.reporting.read.params import ViewParams

Format = Literal["xlsx", "csv"]
Files = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Exporter:
    """One export: `load` reads its data from the projections,
    `write[format]` turns data into files."""

    name: str
    load: Callable[[AsyncSession, ViewParams], Awaitable[Any]]
    write: dict[Format, Callable[[Any], Files]]
    load_one: Callable[[AsyncSession, ViewParams, str], Awaitable[Any]] | None = None
    """For an export of one thing by key (one grant's trail): its data; KeyError if none."""


def _sheet_writers(name: str) -> dict[Format, Callable[[Any], Files]]:
    return {
        "xlsx": lambda sheets: [(f"{name}.xlsx", to_xlsx(sheets))],
        "csv": csv_files,
    }


def _view(name: str) -> Exporter:
    async def load(session: AsyncSession, p: ViewParams) -> list[Sheet]:
        return sheets_of(await run_view(session, name, p), await load_names(session))

    return Exporter(f"view:{name}", load, _sheet_writers(name))


async def _grants(session: AsyncSession, p: ViewParams) -> list[dict[str, Any]]:
    return await giving360.build_grants(session, p.hub)


EXPORTERS: dict[str, Exporter] = {
    e.name: e
    for e in (
        *(_view(name) for name in VIEWS),
        Exporter("trail", trail_sheets, _sheet_writers("trail"), trail_sheets),
        Exporter(
            "360giving",
            _grants,
            {"xlsx": lambda grants: [("360giving.xlsx", giving360.to_xlsx(grants))]},
        ),
    )
}
