"""A view result as sheets for people: what every XLSX and CSV export of a view writes.

Generic over the pydantic models the views return, so a new view exports readably without new
code. Its scalars make the ``Summary`` sheet and its stamp an ``About these figures`` sheet; each
list of rows, list of values and mapping its own sheet, titled in words (``By area``, never
``breakdowns.area.rows``). Headers carry units: money is exact pounds (`shared.cells.Pounds`)
under ``… (£)``, never pence. A cell never holds JSON: a list of values is joined, a mapping
becomes columns, a list of rows its own sheet. A column of partner ids or school URNs gets their
names beside it; vocabulary and areas are written in words (``DfE grant``, ``Coventry``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from services.reporting.read.exports.tables import sheet_title
from services.reporting.read.labels import Names, label, words
from services.reporting.read.present import name as place
from shared import cells

Row = dict[str, Any]
TITLES = {"node": "Lead organisation", "hub_stream_seq": "Hub stream position"}
"""Fields people know by another name."""
COUNTS = ("pupils", "total")
"""Counts published as text so that a suppressed one can read ``c`` (views/transparency.py)."""
GENERIC = ("areas", "rows", "items", "nodes", "sources")
"""Sheet names too vague on their own: they take their parent's name too."""
ROW_TITLES = {"allocations_to_leads": "From → to"}
"""What a table's ``key`` column holds, where its name does not say."""
STATES = {
    "academic": "Academic year",
    "financial": "Financial year",
    "received": "Received",
    "late": "Late",
    "missing": "Missing",
    "due": "Due",
    "unexpected": "Unexpected",
}
"""Period kinds and return states, as people say them."""
BETWEEN_NODES = re.compile(r"^([a-z0-9_-]+) → ([a-z0-9_-]+)$")
AT_NODE = re.compile(r"^(.+) \(([a-z0-9_-]+)\)$")
"""Keys the money views make from node slugs ('warwickshire → coventry', 'Partner (coventry)')."""


@dataclass
class Sheet:
    key: str
    """Where the table is in the result (``breakdowns.area.rows``): what ``?table=`` may name."""
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def sheets_of(result: BaseModel | list[BaseModel], names: Names) -> list[Sheet]:
    """The result as sheets; the first is always ``Summary``."""
    walker = _Walker(names)
    if isinstance(result, list):
        walker.rows_sheet(("rows",), [r.model_dump(mode="python") for r in result])
    else:
        walker.top = result.model_dump(mode="python")
        walker.walk(walker.top, ())
    about = [walker.about] if walker.about.rows else []
    return [walker.summary, *walker.sheets, *about]


def sheet(sheets: list[Sheet], name: str | None) -> Sheet:
    """One sheet by key or title (default: the first with rows beyond the summary). A path whose
    scalars went to the summary (``breakdowns.node``) names the first table under it."""
    if name is None:
        return next((s for s in sheets[1:] if s.rows), sheets[0])
    for s in sheets:
        if name in (s.key, s.title):
            return s
    for s in sheets:
        if s.key.startswith(name + "."):
            return s
    raise KeyError(f"no table {name!r}; tables: {', '.join(s.key for s in sheets)}")


def column_title(key: str) -> str:
    """A field as a header with its unit: ``amount_pence`` → ``Amount (£)``."""
    if key in TITLES:
        return TITLES[key]
    return f"{words(key.removesuffix('_pence'))} (£)" if key.endswith("_pence") else words(key)


def value_of(key: str, value: Any, names: Names) -> Any:
    """A cell as people read it: pence as pounds, vocabulary and areas in words, lists joined."""
    if key.endswith("_pence") and isinstance(value, int) and not isinstance(value, bool):
        return cells.pounds(value)
    if isinstance(value, str) and key in COUNTS and value.isdigit():
        return int(value)  # a published count (a suppressed one stays "c")
    if isinstance(value, str):
        return names.areas.get(value) or STATES.get(value) or _nodes_named(label(value))
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(value_of("", v, names)) for v in value)
    return value


def _nodes_named(text: str) -> str:
    """Node slugs inside a money view's keys in words: 'warwickshire → coventry' → 'Warwickshire
    → Coventry'; 'Armonico Consort (warwickshire)' → 'Armonico Consort (Warwickshire)'."""
    if found := BETWEEN_NODES.match(text):
        return f"{place(found[1])} → {place(found[2])}"
    if found := AT_NODE.match(text):
        return f"{found[1]} ({place(found[2])})"
    return text


def file_name(s: Sheet) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.title.lower()).strip("-") or "sheet"


def csv_files(sheets: list[Sheet]) -> list[tuple[str, bytes]]:
    """One CSV per sheet, named from its title (``spend-by-function.csv``), each name once."""
    files: dict[str, bytes] = {}
    for s in sheets:
        name, n = file_name(s), 2
        while f"{name}.csv" in files:
            name, n = f"{file_name(s)}-{n}", n + 1
        files[f"{name}.csv"] = to_csv(s).encode()
    return list(files.items())


@dataclass
class _Walker:
    names: Names
    top: Row = field(default_factory=dict)
    summary: Sheet = field(default_factory=lambda: Sheet("summary", "Summary", ["Figure", "Value"]))
    about: Sheet = field(
        default_factory=lambda: Sheet("stamp", "About these figures", ["Figure", "Value"])
    )
    sheets: list[Sheet] = field(default_factory=list)

    def walk(self, data: Row, path: tuple[str, ...]) -> None:
        for key, value in data.items():
            here = (*path, key)
            if key == "stamp" and isinstance(value, dict):
                self.about.rows += [[column_title(k), v] for k, v in value.items()]
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                self.rows_sheet(here, value, data.get("by"))
            elif isinstance(value, list):
                self.values_sheet(here, value)
            elif (
                isinstance(value, dict)
                and value
                and all(isinstance(v, dict) for v in value.values())
            ):
                for name, nested in value.items():
                    self.walk(nested, (*here, name))
            elif isinstance(value, dict) and _is_record(key, value):
                self.walk(value, here)
            elif isinstance(value, dict):
                self.pairs_sheet(here, value)
            elif not path or (key != "by" and self.top.get(key, ...) != value):
                self.summary.rows.append([self._figure(here), value_of(key, value, self.names)])

    def _figure(self, path: tuple[str, ...]) -> str:
        own = column_title(path[-1])
        return f"{_title(path[:-1])}: {own[:1].lower() + own[1:]}" if len(path) > 1 else own

    def rows_sheet(self, path: tuple[str, ...], rows: list[Row], by: str | None = None) -> None:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        last = path[-1].removesuffix("_pence")
        by = by or last.partition("_by_")[2] or last.partition("_to_")[2].removesuffix("s") or None
        by_title = ROW_TITLES.get(path[-1]) or (TITLES.get(by) or words(by) if by else None)
        titles = {
            k: by_title if by_title and k in ("group", "key") else column_title(k) for k in keys
        }
        columns: list[str] = []
        getters: list[Any] = []
        for k in keys:
            values = [r.get(k) for r in rows]
            if any(isinstance(v, list) and v and isinstance(v[0], dict) for v in values):
                self._child_sheet((*path, k), rows, keys[0], titles[keys[0]], k)
            elif any(isinstance(v, dict) for v in values):
                subs = list(dict.fromkeys(s for v in values if isinstance(v, dict) for s in v))
                for s in subs:
                    columns.append(
                        f"{titles[k]}: {column_title(s)[:1].lower()}{column_title(s)[1:]}"
                    )
                    getters.append(
                        lambda r, k=k, s=s: value_of(s, (r.get(k) or {}).get(s), self.names)
                    )
            else:
                columns.append(titles[k])
                getters.append(lambda r, k=k: value_of(k, r.get(k), self.names))
        table = [[g(r) for g in getters] for r in rows]
        raw = [[r.get(k) for k in keys] for r in rows]
        self._add(path, *self._with_names(columns, table, raw, keys))

    def _child_sheet(
        self, path: tuple[str, ...], rows: list[Row], parent_key: str, parent_title: str, key: str
    ) -> None:
        children = [{parent_key: r.get(parent_key), **c} for r in rows for c in (r.get(key) or [])]
        if children:
            self.rows_sheet(path, children)
            self.sheets[-1].title = f"{_title(path[:-1])} {words(key).lower()}"

    def values_sheet(self, path: tuple[str, ...], values: list[Any]) -> None:
        if not values:  # an empty table says so, not a lone header ("Rows")
            self._add(path, [_title(path)], [["None recorded for this period"]])
            return
        title = column_title(path[-1])
        single = re.sub(r"s$", "", title) if title.endswith(("URNs", "IDs")) else title
        table = [[value_of(path[-1], v, self.names)] for v in values]
        self._add(path, *self._with_names([single], table, [[v] for v in values], [path[-1]]))

    def pairs_sheet(self, path: tuple[str, ...], mapping: Row) -> None:
        """A mapping of data (``income_by_source_pence``): one row per key."""
        what, _, by = path[-1].removesuffix("_pence").partition("by_")
        money = path[-1].endswith("_pence")
        key_title = words(by) if by else "Item"
        value_key = (what.rstrip("_") or "value") + ("_pence" if money else "")
        scalars = {k: v for k, v in mapping.items() if not isinstance(v, (list, dict))}
        table = [
            [value_of("", k, self.names), value_of(value_key, v, self.names)]
            for k, v in scalars.items()
        ]
        raw = [[k, v] for k, v in scalars.items()]
        self._add(
            path, *self._with_names([key_title, column_title(value_key)], table, raw, ["", ""])
        )
        self.walk({k: v for k, v in mapping.items() if k not in scalars}, path)

    def _with_names(
        self, columns: list[str], table: list[list[Any]], raw: list[list[Any]], keys: list[str]
    ) -> tuple[list[str], list[list[Any]]]:
        """Beside each column of partner ids or school URNs, their names."""
        out_columns, out = list(columns), [list(r) for r in table]
        for i in reversed(range(len(columns))):
            values = [r[i] for r in raw if i < len(r)]
            for lookup, what in (
                (self.names.organisations, "Partner"),
                (self.names.schools, "School"),
                (self.names.org_ids, "Organisation"),
            ):
                if any(isinstance(v, str) and v in lookup for v in values):
                    name = f"{what} name"
                    out_columns.insert(
                        i + 1, name if name not in out_columns else f"{columns[i]}: name"
                    )
                    for row, r in zip(out, raw, strict=True):
                        v = r[i] if i < len(r) else None
                        row.insert(i + 1, lookup.get(v) if isinstance(v, str) else None)
        return out_columns, out

    def _add(self, path: tuple[str, ...], columns: list[str], rows: list[list[Any]]) -> None:
        self.sheets.append(Sheet(".".join(path), _title(path), columns, rows))


def _is_record(key: str, mapping: Row) -> bool:
    """A mapping of a record's fields (``governance``), not data keyed by group (``*_by_*``)."""
    if "by_" in key or key.startswith("by"):
        return False
    return not all(isinstance(v, (int, float)) or v is None for v in mapping.values())


def _title(path: tuple[str, ...]) -> str:
    """A sheet's title in words from where its table is: ``breakdowns.area.rows`` → ``By area``."""
    parts = [p for p in path if p != "rows"] or ["rows"]
    if len(parts) > 1 and parts[-2] == "breakdowns":
        by = TITLES.get(parts[-1]) or words(parts[-1])
        return f"By {by[:1].lower()}{by[1:]}"
    last = words(parts[-1].removesuffix("_pence"))
    if parts[-1] in GENERIC and len(parts) > 1:
        return f"{words(parts[-2])} {last.lower()}"
    return last


def to_csv(s: Sheet) -> str:
    return cells.to_csv(s.columns, s.rows)


def to_xlsx(sheets: list[Sheet]) -> bytes:
    """One sheet per table (shared/cells.py lays each out: bold frozen header, filter, formats)."""
    book = cells.new_workbook()
    used: set[str] = set()
    for s in sheets:
        ws = cells.add_sheet(book, sheet_title(s.title, used))
        cells.append(ws, s.columns)
        for row in s.rows:
            cells.append(ws, row)
    return cells.xlsx_bytes(book)
