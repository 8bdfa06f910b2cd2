"""``hub partners``: the node's register from the shell, and the hub's view of who it works with."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub import render
from hub.commands import DataDirOption, NodeOption, offline_service
from shared.contracts.partners import PartnerState
from shared.contracts.vocabulary import OrganisationRole, StrategicFunction
from shared.errors import Refused

if TYPE_CHECKING:  # a service (SQLAlchemy, FastStream) loads when a command opens it
    from shared.node_service import NodeService

app = typer.Typer(help="The node's register of organisations.", no_args_is_help=True)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ListOption = Annotated[list[str] | None, typer.Option(help="Repeat for several.")]


def _run(node: str, data_dir: Path | None, work: Callable[[NodeService], Awaitable[T]]) -> T:
    """Run one use case on the node's database; a refusal is printed with its reasons,
    exit code 1."""

    async def run() -> T:
        async with offline_service("partners", node, data_dir) as service:
            return await work(service)

    try:
        return asyncio.run(run())
    except Refused as exc:
        render.console.print(f"[red]refused:[/red] {exc.reason}")
        for name, why in exc.fields.items():
            render.console.print(f"  {name}: {why}")
        raise typer.Exit(1) from None


@app.command("list")
def list_(
    node: NodeOption,
    data_dir: DataDirOption = None,
    search: Annotated[
        str | None, typer.Option(help="Part of the name, or an exact org-id.")
    ] = None,
    role: Annotated[OrganisationRole | None, typer.Option(help="e.g. delivery_partner")] = None,
    function: Annotated[StrategicFunction | None, typer.Option(help="e.g. inclusion")] = None,
    state: Annotated[PartnerState | None, typer.Option(help="e.g. active")] = None,
    ids: Annotated[
        bool, typer.Option(help="Show each organisation's id (for change-state and agreements).")
    ] = False,
) -> None:
    """List (or search) the organisations in a node's register."""
    from services.partners.services import list_organisations

    rows = _run(
        node,
        data_dir,
        lambda s: list_organisations(
            s.unit_of_work(), text=search, role=role, function=function, state=state
        ),
    )
    table = Table(title=f"{node}: organisations ({len(rows)})")
    for column in ("name", "org id", "roles", "functions", "state"):
        table.add_column(column)
    if ids:
        table.add_column("id", no_wrap=True)
    for row in rows:
        cells = [
            row.name,
            row.org_id or "",
            ", ".join(row.roles),
            ", ".join(row.functions),
            row.state,
        ]
        table.add_row(*cells, *([row.organisation_id] if ids else []))
    render.console.print(table)


@app.command()
def register(
    node: NodeOption,
    name: Annotated[str, typer.Option(help="The organisation's name.")],
    role: Annotated[
        list[str], typer.Option(help="Role(s), e.g. delivery_partner; repeat for several.")
    ],
    data_dir: DataDirOption = None,
    area: ListOption = None,
    function: ListOption = None,
    aim: ListOption = None,
    org_id: Annotated[str | None, typer.Option(help="org-id, e.g. GB-CHC-1036733")] = None,
    charity_number: str | None = None,
    company_number: str | None = None,
    offer: Annotated[str | None, typer.Option(help="What the organisation offers the hub.")] = None,
) -> None:
    """Register an organisation (an expression of interest)."""
    from services.partners.services import RegisterOrganisation, register_organisation

    cmd = _command(
        RegisterOrganisation,
        name=name,
        roles=role,
        areas=area or [node],
        functions=function or [],
        aims=aim or [],
        org_id=org_id,
        offer=offer,
        identifiers={"charity_number": charity_number, "company_number": company_number},
    )
    org = _run(node, data_dir, lambda s: register_organisation(cmd, s.unit_of_work()))
    render.console.print(
        f"registered {org.name} ({org.org_id or 'no org-id'}) as {org.organisation_id}, state "
        f"{org.state}"
    )


@app.command("change-state")
def change_state_(
    node: NodeOption,
    organisation_id: UUID,
    to_state: Annotated[
        str, typer.Argument(help="under_review, approved, active, suspended or ended")
    ],
    decided_by: Annotated[str, typer.Option(help="Who decided.")],
    reason: str | None = None,
    data_dir: DataDirOption = None,
) -> None:
    """Move an organisation along the lifecycle (refused with the reason if not allowed)."""
    from services.partners.services import ChangeState, change_state

    cmd = _command(ChangeState, to_state=to_state, decided_by=decided_by, reason=reason)
    change = _run(node, data_dir, lambda s: change_state(organisation_id, cmd, s.unit_of_work()))
    render.console.print(f"{change.from_state} → {change.to_state}, decided by {change.decided_by}")


@app.command("sign-agreement")
def sign_agreement_(
    node: NodeOption,
    organisation_id: UUID,
    kind: Annotated[str, typer.Option(help="sla or commission")],
    title: Annotated[str, typer.Option()],
    starts_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    ends_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    function: ListOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Record a signed SLA or commission."""
    from services.partners.services import SignAgreement, sign_agreement

    cmd = _command(
        SignAgreement,
        kind=kind,
        title=title,
        starts_on=starts_on,
        ends_on=ends_on,
        functions=function,
    )
    agreement = _run(
        node, data_dir, lambda s: sign_agreement(organisation_id, cmd, s.unit_of_work())
    )
    render.console.print(
        f"agreement {agreement.agreement_id} {agreement.starts_on} to {agreement.ends_on}"
    )


@app.command("end-agreement")
def end_agreement_(
    node: NodeOption,
    agreement_id: UUID,
    ended_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    reason: str | None = None,
    data_dir: DataDirOption = None,
) -> None:
    """End an agreement."""
    from services.partners.services import EndAgreement, end_agreement

    cmd = _command(EndAgreement, ended_on=ended_on, reason=reason)
    agreement = _run(node, data_dir, lambda s: end_agreement(agreement_id, cmd, s.unit_of_work()))
    render.console.print(f"agreement {agreement.agreement_id} ended on {agreement.ended_on}")


@app.command()
def expiring(
    node: NodeOption,
    days: Annotated[int, typer.Option(help="Look this many days ahead.")] = 90,
    data_dir: DataDirOption = None,
) -> None:
    """Agreements in force that end within the next N days."""
    from services.partners.services import expiring_agreements

    rows = _run(node, data_dir, lambda s: expiring_agreements(s.unit_of_work(), days))
    table = Table(title=f"{node}: agreements ending within {days} days ({len(rows)})")
    for column in ("ends", "kind", "title", "organisation"):
        table.add_column(column)
    for row in rows:
        table.add_row(f"{row.ends_on}", row.kind, row.title, row.organisation_id)
    render.console.print(table)


@app.command("import-settings")
def import_settings_(
    node: NodeOption,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV/XLSX in the DfE register's shape."),
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Check the file and say what would change; store nothing.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Import schools and settings; any bad row and nothing is imported. Re-importing adds only
    new URNs."""
    from services.partners.services import import_settings
    from shared.tabular import TabularError, count_rows

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=render.console,
    ) as progress:
        task = progress.add_task(f"checking {file.name}", total=count_rows(file))
        try:
            outcome = _run(
                node,
                data_dir,
                lambda s: import_settings(
                    file,
                    s.unit_of_work(),
                    s.node,
                    dry_run=dry_run,
                    progress=lambda n: progress.advance(task, n),
                ),
            )
        except TabularError as exc:
            outcome = None
            problems = exc.problems
    if outcome is not None:
        problems = outcome.problems
    _refuse_problems(file, problems)
    assert outcome is not None
    verb = "would add" if dry_run else "added"
    render.console.print(
        f"{verb} {outcome.added} setting(s); {outcome.already_registered} already registered; "
        f"{outcome.closed_skipped} closed skipped; {outcome.other_area_skipped} in other areas "
        "skipped"
    )


def _refuse_problems(file: Path, problems: list[Any]) -> None:
    """Print every problem (row, column, reason) and exit 1: nothing was imported."""
    if not problems:
        return
    render.console.print(
        render.problems_table(
            problems, f"{file.name}: {len(problems)} problem(s); nothing imported"
        )
    )
    raise typer.Exit(1)


@app.command("import-population")
def import_population_(
    node: NodeOption,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV/XLSX in the DfE local authority table's shape."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Check the file and say what would change; store nothing.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Record the area's school population per year (docs/partners.md);
    any bad row and nothing is recorded."""
    from services.partners.services import import_school_population
    from shared.tabular import TabularError

    try:
        outcome = _run(
            node,
            data_dir,
            lambda s: import_school_population(file, s.unit_of_work(), s.node, dry_run=dry_run),
        )
    except TabularError as exc:
        _refuse_problems(file, exc.problems)
    _refuse_problems(file, outcome.problems)
    verb = "would record" if dry_run else "recorded"
    render.console.print(
        f"{verb} {outcome.recorded} year(s), {outcome.revised} revised; {outcome.unchanged} "
        f"unchanged; {outcome.other_area_skipped} rows of other areas skipped"
    )


@app.command()
def population(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """The area's school population by academic year, as recorded."""
    from services.partners.services import list_school_population

    rows = _run(node, data_dir, lambda s: list_school_population(s.unit_of_work()))
    table = Table(title=f"{node}: school population ({len(rows)} years)")
    for column in ("year", "LA", "pupils", "SEN support", "EHCP", "FSM", "source"):
        table.add_column(column)
    for row in rows:
        f = row.figures
        table.add_row(
            row.academic_year,
            row.la_code,
            *(
                str(f.get(n) if f.get(n) is not None else "unknown")
                for n in ("pupils", "sen_support", "ehcp", "fsm_eligible")
            ),
            row.source,
        )
    render.console.print(table)


@app.command()
def settings(node: NodeOption, data_dir: DataDirOption = None) -> None:
    """List the schools and settings in a node's register."""
    from services.partners.services import list_settings

    rows = _run(node, data_dir, lambda s: list_settings(s.unit_of_work()))
    table = Table(title=f"{node}: education settings ({len(rows)})")
    for column in ("URN", "name", "LA", "phase", "type", "state-funded"):
        table.add_column(column)
    for row, name in rows:
        table.add_row(
            row.urn,
            name,
            row.la_code,
            row.phase,
            row.setting_type,
            "yes" if row.state_funded else "no",
        )
    render.console.print(table)


@app.command()
def report(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The hub's view: distinct organisations by role, area, function and state (from reporting)."""
    from hub.commands.report import read_reporting
    from services.reporting.read.views.partners import organisations_report
    from shared.settings import HubSettings

    result = read_reporting(
        (HubSettings(data_dir=data_dir) if data_dir else HubSettings()), organisations_report
    )
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    render.console.print(
        f"[bold]{result.organisations}[/bold] distinct organisations "
        f"({result.registrations} registrations across nodes)"
    )
    for dimension in ("role", "area", "function", "state"):
        table = Table(title=f"organisations by {dimension}")
        table.add_column(dimension)
        table.add_column("organisations", justify="right")
        for key, count in getattr(result, f"by_{dimension}").items():
            table.add_row(key, str(count))
        render.console.print(table)
    settings_table = Table(title="education settings by area")
    for column in ("area", "settings", "state-funded"):
        settings_table.add_column(column)
    for s in result.settings:
        settings_table.add_row(s.area, str(s.settings), str(s.state_funded))
    render.console.print(settings_table)


def _command(model: type[M], **values: Any) -> M:
    """Validate CLI input as the HTTP API would; bad input exits with field-level reasons."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            render.console.print(f"[red]{'.'.join(str(p) for p in err['loc'])}[/red]: {err['msg']}")
        raise typer.Exit(2) from None
