"""The report views by name, with the line that says what each holds, in the catalogue's order.

Kept apart from the catalogue (services/reporting/read/catalogue.py), which imports every view
with SQLAlchemy and FastAPI, so that the CLI can name its `hub report` and `hub export` commands
without loading any of them."""

VIEW_SUMMARIES: dict[str, str] = {
    "summary": "Per-node and hub-wide totals",
    "reach": "Unique pupils and headcounts by area, kind, level, year group and node",
    "schools": "Schools engaged and the state-funded share per area; WCET and continuation",
    "inclusion": "SEND, FSM, looked-after, ethnicity and gender of participants; cold spots",
    "progression": "Level changes between years, ensembles, advanced opportunities",
    "partnerships": "Active partners, expiring agreements, partner returns, data health",
    "funding": "Income and leverage, allocations, commissions, spend, budget, remaining, "
    "unit costs, capital",
    "data-health": "Last event and sequence gaps per producer",
    "annual-return": "The annual hub data return to ACE",
    "transparency": "Public figures with small counts suppressed",
}
