"""hub node recover's parts that need no servers: every event a service publishes has a restorer,
and streams that disagree about a sequence are refused before anything changes."""

from __future__ import annotations

import json

import pytest

from shared.contracts import all_contracts
from shared.envelope import parse_event
from shared.node_recovery import RecoveryRefused, StoredEvent, merge
from hub.commands.recover import restorers
from tests.test_contracts import SAMPLES, envelope_for


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: f"{c.event_type}.v{c.version}")
def test_every_published_event_type_has_a_restorer_in_its_service(contract) -> None:  # type: ignore[no-untyped-def]
    assert contract.event_type in restorers(contract.service), (
        f"services/{contract.service}/restore.py cannot bring {contract.event_type} back after a restore")


def stored(sequence: int) -> StoredEvent:
    data = envelope_for("AgreementEnded", 1, json.loads((SAMPLES / "AgreementEnded.v1.json").read_text()),
                        service="partners", sequence=sequence)
    return StoredEvent("hl.heart-of-england.coventry.partners.AgreementEnded.v1", data, parse_event(data))


def test_the_same_event_in_both_streams_is_restored_once_and_different_ones_are_refused() -> None:
    one, two = stored(3), stored(4)
    assert [s.event.envelope.sequence for s in merge({3: one, 4: two}, {3: one})] == [3, 4]
    with pytest.raises(RecoveryRefused, match="sequence 3 is event"):
        merge({3: one}, {3: stored(3)})
