"""Rules about activities, with no I/O."""

from __future__ import annotations

from datetime import date

from shared.errors import Invalid


def check_dates(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise Invalid("activity ends before it starts", {"ends_on": f"{ends_on} is before starts_on {starts_on}"})
