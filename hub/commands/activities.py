"""``hub activities``: what the node delivered, from the shell, and register imports.

``hub activities import`` validates the whole file first (every bad row reported as row, column
and reason; nothing imported from a bad file), then imports it in transactions of about
``--batch-size`` rows through the service's unit of work and outbox. Activities are keyed by the
register's ``activity_ref`` and pupils by (activity, pseudonym), so importing a file again adds
nothing. See docs/activities-import.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, node_option, offline_service
from shared.tabular import RowProblem, TabularError, count_rows, validate_rows

if TYPE_CHECKING:  # the services load when a command runs, not when the CLI starts
    from services.activities.models import ActivityRow
    from services.activities.services import ImportOutcome, RegisterRow, ReturnLine

app = typer.Typer(help="Activities delivered by the node and its partners.", no_args_is_help=True)
TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "activities-register-template.csv"
REQUIRED = {"activity_ref", "kind", "title", "delivered_by", "area", "starts_on", "ends_on"}


@app.command("list")
def list_(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the activities recorded at a node."""
    from services.activities.services import list_activities

    async def run() -> list[ActivityRow]:
        async with offline_service("activities", node, data_dir) as service:
            return await list_activities(service.unit_of_work())

    table = Table(title=f"{node}: activities")
    for column in ("starts", "kind", "title", "headcount", "hours"):
        table.add_column(column)
    for row in asyncio.run(run()):
        table.add_row(f"{row.starts_on}", row.kind, row.title, str(row.headcount), str(row.hours))
    render.console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=render.console,
    )


def read_register(
    path: Path, progress: Progress | None = None, node: str | None = None
) -> tuple[list[RegisterRow], list[RowProblem]]:
    """Validated register rows and every problem (per cell, across rows and, for `node`, an area
    that is not one of the hub's), or TabularError."""
    from services.activities.domain import register_problems
    from services.activities.services import RegisterRow
    from shared.settings import HubSettings

    advance = None
    if progress is not None:
        task = progress.add_task("checking", total=count_rows(path))
        advance = partial(progress.advance, task)
    result = validate_rows(path, RegisterRow, required=REQUIRED, progress=advance)
    problems = result.problems + register_problems(
        result.rows, node, HubSettings().nodes if node else None
    )
    return [row for _, row in result.rows], sorted(problems, key=lambda p: (p.row, p.column))


def _print_problems(problems: list[RowProblem]) -> None:
    render.console.print(
        render.problems_table(problems, f"{len(problems)} problem(s): nothing imported")
    )


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Register, .csv or .xlsx")
    ],
    node: NodeOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row; import nothing.")
    ] = False,
    partner: Annotated[
        UUID | None, typer.Option(help="organisation_id of the partner whose return this is.")
    ] = None,
    year: Annotated[
        str | None, typer.Option(help="Academic year of the partner return, e.g. 2024-25.")
    ] = None,
    submitted_on: Annotated[
        str | None, typer.Option(help="Date the return arrived (default today).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction.")] = 1000,
    data_dir: DataDirOption = None,
) -> None:
    """Import a register of activities and pupils (a partner's return with --partner and --year)."""
    if (partner is None) != (year is None):
        raise typer.BadParameter("give --partner and --year together")
    started = time.monotonic()
    with _progress() as progress:
        try:
            rows, problems = read_register(path, progress, node)
        except TabularError as exc:
            _print_problems(exc.problems)
            raise typer.Exit(1) from None
    if problems:
        _print_problems(problems)
        raise typer.Exit(1)
    if dry_run:
        render.console.print(f"[green]{len(rows)} rows OK[/green] (dry run: nothing imported)")
        return
    outcome = asyncio.run(
        _import(path, rows, node, data_dir, partner, year, submitted_on, batch_size)
    )
    elapsed = time.monotonic() - started
    render.console.print(
        f"[bold]{len(rows)} rows[/bold] in {elapsed:.1f} s: {outcome.activities_added} activities "
        f"added ({outcome.activities_existing} already there), {outcome.participations_added} "
        f"participations added ({outcome.participations_existing} already there), "
        f"{outcome.events} events"
    )


async def _import(
    path: Path,
    rows: list[RegisterRow],
    node: str,
    data_dir: Path | None,
    partner: UUID | None,
    year: str | None,
    submitted_on: str | None,
    batch_size: int,
) -> ImportOutcome:
    from services.activities.app import pseudonymiser_for
    from services.activities.domain import batches_by_activity
    from services.activities.services import (
        ImportOutcome,
        ImportRegister,
        SubmitReturn,
        import_register,
        return_id_for,
        submit_return,
    )

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return_id = return_id_for(partner, year, digest) if partner and year else None
    total = ImportOutcome()
    async with offline_service("activities", node, data_dir) as service:
        keys = pseudonymiser_for(service.settings)
        with _progress() as progress:
            task = progress.add_task("importing", total=len(rows))
            for batch in batches_by_activity(rows, lambda r: r.activity_ref, batch_size):
                cmd = ImportRegister.model_construct(rows=batch, partner_return_id=return_id)
                total.add(await import_register(cmd, service.unit_of_work(), keys))
                progress.advance(task, len(batch))
        if partner and year:
            submitted = SubmitReturn(
                partner_id=partner,
                academic_year=year,
                submitted_on=date.fromisoformat(submitted_on) if submitted_on else date.today(),
                file_digest=digest,
                activities=len({r.activity_ref for r in rows}),
                participations=sum(1 for r in rows if r.upn),
            )
            _, new = await submit_return(submitted, service.unit_of_work())
            total.events += int(new)
    return total


@app.command("template")
def template(
    out: Annotated[Path, typer.Argument(help="Where to write the template (.csv or .xlsx)")],
) -> None:
    """Write the register template (header and example rows); see docs/activities-import.md."""
    if out.suffix.lower() == ".xlsx":
        import csv

        from shared import cells

        book = cells.new_workbook()
        sheet = cells.add_sheet(book, "register")
        with TEMPLATE.open(newline="") as f:
            for row in csv.reader(f):
                cells.append(sheet, row)
        cells.save_xlsx(book, out)
    else:
        shutil.copyfile(TEMPLATE, out)
    render.console.print(f"template written to {out}")


@app.command("sample-register")
def sample_register(
    out: Annotated[Path, typer.Argument(help="CSV file to write")],
    rows: Annotated[int, typer.Option(min=1, help="Pupil rows")] = 100_000,
    node: Annotated[str, node_option("Area of the pupils and activities")] = "coventry",
    seed: int = 7,
) -> None:
    """Write a synthetic pupil register (valid UPNs) for trying and timing imports."""
    from harness.sample.activities import write_register

    written = write_register(out, rows, node=node, seed=seed)
    render.console.print(f"{written} rows written to {out}")


@app.command("returns")
def returns(
    node: NodeOption,
    year: Annotated[str, typer.Option(help="Academic year, e.g. 2024-25")],
    data_dir: DataDirOption = None,
) -> None:
    """Partner returns expected or received for a year: received, late, missing or due."""
    from services.activities.services import return_statuses

    async def run() -> list[ReturnLine]:
        async with offline_service("activities", node, data_dir) as service:
            return await return_statuses(year, date.today(), service.unit_of_work())

    table = Table(title=f"{node}: partner returns {year}")
    for column in ("partner", "due", "submitted", "status", "activities", "participations"):
        table.add_column(column)
    for line in asyncio.run(run()):
        table.add_row(
            str(line.partner_id),
            f"{line.due_on or ''}",
            f"{line.submitted_on or ''}",
            line.status,
            str(line.activities),
            str(line.participations),
        )
    render.console.print(table)
