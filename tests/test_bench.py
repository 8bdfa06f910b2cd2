"""The benchmark harness runs end to end (a tiny plan): it cannot rot unnoticed. It asserts that
every measurement ran and produced figures, never how fast anything was."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from harness.bench import SMOKE, render_tables, run_bench
from services.reporting.ingest.preparing import default_workers
from tests.conftest import POSTGRES_DSN, REQUIRE_POSTGRES, _postgres_reachable


async def _bench_databases() -> set[str]:
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        return {
            r[0]
            for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'hl_bench_%'"
            )
        }
    finally:
        await conn.close()


@pytest.mark.slow
async def test_every_benchmark_runs_and_reports_figures(tmp_path: Path) -> None:
    postgres = await _postgres_reachable()
    assert postgres or not REQUIRE_POSTGRES
    before = await _bench_databases() if postgres else set()
    results = await run_bench(SMOKE, tmp_path, POSTGRES_DSN if postgres else None, lambda _: None)
    assert results["ingest"]["events"] == SMOKE.ingest_events and results["ingest"]["ratio"] > 0
    split = results["ingest"][
        "split_us_per_event"
    ]  # where the consumer's time went, stage by stage
    assert split["preparing"] > 0 and split["writing"] > 0 and split["raw_client"] > 0
    assert split["writing"] <= split["total"]  # preparing overlaps writing where lanes run
    checked = results["ingest"][
        "signatures_checked"
    ]  # the same signed stream, every signature checked
    assert checked["ratio"] > 0 and checked["split_us_per_event"]["preparing"] > 0
    # and beside the raw client given the same fetch fix as the consumer (shared/compat.py)
    assert checked["ratio_to_raw_quick_next_msg"] == pytest.approx(
        checked["reporting_per_s"] / results["ingest"]["raw_quick_next_msg_per_s"]
    )
    cpu = checked["cpu_us_per_event"]  # the consumer's CPU time, and its lanes'
    assert cpu["consumer"] > 0
    assert results["publish"]["relay_per_s"] > 0 and results["publish"]["raw_per_s"] > 0
    assert results["write_to_report"]["writes"] == int(SMOKE.write_rate * SMOKE.write_seconds)
    assert results["write_to_report"]["p99_ms"] >= results["write_to_report"]["p50_ms"] > 0
    rebuild = results["rebuild"][str(SMOKE.rebuild_sizes[0])]
    assert rebuild["events"] == SMOKE.rebuild_sizes[0] and rebuild["sqlite_peak_rss_mb"] > 0
    assert rebuild["raw_read_per_s"] > 0  # the ceiling, read from the same stream in this run
    assert rebuild["sqlite_ratio"] == rebuild["sqlite_per_s"] / rebuild["raw_read_per_s"]
    assert (rebuild["sqlite_workers_peak_rss_mb"] > 0) == (
        default_workers() > 0
    )  # the preparing workers' memory
    assert (
        rebuild["sqlite_checked_seconds"] > 0 and rebuild["sqlite_checked_refused"] == 0
    )  # every signature verified
    # the live consumer applied the same stream at that size, and its memory there is reported
    assert rebuild["ingest_events"] == SMOKE.rebuild_sizes[0] and rebuild["ingest_peak_rss_mb"] > 0
    assert rebuild["queries"]["/report"]["status"] == 200
    assert (
        rebuild["queries"]["/dashboard/?period=2024-25"]["status"] == 200
    )  # pages are timed beside the routes
    assert rebuild["queries"]["/report"]["first_ms"] > 0  # the computing request, reported apart
    # every route computed again after a burst of the mix's next events
    assert rebuild["queries_burst"] == SMOKE.burst
    assert all(q["after_burst_status"] == q["status"] for q in rebuild["queries"].values())
    assert all(q["after_burst_ms"] > 0 for q in rebuild["queries"].values())
    if postgres:  # the rebuild is also replayed on PostgreSQL, in a database dropped afterwards
        assert rebuild["postgres_per_s"] > 0 and await _bench_databases() == before
    assert rebuild["dashboard"]["warm_seconds"] > 0
    assert (
        rebuild["dashboard"]["pages"]["/dashboard/?period=2024-25"]["status"] == 200
    )  # after the warm-up
    assert len(render_tables(results)) == 6


def test_the_bench_events_are_signed_by_their_nodes_as_deployed() -> None:
    """The checked measurements apply every event only if each verifies against its node's key."""
    from harness.bench_events import bench_signers, event_mix, public_keys
    from shared.envelope import parse_event
    from shared.signing import NodeKeys

    nodes = ["coventry", "solihull"]
    generated = list(event_mix("bench", nodes, 50, seed=3, signers=bench_signers(nodes, 3)))
    events = [(parse_event(e.body).envelope, e.body, e.headers) for e in generated]
    assert {e.node for e, _, _ in events} == set(nodes)
    mine = NodeKeys(public_keys(bench_signers(nodes, 3)))
    assert [mine.problem(*e) for e in events] == [None] * 50
    assert all(
        e.signature is None for e, _, _ in events
    )  # signed in headers, once per batch, not in the body
    others = NodeKeys(public_keys(bench_signers(nodes, 4)))  # another seed's keys: none verifies
    assert all("does not verify" in (others.problem(*e) or "") for e in events)


@pytest.mark.slow
def test_one_figure_can_be_measured_again_on_its_own_at_a_chosen_size(tmp_path: Path) -> None:
    """`hub bench --only publish --size N`: that measurement alone, its tables, and where it ran."""
    from typer.testing import CliRunner

    from hub.cli import app

    out = tmp_path / "bench.json"
    done = CliRunner().invoke(
        app,
        [
            "bench",
            "--only",
            "publish",
            "--size",
            "300",
            "--out",
            str(out),
            "--work-dir",
            str(tmp_path / "work"),
        ],
    )
    assert done.exit_code == 0, done.output
    results = json.loads(out.read_text())
    assert results["stages"] == ["publish"] and results["publish"]["events"] == 300
    assert not {"ingest", "write_to_report", "rebuild"} & set(results)
    assert results["machine"]["commit"] and results["machine"]["cpu"]
    assert "publish (outbox relay)" in done.output and "ingest (reporting" not in done.output
    refused = CliRunner().invoke(app, ["bench", "--only", "everything"])
    assert refused.exit_code != 0 and "--only takes ingest, publish" in refused.output
