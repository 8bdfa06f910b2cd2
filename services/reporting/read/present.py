"""How a value reads on a page or in a chart: pounds with a true minus sign, thousands
separators, dates in words, proper-case names and plain-English labels for the vocabulary's
codes. One place, so every page and table writes a figure the same way."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from shared.contracts.vocabulary import Level

MINUS = "\u2212"
ACRONYMS = {
    "dfe": "DfE",
    "wcet": "WCET",
    "cpd": "CPD",
    "send": "SEND",
    "fsm": "FSM",
    "ehcp": "EHCP",
    "urn": "URN",
    "urns": "URNs",
    "ace": "ACE",
    "id": "id",
    "la": "LA",
    "sla": "SLA",
}
SMALL_WORDS = {"of", "and", "the", "in", "on", "for", "to", "upon", "under"}
LEVELS = [str(level) for level in Level]
"""Progression levels from the first up, in the vocabulary's order; 'none' comes before them."""


def pounds(pence: int | None) -> str:
    """Integer pence as pounds: '£1,234.50', '−£4,394.98' (a true minus sign)."""
    if pence is None:
        return "–"
    sign = MINUS if pence < 0 else ""
    return f"{sign}£{Decimal(abs(pence)) / 100:,.2f}"


def number(value: int | float | Decimal | None) -> str:
    """Thousands separators ('1,058.00'), decimals as recorded, a true minus sign."""
    if value is None:
        return "–"
    text = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    return text.replace("-", MINUS)


def hours(value: Decimal | int | None) -> str:
    """Hours delivered: '1,058' when whole, '12.5' when not."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return number(int(value))
    return number(value.normalize() if isinstance(value, Decimal) else value)


def when(value: date | datetime | None) -> str:
    """'20 January 2027'; a time as '6 Dec 2026, 08:31 UTC'."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return f"{value.day} {value:%b %Y, %H:%M} UTC"
    return f"{value.day} {value:%B %Y}"


def words(code: Any) -> str:
    """A vocabulary code or a field name in words: 'dfe_grant' → 'DfE grant', 'early_years' → 'Early
    years'. Free text (names, titles) is left as it is: call `name` for those."""
    if code is None:
        return "–"
    parts = str(code).replace("-", " ").replace("_", " ").replace(".", " ").split()
    out = [ACRONYMS.get(p.lower(), p.lower()) for p in parts]
    if out and out[0] == out[0].lower():
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


@lru_cache(maxsize=1024)  # a few dozen places and nodes, named for every row that holds one
def name(code: str | None) -> str:
    """A place or node id in proper case: 'coventry' → 'Coventry', 'heart-of-england' → 'Heart of
    England', 'stoke_on_trent' → 'Stoke on Trent'."""
    if not code:
        return "–"
    parts = str(code).replace("-", " ").replace("_", " ").split()
    return " ".join(
        p if i and p in SMALL_WORDS else p[:1].upper() + p[1:] for i, p in enumerate(parts)
    )


def level_name(level: str | None) -> str:
    """A progression level in words; 'none' (absent that year) as 'Not taking part'."""
    return "Not taking part" if level in (None, "none", "") else words(level)


def level_order(level: str | None) -> tuple[int, str]:
    """Sort key: no level, then early years, beginner and up; an unknown level last, by name."""
    if level in (None, "none", ""):
        return (-1, "")
    return (LEVELS.index(level), "") if level in LEVELS else (len(LEVELS), str(level))
