"""The short, fixed-seed form of `hub reliability`: every kind of process SIGKILLed and a leaf link
cut under load; the hub must then equal the nodes' own databases exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from harness.reliability.crash import FAULT_KINDS
from harness.reliability.run import run_reliability


@pytest.mark.slow
async def test_short_reliability_run_loses_nothing_counts_nothing_twice_and_balances(
    tmp_path: Path,
) -> None:
    console = Console(record=True, width=140)
    report = await run_reliability(
        seed=1, duration=12, soak=5, mutations=50, short=True, folder=tmp_path, console=console
    )
    printed = console.export_text()
    assert "reliability PASSED" in printed, printed

    [crash] = report.crashes
    assert set(crash.faults) == set(FAULT_KINDS), crash.faults  # every kind of fault was injected
    rec = crash.reconciliation
    assert rec is not None and rec.events > 200, printed  # a real workload ran
    assert (rec.lost, rec.duplicated, rec.mismatched) == (0, 0, {}), printed
    assert rec.allocated_pence == rec.received_pence > 0  # funding balanced to the penny
    assert crash.converge_seconds is not None

    assert report.soak is not None and report.soak.events > 0 and report.soak.reconciliation.exact
    assert report.hostile is not None and report.hostile.cases > 250 and not report.hostile.failures
    assert report.hostile.totals_unchanged
    # forgeries are refused for what they are: the drill's reporting checks node signatures
    assert (
        report.hostile.outcomes["dead-lettered: unsigned"]
        and report.hostile.outcomes["dead-lettered: unknown node"]
    )
    assert report.hostile.outcomes[
        "dead-lettered: not in the batch"
    ]  # another batch's proof, copied onto a forgery
    assert (
        report.hostile.outcomes["dead-lettered: reused by event"]
        and report.hostile.outcomes["dead-lettered: not this node's own"]
    )


async def test_an_allocation_is_received_once_even_when_the_request_is_retried(system) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import income

    made = await system.post("coventry", "funding", "/income", income(1_000_00))
    assert made.status_code == 201, made.text
    sent = await system.post(
        "coventry",
        "funding",
        "/allocations",
        {
            "to_node": "solihull",
            "stream": "revenue",
            "amount_pence": 40_00,
            "allocated_on": "2025-09-15",
            "funded_from": [{"entry_id": made.json()["entry_id"], "amount_pence": 40_00}],
        },
    )
    assert sent.status_code == 201, sent.text
    receipt = {
        "from_node": "coventry",
        "sender_entry_id": sent.json()["entry_id"],
        "stream": "revenue",
        "amount_pence": 40_00,
        "received_on": "2025-09-17",
    }
    assert (await system.post("solihull", "funding", "/received", receipt)).status_code == 201
    again = await system.post(
        "solihull", "funding", "/received", receipt
    )  # a retry after a lost response
    assert again.status_code == 409 and again.json()["reason"] == "already received"
    report = await system.report_when(
        lambda r: r.totals.allocated_in_pence == r.totals.allocated_out_pence == 40_00
    )
    received = [n for n in report.nodes if n.node == "solihull"]
    assert report.totals.allocated_out_pence == 40_00 and received
