"""Ledger rules without I/O: draws, restrictions and the reversal chain."""

from __future__ import annotations

import pytest

from shared.contracts.funding import EntryKind
from shared.contracts.vocabulary import FundingStream
from shared.errors import Invalid, Refused
from services.funding.domain import SourceBalance, check_draws, plan_reversal

REVENUE, CAPITAL = FundingStream.REVENUE, FundingStream.CAPITAL


def source(entry_id: str = "a", stream: FundingStream = REVENUE, amount: int = 100, drawn: int = 0, **extra: object) -> SourceBalance:
    return SourceBalance(entry_id, stream, amount, drawn, **extra)  # type: ignore[arg-type]


def test_a_flow_may_draw_exactly_what_remains_across_two_sources() -> None:
    check_draws(150, REVENUE, {"a": 60, "b": 90}, {"a": source("a", drawn=40), "b": source("b", amount=90)})


@pytest.mark.parametrize(
    ("draws", "sources", "error", "message"),
    [
        ({"a": 61}, {"a": source(drawn=40)}, Refused, "source a has 60p left; 61p requested"),
        ({"a": 1}, {"a": source(stream=CAPITAL)}, Refused, "source a is capital only, this flow is revenue"),
        ({"a": 1}, {"a": source(active=False)}, Refused, "source a has 0p left; 1p requested"),
        ({"a": 1}, {"a": source(area="solihull")}, Refused, "source a is for solihull, not coventry"),
        ({"a": 1}, {"a": source(kind=EntryKind.COMMISSION)}, Invalid, "entry a is commission"),
        ({"z": 1}, {}, Invalid, "no entry z in this ledger"),
    ],
    ids=["over-draw", "capital-into-revenue", "reversed-source", "other-area", "not-a-source", "unknown"],
)
def test_refusals_name_the_figures(draws: dict[str, int], sources: dict[str, SourceBalance], error: type, message: str) -> None:
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
