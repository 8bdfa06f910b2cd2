"""A view's result as the tables people read on its page: plain-English titles and column labels,
names instead of ids, figures formatted (present.py) and right-aligned, problems flagged, levels
in order, and provenance set apart for the folded "About these figures" section.

Built from the result itself, whatever the view, so a new view's page is curated without new
code; the labels below only improve on the field names. The downloads keep their own tables
(read/exports), so this never changes what a file holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from services.reporting.read.labels import Names
from services.reporting.read.present import (
    hours,
    level_name,
    level_order,
    name,
    number,
    pounds,
    when,
    words,
)

ROW_LIMIT = 200
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
CONTEXT = {"academic_year", "hub", "node", "kind", "period", "previous_year", "by"}
"""Top-level fields the page's heading and filters already say: kept for "About these figures"."""
HIDDEN = {"event_id", "entry_id", "agreement_id", "state_event_id", "details_event_id"}
"""Ids with a name beside them in the same row."""
PLACES = {"area", "home_area", "node", "from_node", "to_node", "counterpart_node", "lead"}
ORGANISATIONS = {"organisation_id", "partner_id", "delivered_by", "partner", "funder_id"}
SCHOOLS = {"urn", "setting_urn", "engaged_urns", "unregistered_urns"}
CODES = {
    "kind",
    "level",
    "from_level",
    "to_level",
    "source",
    "function",
    "stream",
    "role",
    "state",
    "status",
    "characteristic",
    "category",
    "service",
    "value",
    "wcet_terms",
}
FREE_NAMES = {"funder", "counterparty", "from", "to"}
NODE_LIKE = re.compile(r"^[a-z][a-z_-]*$")
"""A funder or counterparty written as a lead organisation's id (a receipt's 'warwickshire')."""
FLAGGED_STATUS = {"missing", "late", "overdue", "failed"}
LABELS = {
    "unique_pupils": "Unique pupils",
    "node": "Lead organisation",
    "state_funded_schools": "State-funded schools",
    "state_funded_engaged": "State-funded schools engaged",
    "state_funded_share": "State-funded schools engaged (%)",
    "engaged_schools": "Schools engaged",
    "school_pupils": "Pupils in the area's schools",
    "school_pupils_year": "School census year",
    "share": "Share of participants (%)",
    "population_share": "Share of school population (%)",
    "population": "School population",
    "from_level": "Highest level last year",
    "to_level": "Highest level this year",
    "activity_id": "Activity",
    "partner_id": "Partner",
    "organisation_id": "Organisation",
    "delivered_by": "Partner",
    "ends_on": "Ends",
    "due_on": "Due",
    "submitted_on": "Submitted",
    "last_sequence": "Last sequence number",
    "applied": "Events applied",
    "missing": "Missing (sequence gaps)",
    "reused": "Sequence numbers reused",
    "refused": "Events refused",
    "last_recorded_at": "Last event recorded",
    "received_pence": "Received (£)",
    "drawn_pence": "Drawn on (£)",
    "remaining_pence": "Remaining (£)",
    "cost_pence": "Cost (£)",
    "bought_on": "Bought",
    "stream": "Funding stream",
    "budget_pence": "Budget (£)",
    "actual_pence": "Actual (£)",
    "variance_pence": "Variance, actual − budget (£)",
    "amount_pence": "Amount (£)",
    "income_pence": "Income (£)",
    "allocated_out_pence": "Allocated to other leads (£)",
    "allocated_in_pence": "Allocated from other leads (£)",
    "dfe_grant_pence": "DfE grant (£)",
    "other_income_pence": "Other income (£)",
    "leverage_ratio": "Leverage (other income per £1 of DfE grant)",
    "per_participant_pence": "Spend per participation (£)",
    "per_unique_pupil_pence": "Spend per unique pupil (£)",
    "per_hour_pence": "Spend per hour delivered (£)",
    "spend_pence": "Spend (£)",
    "hours": "Hours",
    "cold_spot_threshold": "Cold spot below (% of state-funded schools engaged)",
    "moved_up": "Pupils who moved up a level",
    "advanced_pupils": "Pupils at advanced level",
    "total": "Total",
    "year_group": "Year group",
}
TITLES = {
    "": "Key figures",
    "breakdowns.area": "By pupils' home area",
    "breakdowns.kind": "By kind of activity",
    "breakdowns.level": "By level, from the first up",
    "breakdowns.year_group": "By year group",
    "breakdowns.node": "By lead organisation",
    "breakdowns.partner": "By partner delivering",
    "nodes": "By lead organisation",
    "totals": "The whole hub",
    "engaged_urns": "Schools engaged",
    "unregistered_urns": "Schools engaged but not on a settings register",
    "areas": "By area",
    "wcet": "Whole class ensemble teaching (WCET)",
    "pupils_by_level": "Unique pupils by highest level, from the first up",
    "transitions": "Movement between levels, last year to this",
    "cold_spots": "Cold spots",
    "expiring": "Agreements ending soon",
    "returns": "Partner returns",
    "data_health": "Data received from each service",
    "producers": "Data received from each service",
    "budget": "Budget against actual",
    "remaining_by_source": "What remains of each source of money (now)",
    "unit_costs": "Unit costs",
    "capital_items": "Capital items",
    "income_by_source_pence": "Income by source",
    "income_by_source": "Income by source",
    "allocations_to_leads": "Allocations between lead organisations",
    "commissions_to_partners": "Commissions to partners",
    "spend_by_function": "Spend by strategic function",
    "spend_by_function_pence": "Spend by strategic function",
    "spend_by_area": "Spend by area",
    "spend_by_category": "Spend by category",
    "schools_and_settings": "Schools and settings",
    "whole_class_ensemble_teaching": "Whole class ensemble teaching (WCET)",
    "wcet_terms": "WCET terms",
    "delivery_by_kind": "Delivery by kind of activity",
    "pupil_characteristics": "Pupil characteristics",
}
GROUPS = {
    "area": ("Home area", PLACES),
    "node": ("Lead organisation", PLACES),
    "partner": ("Partner", ORGANISATIONS),
    "kind": ("Kind of activity", CODES),
    "level": ("Level", CODES),
    "year_group": ("Year group", {"year_group"}),
}
"""A breakdown's `group` column: its label and which names it holds, by what it is grouped by."""
KEYS = {
    "income_by_source": "source",
    "spend_by_function": "function",
    "spend_by_area": "area",
    "spend_by_category": "category",
    "allocations_to_leads": "allocation",
    "active_by_role": "role",
    "active_by_function": "function",
    "active_by_area": "area",
    "pupils_by_level": "level",
    "returns_by_status": "status",
    "pupils_by_year_group": "year_group",
}
"""What the keys of a mapping (or an `Amount` list's `key`) are, by the mapping's name."""


def table_title(path: str) -> str:
    """A table's caption from its path in a result ('breakdowns.area.rows' → "By pupils' home
    area"): the dashboard's download links name the tables the way the page does."""
    if path == "summary":
        return "Key figures"
    if path.startswith("breakdowns.") and not path.endswith(".rows"):
        return f"{table_title(path + '.rows')}: totals"
    path = path.removesuffix(".rows").removesuffix("_pence")
    return TITLES.get(path) or TITLES.get(_last(path)) or words(_last(path))


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    flag: str | None = None
    """Why the cell is highlighted (an overspend, a gap, a missing return), said beside it."""
    href: str | None = None
    """The page of what the cell names (a partner's), shown as a link where the user may open it."""


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool


@dataclass
class Shown:
    """One table of a page: a caption, its columns and the rows shown (at most ROW_LIMIT)."""

    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    total_rows: int
    note: str | None = None


@dataclass
class Curated:
    tables: list[Shown] = field(default_factory=list)
    about: list[tuple[str, str]] = field(default_factory=list)
    """Provenance and context: stream position, applied events, chain head, the year asked for."""


def curate(result: BaseModel, names: Names) -> Curated:
    """The tables of a view's page, from its result."""
    data = result.model_dump(mode="python")
    out = Curated()
    stamp = data.pop("stamp", None)
    if isinstance(stamp, dict):
        out.about += [
            ("Hub stream position", number(stamp.get("hub_stream_seq"))),
            ("Events applied", number(stamp.get("applied_events"))),
            ("Hash chain head", str(stamp.get("chain_head") or "–")),
        ]
    for key in CONTEXT & data.keys():
        value = data.pop(key)
        if value is not None and not isinstance(value, (dict, list)):
            out.about.append((LABELS.get(key, words(key)), _text(key, value, names)))
    _walk(data, "", names, out)
    return out


def _walk(data: dict[str, Any], path: str, names: Names, out: Curated) -> None:
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, (dict, list))]
    if scalars:
        out.tables.append(_pairs(TITLES.get(path, words(_last(path))), scalars, names, None))
    for key, value in data.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, list):
            out.tables += _list(here, key, value, names)
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for sub, nested in value.items():
                _nested(f"{here}.{sub}", nested, names, out)
        elif isinstance(value, dict):
            scalar_items = [(k, v) for k, v in value.items() if not isinstance(v, (dict, list))]
            rest = {k: v for k, v in value.items() if isinstance(v, (dict, list))}
            title = TITLES.get(here, TITLES.get(key, words(key.removesuffix("_pence"))))
            kind = KEYS.get(key.removesuffix("_pence"))
            money = key.endswith("_pence")
            if scalar_items or not rest:
                out.tables.append(_pairs(title, scalar_items, names, kind, money))
            if rest:
                _walk(rest, here, names, out)


def _nested(path: str, data: dict[str, Any], names: Names, out: Curated) -> None:
    """A breakdown (a Reach): its rows, with its own totals as a last 'All' row."""
    rows = data.get("rows")
    if not isinstance(rows, list):
        _walk(data, path, names, out)
        return
    by = str(data.get("by") or path.rsplit(".", 1)[-1])
    total = {k: v for k, v in data.items() if k not in ("rows", "by", "academic_year")}
    shown = _rows(TITLES.get(path, words(_last(path))), "rows", rows, names, by)
    if total and rows:
        label = Cell("All (a pupil counts once)")
        cells = [label] + [_cell(k, total.get(k), names) for k in _columns(rows)[1:]]
        shown.rows.append(cells)
        shown.columns = [
            Column(c.label, _numeric([row[i] for row in shown.rows]))
            for i, c in enumerate(shown.columns)
        ]
    out.tables.append(shown)


def _list(path: str, key: str, value: list[Any], names: Names) -> list[Shown]:
    title = TITLES.get(path, TITLES.get(key, words(key)))
    if value and all(isinstance(v, dict) for v in value):
        nested = [c for c in _columns(value) if _holds_rows([r.get(c) for r in value])]
        if nested:
            return _split(title, value, nested[0], names)
        return [_rows(title, key, value, names, None)]
    label = "School" if key in SCHOOLS else LABELS.get(key, words(key))
    cells = [[_cell(key, v, names)] for v in value[:ROW_LIMIT]]
    return [_table(title, [Column(label, False)], cells, len(value))]


def _holds_rows(cells: list[Any]) -> bool:
    """A column whose cells are each a list of rows (some may be empty)."""
    lists = [c for c in cells if isinstance(c, list)]
    return (
        len(lists) == len(cells)
        and any(lists)
        and all(isinstance(r, dict) for c in lists for r in c)
    )


def _split(title: str, rows: list[dict[str, Any]], column: str, names: Names) -> list[Shown]:
    """Rows that each hold a table (the transparency view's tables): one table per row."""
    out = []
    for row in rows:
        inner = row.get(column) or []
        head = str(row.get("name") or title)
        rest = [
            f"{LABELS.get(k, words(k))}: {_text(k, v, names)}"
            for k, v in row.items()
            if k not in (column, "name")
        ]
        by = head.split(" by ", 1)[-1].replace(" ", "_")
        shown = _rows(words(head), column, inner, names, by)
        shown.note = "; ".join(rest) or None
        out.append(shown)
    return out


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    hidden = set(HIDDEN)
    if "title" in columns:
        hidden.add("activity_id")
    return [c for c in columns if c not in hidden]


def _rows(title: str, key: str, rows: list[Any], names: Names, by: str | None) -> Shown:
    dicts = [r.model_dump() if isinstance(r, BaseModel) else r for r in rows]
    columns = _columns(dicts)
    group_label, _ = GROUPS.get(by or "", (words(by or "group"), set()))
    labels = [group_label if c == "group" else _label(c, KEYS.get(key)) for c in columns]
    ordered = sorted(dicts, key=lambda r: _row_order(r, by))
    if by in ("area", "node", "partner") and columns:  # places and partners by name
        first, kind = columns[0], KEYS.get(key)
        ordered.sort(key=lambda r: _cell(first, r.get(first), names, by, kind).text.lower())
    # only the rows shown are written out: a table of thousands shows its first ROW_LIMIT
    cells = [
        [_cell(c, r.get(c), names, by, KEYS.get(key)) for c in columns] for r in ordered[:ROW_LIMIT]
    ]
    numeric = [_numeric([row[i] for row in cells]) for i in range(len(columns))]
    columns_shown = [Column(lab, n) for lab, n in zip(labels, numeric, strict=True)]
    return _table(title, columns_shown, cells, len(dicts))


def _pairs(
    title: str, items: list[tuple[str, Any]], names: Names, kind: str | None, money: bool = False
) -> Shown:
    """A mapping or a model's scalars: one row per figure, its label beside its value."""
    if kind == "level":
        items = sorted(items, key=lambda kv: level_order(kv[0]))
    elif kind == "year_group":
        items = sorted(items, key=lambda kv: _year_key(kv[0]))
    rows = [
        [
            Cell(_key_text(k, kind)),
            _cell(k if kind is None else "amount_pence" if money else "count", v, names),
        ]
        for k, v in items
    ]
    label = "Figure" if kind is None else _label(kind, None)
    value = "Amount (£)" if money else "Value" if kind is None else "Count"
    return _table(title, [Column(label, False), Column(value, True)], rows)


def _numeric(column: list[Cell]) -> bool:
    """A column of figures (blanks allowed) in the rows shown is right-aligned, its header too."""
    return any(c.numeric for c in column) and all(c.numeric or c.text == "–" for c in column)


def _table(
    title: str, columns: list[Column], cells: list[list[Cell]], total: int | None = None
) -> Shown:
    """At most ROW_LIMIT rows of `cells`; `total`: how many rows the table has in all (when the
    caller wrote out only the rows shown)."""
    return Shown(title, columns, cells[:ROW_LIMIT], len(cells) if total is None else total)


def _label(key: str, kind: str | None) -> str:
    if key == "key" and kind:
        return {"allocation": "From → to"}.get(kind, _label(kind, None))
    if key in LABELS:
        return LABELS[key]
    return words(key.removesuffix("_pence")) + (" (£)" if key.endswith("_pence") else "")


def _key_text(key: str, kind: str | None) -> str:
    if kind is None:
        return LABELS.get(key, words(key.removesuffix("_pence")))
    return _text(kind, key, Names())


def _row_order(row: dict[str, Any], by: str | None) -> tuple[Any, ...]:
    if by == "level" or "from_level" in row:
        keys = [row.get("group") if by == "level" else row.get("from_level"), row.get("to_level")]
        return tuple(level_order(k) for k in keys)
    if by == "year_group":
        return _year_key(row.get("group"))
    return ()


def _year_key(value: Any) -> tuple[int, str]:
    text = str(value or "")
    return (int(text), "") if text.isdigit() else (-1 if text in ("R", "N") else 99, text)


def _last(path: str) -> str:
    return path.rsplit(".", 1)[-1] if path else ""


def _cell(
    key: str, value: Any, names: Names, by: str | None = None, kind: str | None = None
) -> Cell:
    if key == "group":
        key = by if by in GROUPS else "value"  # a characteristic's codes
    if key == "key" and kind:
        key = kind
    if isinstance(value, bool):
        return Cell("Yes" if value else "No", flag=None if value else _bool_flag(key))
    if isinstance(value, int) and key.endswith("_pence"):
        return Cell(pounds(value), True, _money_flag(key, value))
    if isinstance(value, str) and value.isdigit() and key in ("pupils", "count", "total"):
        value = int(value)
    if key == "hours" and isinstance(value, (int, Decimal)):
        return Cell(hours(value), True)
    if isinstance(value, (int, float, Decimal)) and key not in SCHOOLS and key != "year_group":
        return Cell(number(value), True, _count_flag(key, value))
    text = _text(key, value, names)
    flag = words(value) if key == "status" and value in FLAGGED_STATUS else None
    named = key in ORGANISATIONS and str(value) in names.organisations
    return Cell(text, flag=flag, href=f"/dashboard/partners/{value}" if named else None)


def _text(key: str, value: Any, names: Names) -> str:
    """A value of field `key` in words: names for ids and places, words for codes."""
    if value is None:
        return "–"
    if isinstance(value, (datetime, date)):
        return when(value)
    if isinstance(value, (dict, list, tuple)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        parts = [f"{words(k)}: {v}" if isinstance(value, dict) else str(v) for k, v in items]
        return ", ".join(parts) or "–"
    text = str(value)
    if key in PLACES or (key in FREE_NAMES and NODE_LIKE.match(text)):
        return name(text)
    if key == "allocation":
        return " → ".join(name(p.strip()) for p in text.split("→"))
    if key in ORGANISATIONS or UUID.match(text):
        return names.organisations.get(text) or names.activities.get(text) or _unnamed(text)
    if key in SCHOOLS:
        school = names.schools.get(text)
        return f"{school} (URN {text})" if school else f"URN {text} (not on a register)"
    if key == "year_group":
        return f"Year {text}" if text.isdigit() else text
    if key in ("level", "from_level", "to_level"):
        return level_name(text)
    if key in CODES or key in ("role", "function"):
        return words(text)
    return text


def _unnamed(text: str) -> str:
    return "(no name on the register)" if UUID.match(text) else text


def _money_flag(key: str, pence: int) -> str | None:
    if key == "variance_pence" and pence > 0:
        return "Overspend"
    if key == "remaining_pence" and pence < 0:
        return "Overdrawn"
    return None


def _count_flag(key: str, value: Any) -> str | None:
    if key in ("missing", "reused", "refused") and value:
        return "Problem"
    return None


def _bool_flag(key: str) -> str | None:
    return "Does not reconcile" if key == "reconciles" else None
