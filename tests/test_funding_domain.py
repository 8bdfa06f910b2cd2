"""Ledger rules without I/O: draws, restrictions and the reversal chain."""

from __future__ import annotations

import pytest

from services.funding.domain import SourceBalance, check_draws, plan_reversal
from shared.contracts.funding import EntryKind
from shared.contracts.vocabulary import FundingStream
from shared.errors import Invalid, Refused

REVENUE, CAPITAL = FundingStream.REVENUE, FundingStream.CAPITAL


def source(
    entry_id: str = "a",
    stream: FundingStream = REVENUE,
    amount: int = 100,
    drawn: int = 0,
    **extra: object,
) -> SourceBalance:
    return SourceBalance(entry_id, stream, amount, drawn, **extra)  # type: ignore[arg-type]


def test_a_flow_may_draw_exactly_what_remains_across_two_sources() -> None:
    check_draws(
        150, REVENUE, {"a": 60, "b": 90}, {"a": source("a", drawn=40), "b": source("b", amount=90)}
    )


@pytest.mark.parametrize(
    ("draws", "sources", "error", "message"),
    [
        ({"a": 61}, {"a": source(drawn=40)}, Refused, "source a has £0.60 left; £0.61 requested"),
        (
            {"a": 1},
            {"a": source(stream=CAPITAL)},
            Refused,
            "source a is capital only, this flow is revenue",
        ),
        (
            {"a": 1},
            {"a": source(active=False)},
            Refused,
            "source a has £0.00 left; £0.01 requested",
        ),
        (
            {"a": 1},
            {"a": source(area="solihull")},
            Refused,
            "source a is for solihull, not coventry",
        ),
        ({"a": 1}, {"a": source(kind=EntryKind.COMMISSION)}, Invalid, "entry a is commission"),
        ({"z": 1}, {}, Invalid, "no entry z in this ledger"),
    ],
    ids=[
        "over-draw",
        "capital-into-revenue",
        "reversed-source",
        "other-area",
        "not-a-source",
        "unknown",
    ],
)
def test_refusals_name_the_figures(
    draws: dict[str, int], sources: dict[str, SourceBalance], error: type, message: str
) -> None:
    with pytest.raises(error) as refused:
        check_draws(sum(draws.values()), REVENUE, draws, sources, "coventry")
    assert message in " ".join(refused.value.fields.values())


def test_an_unrestricted_source_funds_either_stream() -> None:
    check_draws(10, CAPITAL, {"a": 10}, {"a": source(stream_restricted=False)})


def test_reversal_chain_alternates_and_moves_the_original_links() -> None:
    links = {"s1": 70, "s2": 30}
    first = plan_reversal(1, False, None, EntryKind.COMMISSION, links, 0)
    assert (first.sign, first.links) == (-1, {"s1": -70, "s2": -30})
    second = plan_reversal(first.sign, True, None, EntryKind.COMMISSION, links, 0)
    assert (second.sign, second.links) == (1, links)
    third = plan_reversal(second.sign, True, None, EntryKind.COMMISSION, links, 0)
    assert third.sign == -1


def test_an_entry_is_reversed_once_and_a_drawn_source_not_at_all() -> None:
    with pytest.raises(Refused, match="already reversed"):
        plan_reversal(1, False, "r1", EntryKind.EXPENDITURE, {"s": 1}, 0)
    with pytest.raises(Refused, match="still drawn"):
        plan_reversal(1, False, None, EntryKind.INCOME, {}, 5)
    reinstated = plan_reversal(-1, True, None, EntryKind.INCOME, {}, 5)
    assert (reinstated.sign, reinstated.links) == (1, {})


async def test_concurrent_flows_never_over_draw_a_source(settings, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """On SQLite and PostgreSQL: of five concurrent £300 draws on £1,000,
    exactly three are stored."""
    import asyncio
    from datetime import date

    from services.funding import app as funding_app
    from services.funding.services import (
        RecordExpenditure,
        RecordIncome,
        record_expenditure,
        record_income,
        source_balances,
    )

    service = funding_app.build_service(
        settings.model_copy(update={"database_url": database_url}), "coventry", ""
    )
    await service.start(relay=False)
    try:
        grant = await record_income(
            RecordIncome(
                source="dfe_grant",
                funder="GB-CHC-1036733",
                stream=REVENUE,
                amount_pence=1_000_00,
                received_on=date(2025, 9, 1),
            ),
            service.unit_of_work(),
        )

        async def spend() -> bool:
            cmd = RecordExpenditure.model_validate(
                {
                    "category": "staff",
                    "function": "schools",
                    "area": "coventry",
                    "description": "tutors",
                    "payee": "x",
                    "stream": "revenue",
                    "amount_pence": 300_00,
                    "spent_on": "2025-10-01",
                    "funded_from": [{"entry_id": str(grant), "amount_pence": 300_00}],
                }
            )
            try:
                await record_expenditure(cmd, service.unit_of_work())
            except Refused:
                return False
            return True

        results = await asyncio.gather(*(spend() for _ in range(5)))
        assert sorted(results) == [False, False, True, True, True]
        [left] = await source_balances(service.unit_of_work())
        assert (left.drawn_pence, left.remaining_pence) == (900_00, 100_00)
    finally:
        await service.stop()
