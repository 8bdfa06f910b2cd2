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
from collections.abc import Awaitable, Callable
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
from hub.commands import DataDirOption, NodeOption, T, node_option, offline_service
from shared.errors import Refused
from shared.tabular import RowProblem, TabularError, count_rows, validate_rows

if TYPE_CHECKING:  # the CLI imports services only inside the commands that use them
    from services.activities.models import ActivityRow
    from services.activities.services import ImportOutcome, RegisterRow, ReturnLine
    from services.activities.web_returns import Link
    from shared.node_service import NodeService

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
    path: Path,
    progress: Progress | None = None,
    node: str | None = None,
    registered: set[str] | None = None,
) -> tuple[list[RegisterRow], list[RowProblem]]:
    """Validated register rows and every problem (per cell, across rows and, for `node`, an area
    that is not one of the hub's; with `registered`, a delivered_by not in the node's partners
    register), or TabularError."""
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
    if registered is not None:
        problems += [
            RowProblem(
                n, "delivered_by", f"{row.delivered_by} is not in {node}'s partners register"
            )
            for n, row in result.rows
            if str(row.delivered_by) not in registered
        ]
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
    registered = asyncio.run(_registered(node, data_dir))
    with _progress() as progress:
        try:
            rows, problems = read_register(path, progress, node, registered)
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
        import_partner_return,
        import_register,
    )

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    total = ImportOutcome()
    async with offline_service("activities", node, data_dir) as service:
        keys = pseudonymiser_for(service.settings)
        with _progress() as progress:
            task = progress.add_task("importing", total=len(rows))
            if partner and year:
                total, _ = await import_partner_return(
                    rows,
                    partner,
                    year,
                    date.fromisoformat(submitted_on) if submitted_on else date.today(),
                    digest,
                    service.unit_of_work,
                    keys,
                    batch_size,
                    lambda n: progress.advance(task, n),
                )
                return total
            for batch in batches_by_activity(rows, lambda r: r.activity_ref, batch_size):
                cmd = ImportRegister.model_construct(rows=batch)
                total.add(await import_register(cmd, service.unit_of_work(), keys))
                progress.advance(task, len(batch))
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


# --- partner returns on the web (docs/partner-returns.md) ----------------------------------------

PartnerOption = Annotated[
    UUID | None, typer.Option(help="organisation_id of the partner (or use --school).")
]
SchoolOption = Annotated[
    str | None, typer.Option(help="A school's DfE URN, found in the node's settings register.")
]
YearOption = Annotated[str, typer.Option(help="Academic year, e.g. 2024-25")]


async def _registered(node: str, data_dir: Path | None) -> set[str] | None:
    """The organisation ids of the node's partners register where this machine holds it (its
    SQLite file, or a database URL), so a register naming another is refused; else None (said)."""
    from sqlalchemy import select

    from services.partners.models import OrganisationRow
    from shared.settings import HubSettings

    settings = HubSettings(data_dir=data_dir) if data_dir else HubSettings()
    url = settings.node_database_url(node, "partners")
    if url.startswith("sqlite") and not Path(url.split("///", 1)[1]).is_file():
        render.console.print(f"[yellow]no partners register of {node} here: delivered_by unchecked")
        return None
    async with offline_service("partners", node, data_dir) as service, service.sessions() as s:
        return set(await s.scalars(select(OrganisationRow.organisation_id)))


async def partner_named(
    node: str, data_dir: Path | None, partner: UUID | None, school: str | None
) -> tuple[UUID, str]:
    """The organisation invited, and its name, from the node's partners register."""
    from sqlalchemy import select

    from services.partners.models import OrganisationRow, SettingRow

    if (partner is None) == (school is None):
        raise typer.BadParameter("give --partner or --school")
    async with offline_service("partners", node, data_dir) as service, service.sessions() as s:
        if school is not None:
            setting = await s.get(SettingRow, school)
            if setting is None:
                raise typer.BadParameter(f"no school with URN {school} in {node}'s settings")
            partner = UUID(setting.organisation_id)
        found = await s.scalar(
            select(OrganisationRow.name).where(OrganisationRow.organisation_id == str(partner))
        )
    if found is None:
        raise typer.BadParameter(f"no organisation {partner} in {node}'s partners register")
    return UUID(str(partner)), found


async def _web_return_id(node: str, data_dir: Path | None, partner: UUID, year: str) -> str:
    from sqlalchemy import select

    from services.activities.models import WebReturnRow

    async with offline_service("activities", node, data_dir) as service, service.sessions() as s:
        found = await s.scalar(
            select(WebReturnRow.web_return_id).where(
                WebReturnRow.partner_id == str(partner), WebReturnRow.academic_year == year
            )
        )
    if found is None:
        raise typer.BadParameter(f"{partner} was not invited to its {year} return at {node}")
    return str(found)


def _show_link(
    node: str, link: Link, partner: str, year: str, due_on: str, data_dir: Path | None = None
) -> None:
    """Print a new link (shown once) and send it where SMTP is configured. It points at
    HUB_ACTIVITIES_PUBLIC_URL, else where the running demo or `hub node up` recorded the service
    in the data folder (hub/locate.py), else the service's configured port."""
    from hub.locate import service_url
    from services.activities.mail import send_invitation
    from services.activities.settings import ActivitiesSettings
    from shared.settings import HubSettings

    settings = ActivitiesSettings()
    hub = HubSettings(data_dir=data_dir) if data_dir else HubSettings()
    base = (
        settings.public_url
        or service_url(hub.data_dir, node, "activities")
        or f"http://127.0.0.1:{hub.service_port('activities', node)}"
    )
    url = link.url(base)
    sent = send_invitation(settings, link.email, partner, year, due_on, url)
    render.console.print(f"{partner}: {url}", soft_wrap=True, highlight=False)
    render.console.print(
        f"works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC"
        + (f"; e-mailed to {link.email}" if sent else "; not e-mailed: pass it on")
    )


def _in_activities(
    node: str,
    data_dir: Path | None,
    work: Callable[[NodeService], Awaitable[T]],
    refusals: tuple[type[Exception], ...] = (Refused,),
) -> T:
    """`work` in the node's activities service, where a refusal is one red line and exit 1 (the
    way every partner-return command ends when the service says no)."""

    async def run() -> T:
        async with offline_service("activities", node, data_dir) as service:
            return await work(service)

    try:
        return asyncio.run(run())
    except refusals as exc:
        render.console.print(f"[red]{exc}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None


def _on_web_return(
    node: str,
    year: str,
    partner: UUID | None,
    school: str | None,
    data_dir: Path | None,
    work: Callable[[NodeService, str], Awaitable[T]],
) -> tuple[str, T]:
    """The partner's name and `work` done on its web return for `year` (found by --partner or
    --school), so each command on one return says only what it does to it."""
    partner_id, name = asyncio.run(partner_named(node, data_dir, partner, school))
    web_return_id = asyncio.run(_web_return_id(node, data_dir, partner_id, year))
    return name, _in_activities(node, data_dir, lambda service: work(service, web_return_id))


@app.command("invite")
def invite(
    node: NodeOption,
    year: YearOption,
    due_on: Annotated[str, typer.Option(help="Date the return is due, e.g. 2025-07-31")],
    partner: PartnerOption = None,
    school: SchoolOption = None,
    email: Annotated[str | None, typer.Option(help="Where to send the link (SMTP)")] = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days the link works")] = 14,
    data_dir: DataDirOption = None,
) -> None:
    """Invite a partner (or a school by URN) to fill in its return for a year on the web."""
    from services.activities import web_returns as wr

    partner_id, name = asyncio.run(partner_named(node, data_dir, partner, school))

    async def work(service: NodeService) -> wr.Link:
        cmd = wr.Invite(
            partner_id=partner_id,
            partner_name=name,
            academic_year=year,
            due_on=date.fromisoformat(due_on),
            email=email,
            valid_days=days,
        )
        return await wr.invite(cmd, service.unit_of_work())

    link = _in_activities(node, data_dir, work, (Refused, ValueError))
    _show_link(node, link, name, year, due_on, data_dir)


@app.command("resend")
def resend(
    node: NodeOption,
    year: YearOption,
    partner: PartnerOption = None,
    school: SchoolOption = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days the link works")] = 14,
    data_dir: DataDirOption = None,
) -> None:
    """A new link for a partner's return (the unused one stops working)."""
    from services.activities import web_returns as wr

    async def work(service: NodeService, web_return_id: str) -> tuple[wr.Link, str]:
        link = await wr.resend(web_return_id, service.unit_of_work(), days)
        row = await wr.get_web_return(web_return_id, service.unit_of_work())
        return link, row.due_on.isoformat()

    name, (link, due) = _on_web_return(node, year, partner, school, data_dir, work)
    _show_link(node, link, name, year, due, data_dir)


@app.command("revoke")
def revoke(
    node: NodeOption,
    year: YearOption,
    partner: PartnerOption = None,
    school: SchoolOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Stop a partner's unused links and sign it out of its return."""
    from services.activities import web_returns as wr

    name, revoked = _on_web_return(
        node, year, partner, school, data_dir, lambda s, r: wr.revoke(r, s.unit_of_work())
    )
    render.console.print(f"{name}: {revoked} link(s) revoked, signed out")


@app.command("web-returns")
def web_returns(
    node: NodeOption,
    year: Annotated[str | None, typer.Option(help="Academic year, e.g. 2024-25")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Returns partners fill in on the web: invited, draft, submitted, accepted, returned; late."""
    from services.activities import web_returns as wr

    async def run() -> list[wr.WebReturnLine]:
        async with offline_service("activities", node, data_dir) as service:
            return await wr.list_web_returns(year, date.today(), service.unit_of_work())

    table = Table(title=f"{node}: partner returns on the web")
    for column in ("partner", "partner id", "year", "due", "status", "activities", "pupils"):
        table.add_column(column)
    for line in asyncio.run(run()):
        status = line.status + (" (late)" if line.late else "")
        table.add_row(
            line.partner_name,
            line.partner_id,
            line.academic_year,
            f"{line.due_on}",
            status,
            str(line.activities),
            str(line.pupils),
        )
    render.console.print(table)


@app.command("remind")
def remind(
    node: NodeOption,
    year: Annotated[str | None, typer.Option(help="Academic year, e.g. 2024-25")] = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days the new links work")] = 14,
    data_dir: DataDirOption = None,
) -> None:
    """A new link for every late partner (not yet submitted), printed and sent where SMTP is set."""
    from services.activities import web_returns as wr

    async def run() -> list[tuple[wr.WebReturnLine, wr.Link]]:
        async with offline_service("activities", node, data_dir) as service:
            return await wr.remind(year, date.today(), service.unit_of_work, days)

    reminded = asyncio.run(run())
    for line, link in reminded:
        _show_link(
            node, link, line.partner_name, line.academic_year, line.due_on.isoformat(), data_dir
        )
    render.console.print(f"{len(reminded)} late partner(s) reminded")


@app.command("accept")
def accept(
    node: NodeOption,
    year: YearOption,
    partner: PartnerOption = None,
    school: SchoolOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Accept a submitted return: imported as `import --partner --year` imports a file."""
    from services.activities import web_returns as wr
    from services.activities.app import pseudonymiser_for

    async def work(service: NodeService, web_return_id: str) -> ImportOutcome:
        keys = pseudonymiser_for(service.settings)
        return await wr.accept(web_return_id, node, service.unit_of_work, keys)

    name, outcome = _on_web_return(node, year, partner, school, data_dir, work)
    render.console.print(
        f"{name}'s {year} return accepted: {outcome.activities_added} activities, "
        f"{outcome.participations_added} participations, {outcome.events} events"
    )


@app.command("send-back")
def send_back(
    node: NodeOption,
    year: YearOption,
    comments: Annotated[str, typer.Option(help="What the partner should change")],
    partner: PartnerOption = None,
    school: SchoolOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Return a submitted return to its partner with comments."""
    from services.activities import web_returns as wr

    name, _ = _on_web_return(
        node,
        year,
        partner,
        school,
        data_dir,
        lambda s, r: wr.send_back(r, comments, s.unit_of_work()),
    )
    render.console.print(f"{name}'s {year} return sent back")
