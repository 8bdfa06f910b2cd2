"""The partner's question pages, one thing per page (GOV.UK's pattern): each group of a return
(an activity, a WCET programme, CPD given) asked as a few short steps, its answers carried from
step to step in the form (hidden fields, and the query of the next page: nothing personal), checked
at each step with the group's own model, and saved to the draft only at the last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from services.activities import web_returns as wr
from shared.errors import Invalid


@dataclass(frozen=True)
class Field:
    label: str
    kind: str = "text"
    """text, date, radios, checkboxes, setting (found in the register), schools (several)"""
    hint: str | None = None
    width: str = "govuk-input--width-20"


FIELDS: dict[str, Field] = {
    "kind": Field("What kind of activity was it?", "radios"),
    "setting_urn": Field("School or setting", "setting"),
    "title": Field("What was it called?", hint="For example, Junior brass band"),
    "starts_on": Field("First day", "date", width="govuk-input--width-10"),
    "ends_on": Field("Last day", "date", width="govuk-input--width-10"),
    "hours": Field(
        "Contact hours in all", hint="For example, 30 or 7.5", width="govuk-input--width-5"
    ),
    "headcount": Field(
        "How many took part?",
        hint="A count, even if you upload the pupils in a register.",
        width="govuk-input--width-5",
    ),
    "functions": Field("Strategic functions it served", "checkboxes"),
    "aims": Field("National Plan aims it served", "checkboxes"),
    "level": Field("Level", "radios"),
    "instrument": Field("Which instrument did the class learn?", hint="For example, ukulele"),
    "year_groups": Field(
        "Which year group or groups?",
        hint="For example, 4, or 3 and 4. R for reception.",
        width="govuk-input--width-10",
    ),
    "weeks": Field("How many weeks?", width="govuk-input--width-5"),
    "pupils": Field("How many pupils took part?", width="govuk-input--width-5"),
    "sessions": Field("How many sessions?", width="govuk-input--width-5"),
    "attendees": Field(
        "How many attended?",
        hint="Teachers and other staff, counted once each session.",
        width="govuk-input--width-5",
    ),
    "schools": Field("Schools whose staff attended", "schools"),
}
LISTS = {"functions", "aims", "schools"}
"""Fields that take several values (checkboxes)."""


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Flow:
    group: wr.Group
    title: str
    steps: tuple[Step, ...]

    def index(self, step: str) -> int:
        names = [s.name for s in self.steps]
        if step not in names:
            raise Invalid("no such page", {"step": f"one of {', '.join(names)}"})
        return names.index(step)


FLOWS: dict[str, Flow] = {
    "activities": Flow(
        "activities",
        "Add an activity",
        (
            Step("kind", "What kind of activity was it?", ("kind",)),
            Step("setting", "Which school or setting was it in?", ("setting_urn",)),
            Step("details", "About the activity", ("title", "starts_on", "ends_on", "hours")),
            Step("count", "How many took part?", ("headcount",)),
            Step("aims", "What did it serve?", ("functions", "aims", "level")),
        ),
    ),
    "wcet": Flow(
        "wcet",
        "Add whole-class ensemble teaching",
        (
            Step("school", "Which school was the class in?", ("setting_urn",)),
            Step("class", "The class and its instrument", ("instrument", "year_groups")),
            Step("when", "When, and for how long?", ("starts_on", "ends_on", "weeks", "hours")),
            Step("pupils", "How many pupils took part?", ("pupils",)),
        ),
    ),
    "cpd": Flow(
        "cpd",
        "Add CPD you gave",
        (
            Step("about", "About the CPD", ("title", "starts_on", "ends_on")),
            Step("sessions", "Sessions and attendees", ("sessions", "hours", "attendees")),
            Step("schools", "Which schools' staff attended?", ("schools",)),
        ),
    ),
}


def values_of(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A form's or query's values: lists where a field takes several, typed URNs split; blanks,
    the CSRF token and the search left out."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in ("csrf", "q") or not isinstance(value, str) or not value.strip():
            continue
        if key == "schools_typed":
            key, value = "schools", value.replace(",", " ").split()
        if key in LISTS:
            values.setdefault(key, [])
            values[key] += value if isinstance(value, list) else [value.strip()]
        elif key in FIELDS:
            values[key] = value.strip()
    if "schools" in values:
        values["schools"] = list(dict.fromkeys(values["schools"]))
    return values


def pairs_of(values: dict[str, Any], leave_out: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Values as (name, value) pairs: hidden fields of a form, or the next page's query."""
    skip = set(leave_out)
    return [
        (key, item)
        for key, value in values.items()
        if key not in skip
        for item in (value if isinstance(value, list) else [value])
    ]


def step_errors(flow: Flow, index: int, values: dict[str, Any], year: str) -> dict[str, str]:
    """Problems with the answers given so far: the group's model's, and the return's own (dates
    in order, in its year), for the fields of this step and those before it."""
    asked = {f for s in flow.steps[: index + 1] for f in s.fields}
    errors: dict[str, str] = {}
    try:
        wr.ANSWERS[flow.group].model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            name = str(e["loc"][0]) if e["loc"] else "ends_on"
            if name in asked:
                errors.setdefault(name, message(name, e["msg"]))
    if "starts_on" in asked and "starts_on" not in errors:
        errors |= _date_errors(values, year, "ends_on" in asked and "ends_on" not in errors)
    return errors


PATTERNS = {
    "setting_urn": "Give the school's URN: 6 or 7 digits",
    "schools": "Give each school's URN: 6 or 7 digits",
    "year_groups": "Give year groups as R (reception) or 1 to 13",
}
"""What a field's pattern means, for a person (pydantic quotes the regular expression)."""

REQUIRED = {
    "kind": "Select the kind of activity",
    "setting_urn": "Choose the school, or give its URN",
    "title": "Enter what it was called",
    "starts_on": "Enter the first day",
    "ends_on": "Enter the last day",
    "hours": "Enter the contact hours",
    "headcount": "Enter how many took part",
    "functions": "Select the strategic functions it served",
    "aims": "Select the National Plan aims it served",
    "level": "Select the level",
    "instrument": "Enter the instrument the class learned",
    "year_groups": "Enter the year group or groups",
    "weeks": "Enter how many weeks",
    "pupils": "Enter how many pupils took part",
    "sessions": "Enter how many sessions",
    "attendees": "Enter how many attended",
    "schools": "Select the schools whose staff attended",
}
"""A missing answer, said as GOV.UK's error messages say it: what to do, naming the question."""


OPTIONS = {
    "wcet": "Whole-class ensemble teaching (WCET)",
    "send_inclusion": "SEND and inclusion",
    "cpd": "CPD (training for teachers and other staff)",
    "instrument_loan": "Instrument loans",
    "exam": "Exams",
    "workshop": "Workshops",
    "performance": "Performances",
}
"""Choices as people write them; other codes read well as words ('early_years': 'Early years')."""


def option_label(code: str) -> str:
    return OPTIONS.get(code) or code.replace("_", " ").capitalize()


def long_date(value: date | str | None) -> str:
    """'10 March 2025', as GOV.UK writes dates (answers keep their ISO dates)."""
    if not value:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return f"{day.day} {day:%B %Y}"


def message(name: str, text: str) -> str:
    """A pydantic problem as a person reads it. The error summary shows the message alone, so each
    names its question; library text ("Field required") never reaches the page."""
    label = FIELDS[name].label if name in FIELDS else name.replace("_", " ").capitalize()
    if text == "Field required":
        return REQUIRED.get(name, f"Answer “{label}”")
    if "should match pattern" in text and name in PATTERNS:
        return PATTERNS[name]
    if "valid decimal" in text or "valid number" in text or "valid integer" in text:
        return f"“{label}”: enter a number, like {'7.5' if 'integer' not in text else '12'}"
    if "valid date" in text:
        return f"“{label}”: enter a real date"
    return f"“{label}”: {text[:1].lower()}{text[1:]}"


def _date_errors(values: dict[str, Any], year: str, both: bool) -> dict[str, str]:
    starts = date.fromisoformat(values["starts_on"])
    if both and date.fromisoformat(values["ends_on"]) < starts:
        return {"ends_on": "The last day is before the first"}
    try:
        wr.check_year(starts, year)
    except Invalid as exc:
        return exc.fields
    return {}


def first_step_with(flow: Flow, errors: dict[str, str]) -> int:
    """The page to show a problem found at the end on (the step that asked for it)."""
    return next(
        (i for i, s in enumerate(flow.steps) if set(s.fields) & set(errors)), len(flow.steps) - 1
    )
