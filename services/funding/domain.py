"""Ledger rules, with no I/O: a flow never draws more than remains, nor mixes capital and revenue
where its source forbids it; mistakes are reversed, never edited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts.funding import SOURCE_KINDS, EntryKind
from shared.contracts.vocabulary import FundingStream
from shared.errors import Invalid, Refused


def pounds(pence: int) -> str:
    """Pence as people read money in a message: 4000001 → '£40,000.01', −5 → '−£0.05'."""
    sign = "\u2212" if pence < 0 else ""
    return f"{sign}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


@dataclass(frozen=True)
class SourceBalance:
    """What an earlier entry holds and how much of it later entries already draw
    (net of reversals)."""

    entry_id: str
    stream: FundingStream
    amount_pence: int
    drawn_pence: int
    kind: EntryKind = EntryKind.INCOME
    active: bool = True
    """False while the source itself stands reversed: it then holds nothing."""
    stream_restricted: bool = True
    area: str | None = None

    @property
    def held_pence(self) -> int:
        return self.amount_pence if self.active else 0

    @property
    def remaining_pence(self) -> int:
        return self.held_pence - self.drawn_pence


def check_draws(
    amount_pence: int,
    stream: FundingStream,
    draws: dict[str, int],
    sources: dict[str, SourceBalance],
    area: str | None = None,
) -> None:
    """Refuse, with the figures, a flow whose links do not add up,
    over-draw a source or break its restrictions."""
    if sum(draws.values()) != amount_pence:
        raise Invalid(
            "funding links do not add up to the amount",
            {
                "funded_from": (
                    f"links total {pounds(sum(draws.values()))} "
                    f"but the amount is {pounds(amount_pence)}"
                )
            },
        )
    for entry_id, draw in draws.items():
        source = sources.get(entry_id)
        if source is None:
            raise Invalid(
                "unknown funding source", {"funded_from": f"no entry {entry_id} in this ledger"}
            )
        if source.kind not in SOURCE_KINDS:
            raise Invalid(
                "not a source",
                {
                    "funded_from": (
                        f"entry {entry_id} is {source.kind}; draw on income or funds received"
                    )
                },
            )
        if source.stream_restricted and source.stream != stream:
            raise Refused(
                "capital and revenue may not be mixed",
                {"stream": f"source {entry_id} is {source.stream} only, this flow is {stream}"},
            )
        if area and source.area and source.area != area:
            raise Refused(
                "source restricted to another area",
                {"area": f"source {entry_id} is for {source.area}, not {area}"},
            )
        if draw > source.remaining_pence:
            raise Refused(
                "source over-drawn",
                {
                    "funded_from": (
                        f"source {entry_id} has {pounds(source.remaining_pence)} left; "
                        f"{pounds(draw)} requested"
                    )
                },
            )


@dataclass(frozen=True)
class ReversalPlan:
    """What a reversal does: cancel (-1) or reinstate (+1) the original,
    moving these signed links."""

    sign: Literal[-1, 1]
    links: dict[str, int]


def plan_reversal(
    target_sign: int,
    target_is_reversal: bool,
    already_reversed_by: str | None,
    original_kind: EntryKind,
    original_links: dict[str, int],
    original_drawn_pence: int,
) -> ReversalPlan:
    """Decide a reversal of `target` (the original entry or a reversal in its chain).

    An entry is reversed at most once; to undo a reversal, reverse the reversal. A source cannot
    be cancelled while later flows still draw on it: reverse those flows first.
    """
    if already_reversed_by is not None:
        raise Refused(
            "already reversed",
            {"entry_id": f"reversed by {already_reversed_by}; reverse that entry to undo it"},
        )
    # reversing a reversal reinstates (+1) what it cancelled; anything else is cancelled (-1)
    sign: Literal[-1, 1] = (1 if target_sign < 0 else -1) if target_is_reversal else -1
    if original_kind in SOURCE_KINDS:
        if sign < 0 and original_drawn_pence > 0:
            raise Refused(
                "source still drawn on",
                {
                    "entry_id": (
                        f"later flows draw {pounds(original_drawn_pence)} from it; "
                        "reverse them first"
                    )
                },
            )
        return ReversalPlan(sign, {})
    return ReversalPlan(sign, {source: sign * amount for source, amount in original_links.items()})
