"""Funding events applied to the reporting tables on SQLite and PostgreSQL: reversals net out,
budgets are replaced, redelivery changes nothing, and the balance check holds."""

from __future__ import annotations

import json
from pathlib import Path

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.read.queries import hub_report
from services.reporting.read.views.funding import budget_vs_actual, funding_balance, period_summary
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.test_contracts import envelope_for

SAMPLES = Path(__file__).parent / "samples"
GRANT, REVENUE_2 = "01a2011f-0000-7000-8000-000000000004", "01a2011f-0000-7000-8000-000000000003"


def sample(name: str, **changes: object) -> dict:
    return {**json.loads((SAMPLES / f"{name}.json").read_text()), **changes}


def event(hub: str, node: str, seq: int, event_type: str, payload: dict) -> Incoming:
    raw = envelope_for(event_type, 1, payload, hub=hub, node=node, service="funding", sequence=seq)
    return Incoming(event_subject(hub, node, "funding", event_type, 1), raw, seq)


async def test_funding_events_project_and_balance(settings: HubSettings, database_url: str) -> None:
    hub = settings.hub
    reporting = build_service(settings, "", ReportingSettings(database_url=database_url))
    await reporting.start(consume=False)
    try:
        income = sample("IncomeRecorded.v1", received_on="2025-09-01")
        commission = sample("PartnerCommissioned.v1")
        reversal = sample("EntryReversed.v1")
        redo = sample(
            "EntryReversed.v1",
            entry_id="01a2011f-0000-7000-8000-00000000000a",
            sign=1,
            reverses_entry_id=reversal["entry_id"],
            reason="it was right",
            funded_from=[
                {"entry_id": GRANT, "amount_pence": 1000000},
                {"entry_id": REVENUE_2, "amount_pence": 500000},
            ],
        )
        batch = [
            event(
                hub,
                "coventry",
                1,
                "IncomeRecorded",
                {**income, "entry_id": GRANT, "amount_pence": 2_000_000},
            ),
            event(
                hub,
                "coventry",
                2,
                "IncomeRecorded",
                {**income, "entry_id": REVENUE_2, "amount_pence": 500_000},
            ),
            event(hub, "coventry", 3, "PartnerCommissioned", commission),
            event(hub, "coventry", 4, "EntryReversed", reversal),
            event(hub, "coventry", 5, "EntryReversed", redo),
            event(
                hub,
                "coventry",
                6,
                "BudgetSet",
                sample("BudgetSet.v1", function="progression", amount_pence=1),
            ),
            event(
                hub,
                "coventry",
                7,
                "BudgetSet",
                sample("BudgetSet.v1", function="progression", amount_pence=2_000_000),
            ),
        ]
        first = await reporting.ingest(batch)
        again = await reporting.ingest(batch)
        assert (first.applied, first.dead, again.duplicates) == (7, [], 7)

        async with reporting.read_sessions() as session:
            result = await funding_balance(session, ["coventry"])
            budget = await budget_vs_actual(session, "academic", "2025-26")
            report = await hub_report(session, hub, ["coventry"])
            summary = await period_summary(session, "academic", "2025-26")
        assert result.balanced, result.problems
        assert (
            result.hub.income_pence,
            result.hub.commissioned_pence,
            result.hub.remaining_pence,
        ) == (2_500_000, 1_500_000, 1_000_000)
        assert [(b.function, b.budget_pence, b.actual_pence, b.variance_pence) for b in budget] == [
            ("progression", 2_000_000, 1_500_000, -500_000)
        ]
        assert report.nodes[0].income_pence == 2_500_000
        assert (summary.income_by_source, summary.spend_by_function) == (
            {"dfe_grant": 2_500_000},
            {"progression": 1_500_000},
        )
    finally:
        await reporting.stop()
