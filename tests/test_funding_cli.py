"""`hub funding` from the shell: writes go through the unit of work and outbox;
refusals give the figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_cli import run


def recorded(out: str) -> str:
    match = re.search(r"recorded ([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


@pytest.mark.slow
def test_record_spend_refuse_and_reverse_from_the_shell(tmp_path: Path) -> None:
    data = ["--node", "coventry", "--data-dir", str(tmp_path / "data")]
    grant = run(
        ["funding", "income", *data, "dfe_grant", "GB-CHC-1036733", "100000", "--on", "2025-09-01"],
        tmp_path,
    )
    assert grant.returncode == 0, grant.stderr[-2000:]
    grant_id = recorded(grant.stdout)
    spent = run(
        [
            "funding",
            "spend",
            *data,
            "staff",
            "schools",
            "coventry",
            "WCET tutors",
            "Coventry Music",
            "60000",
            "--from",
            f"{grant_id}=60000",
            "--on",
            "2025-10-01",
        ],
        tmp_path,
    )
    assert spent.returncode == 0, spent.stderr[-2000:]
    over = run(
        [
            "funding",
            "spend",
            *data,
            "staff",
            "schools",
            "coventry",
            "More tutors",
            "Coventry Music",
            "40001",
            "--from",
            f"{grant_id}=40001",
        ],
        tmp_path,
    )
    assert over.returncode == 1
    assert (
        "source over-drawn" in over.stdout and "has £400.00 left; £400.01 requested" in over.stdout
    )
    undo = run(
        ["funding", "reverse", *data, recorded(spent.stdout), "keyed twice", "--on", "2025-10-02"],
        tmp_path,
    )
    assert undo.returncode == 0, undo.stderr[-2000:]
    budget = run(["funding", "budget", *data, "2025-26", "schools", "coventry", "50000"], tmp_path)
    assert budget.returncode == 0 and "budget set" in budget.stdout

    ledger = run(["funding", "entries", *data], tmp_path)
    assert (
        "£1,000.00" in ledger.stdout
        and "-£600.00" in ledger.stdout
        and ledger.stdout.count("reversal") == 1
    )

    # nothing reached reporting (no NATS in this test): the hub's figures are read as `hub report`
    # reads them, read-only, so the command says where it looked and creates no database
    balance = run(["funding", "balance", "--json", "--data-dir", str(tmp_path / "data")], tmp_path)
    assert balance.returncode == 2 and "no reporting database at" in balance.stderr, balance.stderr[
        -2000:
    ]
    assert not (tmp_path / "data" / "hub" / "reporting.db").exists()
