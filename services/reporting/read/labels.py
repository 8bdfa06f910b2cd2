"""How people say the hub's words: keys and vocabulary in plain English, and the `Names` a page
or export puts beside ids (loaded by services/reporting/read/names.py). No database here, so
views may use it."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.contracts.funding import EntryKind, RemissionReason, SpendCategory
from shared.contracts.vocabulary import (
    ActivityKind,
    Aim,
    FundingStream,
    IncomeSource,
    Level,
    OrganisationRole,
    StrategicFunction,
)

WORDS = {
    "dfe": "DfE",
    "ace": "ACE",
    "la": "LA",
    "urn": "URN",
    "urns": "URNs",
    "wcet": "WCET",
    "send": "SEND",
    "fsm": "FSM",
    "ehcp": "EHCP",
    "cpd": "CPD",
    "id": "ID",
    "ids": "IDs",
    "org": "org",
}
"""Words written the way people write them, whatever a key's case."""
KNOWN_ORG_IDS = {"GB-CHC-1036733": "Arts Council England"}
"""Funders every hub names by org-id without registering them."""

VOCABULARY = {
    str(v): v.value.replace("_", " ")
    for enum in (
        ActivityKind,
        Aim,
        IncomeSource,
        Level,
        OrganisationRole,
        StrategicFunction,
        FundingStream,
        EntryKind,
        SpendCategory,
        RemissionReason,
    )
    for v in enum
}
VOCABULARY |= {"dfe_grant": "DfE grant", "wcet": "WCET", "cpd": "CPD", "send_inclusion": "SEND"}


def words(key: str) -> str:
    """A key as words, first letter capital: ``engaged_urns`` → ``Engaged URNs``."""
    text = " ".join(WORDS.get(w.lower(), w) for w in key.replace("-", "_").split("_") if w)
    return text[:1].upper() + text[1:]


def label(value: str) -> str:
    """A vocabulary value as people say it (``dfe_grant`` → ``DfE grant``); others unchanged."""
    found = VOCABULARY.get(value)
    return found[:1].upper() + found[1:] if found else value


@dataclass(frozen=True)
class Names:
    """Display names by id; an id not found stays unnamed (the caller says so, never guesses)."""

    organisations: dict[str, str] = field(default_factory=dict)
    """Organisation id → name; a name two lead organisations register carries theirs."""
    schools: dict[str, str] = field(default_factory=dict)
    """URN → the setting's name on the register."""
    areas: dict[str, str] = field(default_factory=dict)
    org_ids: dict[str, str] = field(default_factory=lambda: dict(KNOWN_ORG_IDS))
    """Registered organisations by org-id (``GB-CHC-…``), and the hub's funders."""
    activities: dict[str, str] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)
    """Ledger entry id → its counterparty or title."""

    def area(self, slug: str) -> str:
        return self.areas.get(slug, slug)

    def funder(self, text: str) -> str:
        """A funder or payee as recorded (a name, an org-id or an organisation id), by name."""
        return self.org_ids.get(text) or self.organisations.get(text) or text
