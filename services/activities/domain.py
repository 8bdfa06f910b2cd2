"""Rules about activities, participations and partner returns, with no I/O."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import date
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import AfterValidator

from shared.contracts import node_problem
from shared.contracts.activities import ActivityDelivered
from shared.errors import Invalid
from shared.tabular import RowProblem

T = TypeVar("T")
ReturnStatus = Literal["received", "late", "missing", "due", "unexpected"]
ACTIVITY_COLUMNS = (
    "kind",
    "title",
    "delivered_by",
    "area",
    "setting_urn",
    "starts_on",
    "ends_on",
    "term",
    "hours",
    "headcount",
    "functions",
    "aims",
    "level",
)
"""Columns that describe the activity: every row of one activity_ref must agree on them."""


def _nameable_year(day: date) -> date:
    if not 1900 <= day.year <= 2999:
        raise ValueError(f"{day} is not between 1900 and 2999")
    return day


DeliveryDate = Annotated[date, AfterValidator(_nameable_year)]
"""A day delivery can happen on: in a year an academic year can be named for (``2024-25``).
Every request, register row and form that dates an activity uses it, so a date outside is a
field-level refusal wherever it comes in."""


def check_dates(starts_on: date, ends_on: date) -> None:
    """Refuse an activity that ends before it starts."""
    if ends_on < starts_on:
        raise Invalid(
            "activity ends before it starts",
            {"ends_on": f"{ends_on} is before starts_on {starts_on}"},
        )


class RegisterLine(Protocol):
    @property
    def activity_ref(self) -> str: ...
    @property
    def area(self) -> str: ...
    @property
    def upn(self) -> str | None: ...

    def activity_fields(self) -> dict[str, object]: ...


def register_problems(
    rows: Sequence[tuple[int, RegisterLine]],
    node: str | None = None,
    nodes: Collection[str] | None = None,
) -> list[RowProblem]:
    """Problems only visible across rows (an activity described two ways, a pupil listed twice) or
    against the hub (given `node`, the importing node, and `nodes`, the hub's: an activity's area
    that is not one of them), so that no part of a file is imported before its last row is
    checked."""
    problems: list[RowProblem] = []
    first: dict[str, tuple[int, dict[str, object]]] = {}
    pupils: dict[tuple[str, str], int] = {}
    area_rule = ActivityDelivered.node_fields["area"]
    for number, row in rows:
        fields = row.activity_fields()
        seen = first.setdefault(row.activity_ref, (number, fields))
        if seen[0] == number and node is not None:
            if why := node_problem("area", str(row.area), area_rule, node, nodes):
                problems.append(RowProblem(number, "area", why))
        elif seen[0] != number:
            for column in ACTIVITY_COLUMNS:
                if fields.get(column) != seen[1].get(column):
                    problems.append(
                        RowProblem(
                            number,
                            column,
                            f"differs from row {seen[0]} for activity_ref {row.activity_ref}",
                        )
                    )
        if row.upn:
            key = (row.activity_ref, row.upn)
            if key in pupils:
                problems.append(
                    RowProblem(
                        number,
                        "upn",
                        f"same pupil already listed for this activity in row {pupils[key]}",
                    )
                )
            else:
                pupils[key] = number
    return problems


def batches_by_activity(rows: Iterable[T], key: Callable[[T], str], size: int) -> Iterator[list[T]]:
    """Rows in batches of about `size`, never splitting one activity's rows across two batches."""
    groups: dict[str, list[T]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    batch: list[T] = []
    for group in groups.values():
        if batch and len(batch) + len(group) > size:
            yield batch
            batch = []
        batch.extend(group)
    if batch:
        yield batch


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def return_status(due_on: date | None, submitted_on: date | None, today: date) -> ReturnStatus:
    """Where a partner's return stands: received (on time), late, missing (overdue), due,
    or unexpected."""
    if due_on is None:
        return "unexpected"
    if submitted_on is not None:
        return "received" if submitted_on <= due_on else "late"
    return "missing" if today > due_on else "due"
