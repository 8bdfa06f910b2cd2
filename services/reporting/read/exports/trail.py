"""The grant trail as a download: every grant of a period (or one) followed down, as sheets for
people (read/views/trail.py makes the rows; exports/sheets.py writes them)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.read.exports.sheets import Sheet
from services.reporting.read.labels import words
from services.reporting.read.names import activity_titles, load_names
from services.reporting.read.params import ViewParams
from services.reporting.read.views.funding import load_ledger
from services.reporting.read.views.trail import GrantTrail, grant_trail, grants_in
from shared import cells

GRANT_COLUMNS = ["Grant", "Lead organisation", "Date", "Amount (£)", "Reconciles", "Problems"]
TRAIL_COLUMNS = [
    "Grant",
    "Step",
    "Date",
    "Kind",
    "From",
    "To",
    "Amount (£)",
    "Takes (£)",
    "Used (£)",
    "Remaining (£)",
    "Status",
    "Activities",
    "Lead organisation",
    "Entry ID",
]


async def trails(session: AsyncSession, p: ViewParams, key: str | None = None) -> list[GrantTrail]:
    """The trail of grant `key` (node/entry id; KeyError if the ledger has none), or of every
    grant dated in the period (one node's when the filters name one)."""
    ledger = await load_ledger(session)
    keys = [key] if key else grants_in(ledger, p.kind, p.period, p.filters.node)
    names = await load_names(session)
    found = []
    for k in keys:
        node, _, entry_id = k.partition("/")
        if (node, entry_id) not in ledger.entries:
            raise KeyError(f"no entry {entry_id} at {node}")
        found.append(grant_trail(ledger, node, entry_id, names))
    return found


async def trail_sheets(session: AsyncSession, p: ViewParams, key: str | None = None) -> list[Sheet]:
    """Two sheets: the grants, and every step of their trails."""
    found = await trails(session, p, key)
    ids = {a for t in found for r in t.rows for a in r.activity_ids}
    titles = await activity_titles(session, ids)
    grants = Sheet("grants", "Grants", GRANT_COLUMNS)
    steps = Sheet("trail", "Trail", TRAIL_COLUMNS)
    for t in found:
        top = t.rows[0]
        grants.rows.append(
            [
                t.title,
                words(t.node),
                top.entry_on,
                cells.pounds(top.amount_pence),
                "Yes" if t.reconciles else "No",
                t.problems,
            ]
        )
        steps.rows += [
            [
                t.title,
                r.step,
                r.entry_on,
                words(r.kind),
                r.from_party,
                r.to_party,
                cells.pounds(r.amount_pence),
                cells.pounds(r.takes_pence),
                cells.pounds(r.used_pence),
                cells.pounds(r.remaining_pence),
                _status(r.status),
                ", ".join(titles.get(a, a) for a in r.activity_ids),
                words(r.node),
                r.entry_id,
            ]
            for r in t.rows
        ]
    return [grants, steps]


def _status(status: str) -> str:
    """A step's status as a sentence starts: 'ok' → 'OK', 'not received' → 'Not received'."""
    return "OK" if status == "ok" else status[:1].upper() + status[1:]
