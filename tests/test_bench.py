"""The benchmark harness runs end to end (a tiny plan): it cannot rot unnoticed. It asserts that
every measurement ran and produced figures, never how fast anything was."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.bench import SMOKE, render_tables, run_bench


@pytest.mark.slow
async def test_every_benchmark_runs_and_reports_figures(tmp_path: Path) -> None:
    results = await run_bench(SMOKE, tmp_path, None, lambda _: None)
    assert results["ingest"]["events"] == SMOKE.ingest_events and results["ingest"]["ratio"] > 0
    assert results["publish"]["relay_per_s"] > 0 and results["publish"]["raw_per_s"] > 0
    assert results["write_to_report"]["writes"] == int(SMOKE.write_rate * SMOKE.write_seconds)
    assert results["write_to_report"]["p99_ms"] >= results["write_to_report"]["p50_ms"] > 0
    rebuild = results["rebuild"][str(SMOKE.rebuild_sizes[0])]
    assert rebuild["events"] == SMOKE.rebuild_sizes[0] and rebuild["sqlite_peak_rss_mb"] > 0
    assert rebuild["queries"]["/report"]["status"] == 200
    assert rebuild["queries"]["/dashboard/?period=2024-25"]["status"] == 200  # pages are timed beside the routes
    assert len(render_tables(results)) == 4
