"""Ledger rules, with no I/O: a flow never draws more than remains, nor mixes capital and revenue."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.vocabulary import FundingStream
from shared.errors import Invalid, Refused


@dataclass(frozen=True)
class SourceBalance:
    """What an earlier entry holds and how much of it later entries already draw."""

    entry_id: str
    stream: FundingStream
    amount_pence: int
    drawn_pence: int

    @property
    def remaining_pence(self) -> int:
        return self.amount_pence - self.drawn_pence


def check_draws(amount_pence: int, stream: FundingStream, draws: dict[str, int], sources: dict[str, SourceBalance]) -> None:
    """Refuse, with the figures, a flow whose links do not add up or over-draw a source."""
    if sum(draws.values()) != amount_pence:
        raise Invalid(
            "funding links do not add up to the amount",
            {"funded_from": f"links total {sum(draws.values())}p but the amount is {amount_pence}p"},
        )
    for entry_id, draw in draws.items():
        source = sources.get(entry_id)
        if source is None:
            raise Invalid("unknown funding source", {"funded_from": f"no entry {entry_id} in this ledger"})
        if source.stream != stream:
            raise Refused(
                "capital and revenue may not be mixed",
                {"stream": f"source {entry_id} is {source.stream}, this flow is {stream}"},
            )
        if draw > source.remaining_pence:
            raise Refused(
                "source over-drawn",
                {"funded_from": f"source {entry_id} has {source.remaining_pence}p left; {draw}p requested"},
            )
