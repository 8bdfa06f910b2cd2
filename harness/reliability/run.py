"""``hub reliability``: run the phases and print their figures;
the result says whether it passed."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.reliability.cluster import running_cluster
from harness.reliability.crash import CrashResult, run_crash
from harness.reliability.hostile import HostileResult, run_hostile
from harness.reliability.soak import SoakResult, run_soak


@dataclass
class ReliabilityReport:
    crashes: list[CrashResult] = field(default_factory=list)
    soak: SoakResult | None = None
    hostile: HostileResult | None = None
    seconds: float = 0.0

    @property
    def lost(self) -> int:
        return sum(r.reconciliation.lost for r in self.crashes if r.reconciliation) + (
            self.soak.reconciliation.lost if self.soak else 0
        )

    @property
    def duplicated(self) -> int:
        return sum(r.reconciliation.duplicated for r in self.crashes if r.reconciliation) + (
            self.soak.reconciliation.duplicated if self.soak else 0
        )

    @property
    def passed(self) -> bool:
        crashes_ok = all(
            r.reconciliation and r.reconciliation.exact and r.converge_seconds is not None
            for r in self.crashes
        )
        soak_ok = self.soak is None or (
            self.soak.reconciliation.exact and self.soak.drain_seconds is not None
        )
        hostile_ok = self.hostile is None or (
            not self.hostile.failures and self.hostile.totals_unchanged
        )
        return bool(self.crashes) and crashes_ok and soak_ok and hostile_ok


async def run_reliability(
    seed: int = 1,
    runs: int = 1,
    duration: float = 60.0,
    soak: float = 30.0,
    mutations: int = 200,
    short: bool = False,
    folder: Path | None = None,
    console: Console | None = None,
) -> ReliabilityReport:
    """Crash runs (each on a fresh cluster, seed, seed+1, ...), a soak on the last,
    hostile input."""
    console = console or Console()
    report = ReliabilityReport()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hub-reliability-") as tmp:
        base = folder or Path(tmp)
        for run in range(runs):
            async with running_cluster(base / f"run-{run}") as cluster:
                result = await run_crash(
                    cluster,
                    seed + run,
                    duration,
                    converge_timeout=60 if short else 180,
                    short=short,
                )
                report.crashes.append(result)
                print_crash(console, run, result)
                if run == runs - 1 and soak > 0:
                    report.soak = await run_soak(cluster, seed, soak)
                    print_soak(console, report.soak)
        report.hostile = await run_hostile(seed, mutations)
        print_hostile(console, report.hostile)
    report.seconds = time.monotonic() - started
    print_summary(console, report)
    return report


def print_crash(console: Console, run: int, r: CrashResult) -> None:
    rec = r.reconciliation
    assert rec is not None
    faults = ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items()))
    converge = (
        f"{r.converge_seconds:.1f}s" if r.converge_seconds is not None else "DID NOT CONVERGE"
    )
    console.print(f"[bold]crash run {run + 1}[/bold] seed {r.seed}, {r.duration:.0f}s of load")
    console.print(f"  faults injected: {sum(r.faults.values())} ({faults})")
    console.print(
        f"  requests: {sum(r.workload.requests.values())} ok, {r.workload.retries} retried, "
        f"{r.workload.refused_on_retry} refused on retry"
    )
    console.print(
        f"  events at nodes: {rec.events}  lost: {rec.lost}  duplicated: {rec.duplicated}  "
        f"time to converge: {converge}"
    )
    console.print(
        f"  funding: allocated {rec.allocated_pence}p, received {rec.received_pence}p; "
        f"figures differing from the node databases: {len(rec.mismatched)}"
    )
    for name, (truth, hub) in rec.mismatched.items():
        console.print(f"    {name}: nodes {truth}, hub {hub}")
    for line in r.fault_log:
        console.print(f"    {line}", style="dim")


def print_soak(console: Console, s: SoakResult) -> None:
    drained = f"{s.drain_seconds:.1f}s" if s.drain_seconds is not None else "DID NOT DRAIN"
    console.print(
        f"[bold]soak[/bold] {s.seconds:.0f}s: {s.events} events, {s.events_per_second:.1f} events/s"
    )
    console.print(
        f"  RSS of all services: start {s.rss_start_kib // 1024} MiB, "
        f"end {s.rss_end_kib // 1024} MiB"
    )
    console.print(
        f"  backlog when load stopped: {s.backlog_at_stop} events, drained in {drained}; "
        f"lost {s.reconciliation.lost}, duplicated {s.reconciliation.duplicated}"
    )


def print_hostile(console: Console, h: HostileResult) -> None:
    console.print(
        f"[bold]hostile input[/bold]: {h.cases} cases tried, {len(h.failures)} crashed, "
        f"totals unchanged: {'yes' if h.totals_unchanged else 'NO'}"
    )
    for outcome, count in sorted(h.outcomes.items()):
        console.print(f"  {count:5d}  {outcome}")
    for failure in h.failures:
        console.print(f"  [red]{failure}[/red]")


def print_summary(console: Console, r: ReliabilityReport) -> None:
    events = sum(c.reconciliation.events for c in r.crashes if c.reconciliation)
    faults = sum(sum(c.faults.values()) for c in r.crashes)
    verdict = "[green]PASSED[/green]" if r.passed else "[red]FAILED[/red]"
    console.print(
        f"[bold]reliability[/bold] {verdict}: runs {len(r.crashes)}, faults {faults}, events "
        f"{events}, lost {r.lost}, duplicated {r.duplicated}, in {r.seconds:.0f}s"
    )
