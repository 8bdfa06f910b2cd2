"""A view result as JSON, and flattened into raw tables named by their path in the result (what the
dashboard's view pages and `hub report` show), generic over the pydantic models the views return.

A result is flattened into tables: its scalars (and its stamp) into ``summary``; each list of
rows, each mapping and each nested model into its own table named by its path. Money columns end
in ``_pence`` and hold integer pence, as in JSON. The spreadsheets people download are written
from the same results by exports/sheets.py (pounds, readable names, no JSON in a cell).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def to_json(result: BaseModel | Sequence[BaseModel]) -> str:
    if isinstance(result, BaseModel):
        return result.model_dump_json(indent=2)
    return json.dumps([r.model_dump(mode="json") for r in result], indent=2)


def tables_of(result: BaseModel | list[BaseModel]) -> list[Table]:
    """Flatten a view result into named tables; the first is always ``summary``."""
    summary = Table("summary", ["figure", "value"])
    tables = [summary]
    if isinstance(result, list):
        tables.append(_rows_table("rows", result))
    else:
        _flatten(result.model_dump(mode="python"), "", summary, tables)
    return tables


def _flatten(data: dict[str, Any], prefix: str, summary: Table, tables: list[Table]) -> None:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key == "stamp" and isinstance(value, dict):
            summary.rows += [[f"stamp.{k}", v] for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(_rows_table(path, value))
        elif isinstance(value, list):
            tables.append(Table(path, [key], [[_cell(v)] for v in value]))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for name, nested in value.items():
                _nested(nested, f"{path}.{name}", tables)
        elif isinstance(value, dict) and key.endswith("_pence"):
            tables.append(Table(path, ["key", key], [[k, _cell(v)] for k, v in value.items()]))
        elif isinstance(value, dict):
            tables.append(
                Table(path, ["figure", "value"], [[k, _cell(v)] for k, v in value.items()])
            )
        else:
            summary.rows.append([path, value])


def _nested(data: dict[str, Any], path: str, tables: list[Table]) -> None:
    own = Table(path, ["figure", "value"])
    tables.append(own)
    _flatten(data, f"{path}.", own, tables)
    if not own.rows:
        tables.remove(own)


def _rows_table(name: str, rows: list[Any]) -> Table:
    dicts = [r.model_dump(mode="python") if isinstance(r, BaseModel) else r for r in rows]
    columns = list(dict.fromkeys(k for d in dicts for k in d))
    return Table(name, columns, [[_cell(d.get(c)) for c in columns] for d in dicts])


def _cell(value: Any) -> Any:
    """Nested structures become JSON text in a cell; plain values stay as they are."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    return value


def table(result: BaseModel | list[BaseModel], name: str | None = None) -> Table:
    """One table of a result by name (default: the first table with rows beyond the summary)."""
    tables = tables_of(result)
    if name is None:
        return next((t for t in tables[1:] if t.rows), tables[0])
    for t in tables:
        if t.name == name:
            return t
    raise KeyError(f"no table {name!r}; tables: {', '.join(t.name for t in tables)}")


def sheet_title(name: str, used: set[str]) -> str:
    """Excel sheet titles: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "sheet"
    title, n = base, 2
    while title.lower() in used:
        suffix = f"~{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title
