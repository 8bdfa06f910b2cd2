"""Use cases of the partners service: plain async functions over a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import select

from services.partners.domain import (
    Identifiers,
    Organisation,
    check_agreement_dates,
    check_transition,
    in_force,
    is_state_funded,
    population_area,
    resolve_org_id,
    setting_area,
)
from services.partners.models import (
    AgreementRow,
    OrganisationRow,
    SchoolPopulationRow,
    SettingRow,
    StateChangeRow,
)
from shared.contracts.partners import (
    AgreementEnded,
    AgreementKind,
    AgreementSigned,
    OrganisationDetailsChanged,
    OrganisationRegistered,
    PartnerState,
    PartnerStateChanged,
    PopulationFigures,
    SchoolPopulationRecorded,
    SettingAdded,
    SettingPhase,
)
from shared.contracts.vocabulary import Aim, OrganisationRole, StrategicFunction
from shared.envelope import new_event_id, utcnow
from shared.errors import Invalid, NotFound, Refused
from shared.identity import Slug
from shared.outbox import UnitOfWork
from shared.periods import parse_period
from shared.tabular import RowProblem, validate_rows

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
"""A plausible e-mail address; deliverability is the sender's problem, not the register's."""


class IdentifiersIn(BaseModel):
    """Official numbers as printed on letters and registers; normalised to an org-id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    charity_number: str | None = Field(default=None, max_length=20)
    company_number: str | None = Field(default=None, max_length=20)
    school_urn: str | None = Field(default=None, max_length=20)
    la_code: str | None = Field(default=None, max_length=20, description="GB-LAE code, e.g. COV")


class RegisterOrganisation(BaseModel):
    """Add an organisation to this node's register: an expression of interest starts here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    roles: list[OrganisationRole] = Field(min_length=1)
    areas: list[Slug] = []
    functions: list[StrategicFunction] = []
    aims: list[Aim] = []
    org_id: str | None = Field(
        default=None, description="org-id.guide identifier, e.g. GB-CHC-1036733"
    )
    identifiers: IdentifiersIn = IdentifiersIn()
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: Email | None = None
    offer: str | None = Field(
        default=None, max_length=4000, description="What the organisation offers the hub."
    )


class ChangeDetails(BaseModel):
    """Change what the register says about an organisation; omitted fields stay as they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[OrganisationRole] | None = Field(default=None, min_length=1)
    areas: list[Slug] | None = None
    functions: list[StrategicFunction] | None = None
    org_id: str | None = None
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: Email | None = None


class ChangeState(BaseModel):
    """Move an organisation along the partner lifecycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to_state: PartnerState
    decided_by: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


class SignAgreement(BaseModel):
    """Record a signed SLA or commission; functions and areas default to the organisation's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AgreementKind
    title: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
    functions: list[StrategicFunction] | None = None
    areas: list[Slug] | None = None


class EndAgreement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ended_on: date
    reason: str | None = Field(default=None, max_length=2000)


_PHASES = {
    "nursery": SettingPhase.NURSERY,
    "primary": SettingPhase.PRIMARY,
    "middle deemed primary": SettingPhase.MIDDLE,
    "middle deemed secondary": SettingPhase.MIDDLE,
    "middle": SettingPhase.MIDDLE,
    "secondary": SettingPhase.SECONDARY,
    "all-through": SettingPhase.ALL_THROUGH,
    "all_through": SettingPhase.ALL_THROUGH,
    "16 plus": SettingPhase.SIXTEEN_PLUS,
    "sixteen_plus": SettingPhase.SIXTEEN_PLUS,
    "not applicable": SettingPhase.NOT_APPLICABLE,
    "not_applicable": SettingPhase.NOT_APPLICABLE,
}


class AddSetting(BaseModel):
    """A school or setting as the DfE register of schools describes it."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", str_strip_whitespace=True
    )  # " " is no name

    urn: str = Field(pattern=r"^\d{6,7}$", description="DfE URN")
    name: str = Field(min_length=1, max_length=200)
    la_code: str = Field(pattern=r"^\d{3}$", description="DfE local authority number, e.g. 331")
    phase: SettingPhase
    setting_type: str = Field(min_length=1, max_length=100, description="DfE type of establishment")
    status: str = Field(default="Open", max_length=40)

    @field_validator("phase", mode="before")
    @classmethod
    def _dfe_phase(cls, value: Any) -> Any:
        """Accept the register's wording ("Middle deemed primary", "16 plus") as well as ours."""
        if isinstance(value, str) and value.strip().lower() in _PHASES:
            return _PHASES[value.strip().lower()]
        return value


DFE_COLUMNS = {
    "URN": "urn",
    "EstablishmentName": "name",
    "LA (code)": "la_code",
    "PhaseOfEducation (name)": "phase",
    "TypeOfEstablishment (name)": "setting_type",
    "EstablishmentStatus (name)": "status",
}
"""Headers of the DfE register of schools (Get Information about Schools) → AddSetting fields."""


@dataclass
class SettingsImport:
    """What an import did (or, on a dry run or refusal, would have done)."""

    problems: list[RowProblem] = field(default_factory=list)
    added: int = 0
    already_registered: int = 0
    closed_skipped: int = 0
    other_area_skipped: int = 0
    dry_run: bool = False


COUNTS = tuple(PopulationFigures.model_fields)
UNKNOWN_CELLS = frozenset({"", "z", "x", "c", ":", "u"})
"""How the DfE marks a figure it does not give: z unknown, x not applicable, c suppressed."""
GROUPS = (
    ("sen_support", "ehcp"),
    tuple(n for n in COUNTS if n.startswith("ethnicity_")),
    ("gender_female", "gender_male"),
)
"""Counts that split the pupils between them: together they can be no more than the headcount."""


class RecordSchoolPopulation(PopulationFigures):
    """An area's school population for an academic year,
    as the DfE's local authority table gives it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    la_code: str = Field(
        pattern=r"^\d{3}$", description="DfE local authority number (old_la_code), e.g. 331"
    )
    academic_year: str = Field(description="2024-25; the DfE's 202425 and 2024/25 are accepted")
    source: str | None = Field(
        default=None, max_length=200, description="Default: the DfE publication of that year"
    )

    @field_validator(*COUNTS, mode="before")
    @classmethod
    def _dfe_cell(cls, value: Any) -> Any:
        """The DfE's markers for a missing figure mean unknown; thousands separators are dropped."""
        if isinstance(value, str):
            value = value.strip().replace(",", "")
            return None if value.lower() in UNKNOWN_CELLS else value
        return value

    @field_validator(*COUNTS[1:])
    @classmethod
    def _within_headcount(cls, value: int | None, info: ValidationInfo) -> int | None:
        """A count, and the counts of its group so far, can be no more than the pupils in
        the area."""
        pupils = info.data.get("pupils")
        group = next((g for g in GROUPS if info.field_name in g), (str(info.field_name),))
        together = (value or 0) + sum(info.data.get(n) or 0 for n in group if n != info.field_name)
        if value is not None and pupils is not None and together > pupils:
            given = (n for n in group if info.data.get(n) is not None or n == info.field_name)
            raise ValueError(f"{' + '.join(given)} is {together}, more than the {pupils} pupils")
        return value

    @field_validator("academic_year", mode="before")
    @classmethod
    def _year(cls, value: Any) -> Any:
        if value is None:
            return value
        text = str(value).strip().replace("/", "-")
        if text.isdigit() and len(text) == 6:
            text = f"{text[:4]}-{text[4:]}"
        return parse_period(text, "academic").name

    def figures(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in COUNTS}

    def source_or_default(self) -> str:
        return self.source or (
            f"DfE Schools, pupils and their characteristics {self.academic_year.replace('-', '/')}"
        )


class PopulationRow(RecordSchoolPopulation):
    """A row of the import file: the DfE table's other columns
    (la_name, new_la_code …) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


POPULATION_COLUMNS = {
    "time_period": "academic_year",
    "old_la_code": "la_code",
    "headcount": "pupils",
}
"""DfE column names → RecordSchoolPopulation fields;
the counts' columns carry the fields' own names."""


@dataclass
class PopulationImport:
    """What a population import did (or, on a dry run or refusal, would have done)."""

    problems: list[RowProblem] = field(default_factory=list)
    recorded: int = 0
    revised: int = 0
    unchanged: int = 0
    other_area_skipped: int = 0
    dry_run: bool = False


async def register_organisation(cmd: RegisterOrganisation, uow: UnitOfWork) -> Organisation:
    """Register an organisation in the interest state; one org-id at most once per register."""
    identifiers = Identifiers(**cmd.identifiers.model_dump())
    problems: dict[str, str] = {}
    reason = "not a node this write may name"
    try:
        org_id = resolve_org_id(cmd.org_id, identifiers)
    except Invalid as exc:  # reported with any other bad field, not one per attempt
        org_id, problems, reason = None, dict(exc.fields), exc.reason
    organisation = Organisation(
        organisation_id=new_event_id(),
        name=cmd.name.strip(),
        roles=tuple(dict.fromkeys(cmd.roles)),
        areas=tuple(dict.fromkeys(cmd.areas)),
        functions=tuple(dict.fromkeys(cmd.functions)),
        org_id=org_id,
    )
    draft = OrganisationRegistered(
        organisation_id=organisation.organisation_id,
        name=organisation.name,
        roles=organisation.roles,
        areas=organisation.areas,
    )
    if problems := problems | uow.node_problems(draft):
        raise Invalid(reason, problems)
    async with uow:
        await _refuse_taken_org_id(uow, org_id)
        uow.session.add(
            OrganisationRow(
                organisation_id=str(organisation.organisation_id),
                org_id=org_id,
                name=organisation.name,
                roles=list(organisation.roles),
                areas=list(organisation.areas),
                functions=list(organisation.functions),
                aims=list(dict.fromkeys(cmd.aims)),
                registered_at=utcnow(),
                state=organisation.state,
                identifiers=cmd.identifiers.model_dump(exclude_none=True),
                contact_name=cmd.contact_name,
                contact_email=cmd.contact_email,
                offer=cmd.offer,
            )
        )
        await uow.emit(
            OrganisationRegistered(
                organisation_id=organisation.organisation_id,
                org_id=org_id,
                name=organisation.name,
                roles=organisation.roles,
                areas=organisation.areas,
                functions=organisation.functions,
                state=organisation.state,
            )
        )
        await uow.commit()
    return organisation


async def change_details(
    organisation_id: UUID, cmd: ChangeDetails, uow: UnitOfWork
) -> OrganisationRow:
    """Apply the given changes; publish only when the hub-visible description actually changed."""
    async with uow:
        row = await _organisation(uow, organisation_id)
        before = _public(row)
        if cmd.org_id is not None:
            org_id = resolve_org_id(cmd.org_id, Identifiers())
            if org_id != row.org_id:
                await _refuse_taken_org_id(uow, org_id)
            row.org_id = org_id
        for name in ("name", "roles", "areas", "functions"):
            value = getattr(cmd, name)
            if value is not None:
                setattr(
                    row,
                    name,
                    value.strip() if isinstance(value, str) else list(dict.fromkeys(value)),
                )
        for name in ("contact_name", "contact_email"):
            if name in cmd.model_fields_set:
                setattr(row, name, getattr(cmd, name))
        if _public(row) != before:
            await uow.emit(
                OrganisationDetailsChanged(organisation_id=organisation_id, **_public(row))
            )
        await uow.commit()
    return row


def _public(row: OrganisationRow) -> dict[str, Any]:
    return {
        "org_id": row.org_id,
        "name": row.name,
        "roles": tuple(row.roles),
        "areas": tuple(row.areas),
        "functions": tuple(row.functions),
    }


async def change_state(
    organisation_id: UUID, cmd: ChangeState, uow: UnitOfWork, today: date | None = None
) -> StateChangeRow:
    """Move along the lifecycle if the rules allow; the decision is recorded and published."""
    today = today or utcnow().date()
    async with uow:
        row = await _organisation(uow, organisation_id)
        current = PartnerState(row.state)
        check_transition(
            current,
            cmd.to_state,
            has_agreement_in_force=await _has_agreement_in_force(uow, row, today),
        )
        now = utcnow()
        change = StateChangeRow(
            change_id=str(new_event_id()),
            organisation_id=row.organisation_id,
            from_state=current,
            to_state=cmd.to_state,
            decided_by=cmd.decided_by.strip(),
            decided_at=now,
            reason=cmd.reason,
        )
        uow.session.add(change)
        row.state, row.state_changed_at, row.state_changed_by = cmd.to_state, now, change.decided_by
        await uow.emit(
            PartnerStateChanged(
                organisation_id=organisation_id,
                from_state=current,
                to_state=cmd.to_state,
                decided_by=change.decided_by,
                decided_at=now,
                reason=cmd.reason,
            ),
            occurred_at=now,
        )
        await uow.commit()
    return change


async def sign_agreement(
    organisation_id: UUID, cmd: SignAgreement, uow: UnitOfWork
) -> AgreementRow:
    """Record an agreement with an organisation that has not left the hub."""
    check_agreement_dates(cmd.starts_on, cmd.ends_on)
    async with uow:
        org = await _organisation(uow, organisation_id)
        if org.state == PartnerState.ENDED:
            raise Invalid(
                "organisation has left the hub", {"organisation_id": "its partnership has ended"}
            )
        agreement = AgreementRow(
            agreement_id=str(new_event_id()),
            organisation_id=org.organisation_id,
            kind=cmd.kind,
            title=cmd.title.strip(),
            starts_on=cmd.starts_on,
            ends_on=cmd.ends_on,
            functions=list(
                dict.fromkeys(cmd.functions if cmd.functions is not None else org.functions)
            ),
            areas=list(dict.fromkeys(cmd.areas if cmd.areas is not None else org.areas)),
            signed_at=utcnow(),
        )
        uow.session.add(agreement)
        await uow.emit(
            AgreementSigned(
                agreement_id=UUID(agreement.agreement_id),
                organisation_id=organisation_id,
                kind=cmd.kind,
                title=agreement.title,
                starts_on=cmd.starts_on,
                ends_on=cmd.ends_on,
                functions=tuple(agreement.functions),
                areas=tuple(agreement.areas),
            )
        )
        await uow.commit()
    return agreement


async def end_agreement(agreement_id: UUID, cmd: EndAgreement, uow: UnitOfWork) -> AgreementRow:
    """End an agreement early (or on its end date); ending twice is refused."""
    async with uow:
        agreement = await uow.session.get(AgreementRow, str(agreement_id))
        if agreement is None:
            raise NotFound(
                "no such agreement", {"agreement_id": f"{agreement_id} is not in this register"}
            )
        if agreement.ended_on is not None:
            raise Refused(
                "agreement already ended", {"ended_on": f"it ended on {agreement.ended_on}"}
            )
        if not agreement.starts_on <= cmd.ended_on <= agreement.ends_on:
            raise Invalid(
                "end outside the agreement",
                {"ended_on": f"must be between {agreement.starts_on} and {agreement.ends_on}"},
            )
        agreement.ended_on, agreement.ended_reason = cmd.ended_on, cmd.reason
        await uow.emit(
            AgreementEnded(
                agreement_id=agreement_id,
                organisation_id=UUID(agreement.organisation_id),
                ended_on=cmd.ended_on,
                reason=cmd.reason,
            )
        )
        await uow.commit()
    return agreement


async def expiring_agreements(
    uow: UnitOfWork, within_days: int, today: date | None = None
) -> list[AgreementRow]:
    """Agreements in force that reach their end date within the next `within_days` days."""
    today = today or utcnow().date()
    async with uow:
        rows = await uow.session.scalars(
            select(AgreementRow)
            .where(
                AgreementRow.ended_on.is_(None),
                AgreementRow.ends_on >= today,
                AgreementRow.ends_on <= today + timedelta(days=within_days),
            )
            .order_by(AgreementRow.ends_on)
        )
        return list(rows.all())


async def add_setting(cmd: AddSetting, uow: UnitOfWork, node: str) -> tuple[UUID, bool]:
    """Register a setting by URN; the same URN again changes nothing (returns its id, False)."""
    area = setting_area(cmd.la_code, node)
    async with uow:
        existing = await uow.session.get(SettingRow, cmd.urn)
        if existing is not None:
            return UUID(existing.organisation_id), False
        organisation_id = await _add_setting(uow, cmd, area)
        await uow.commit()
    return organisation_id, True


async def import_settings(
    path: Path,
    uow: UnitOfWork,
    node: str,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SettingsImport:
    """Validate the whole register file first; any bad row and nothing is imported.

    Rows of another area of the hub are skipped, not refused: each node registers its own area.
    """
    required = set(DFE_COLUMNS) - {"EstablishmentStatus (name)"}
    result = validate_rows(
        path, AddSetting, columns=DFE_COLUMNS, required=required, progress=progress
    )
    outcome = SettingsImport(problems=list(result.problems), dry_run=dry_run)
    seen: dict[str, int] = {}
    rows: list[AddSetting] = []
    for number, row in result.rows:
        if row.urn in seen:
            outcome.problems.append(
                RowProblem(number, "URN", f"URN {row.urn} already on row {seen[row.urn]}")
            )
            continue
        seen[row.urn] = number
        try:
            setting_area(row.la_code, node)
        except Invalid:
            outcome.other_area_skipped += 1  # a hub-wide extract: that area's node registers it
            continue
        rows.append(row)
    if outcome.problems:
        return outcome
    async with uow:
        known = set(
            (
                await uow.session.scalars(select(SettingRow.urn).where(SettingRow.urn.in_(seen)))
            ).all()
        )
        outcome.problems = await _urns_taken_by_organisations(uow, seen, known)
        if outcome.problems:
            return outcome
        for row in rows:
            if row.urn in known:
                outcome.already_registered += 1
            elif row.status.lower().startswith("closed"):
                outcome.closed_skipped += 1
            else:
                outcome.added += 1
                if not dry_run:
                    await _add_setting(uow, row, node)
        if not dry_run:
            await uow.commit()
    return outcome


async def _urns_taken_by_organisations(
    uow: UnitOfWork, rows: dict[str, int], known: set[str]
) -> list[RowProblem]:
    """A school already registered as an organisation (by GB-EDU id) but not as a setting."""
    wanted = {f"GB-EDU-{urn}": urn for urn in rows if urn not in known}
    taken = await uow.session.scalars(
        select(OrganisationRow.org_id).where(OrganisationRow.org_id.in_(wanted))
    )
    return [
        RowProblem(
            rows[wanted[org_id]], "URN", f"{org_id} is already in this register as an organisation"
        )
        for org_id in sorted(filter(None, taken), key=lambda o: rows[wanted[o]])
    ]


async def _add_setting(uow: UnitOfWork, cmd: AddSetting, area: str) -> UUID:
    organisation_id = new_event_id()
    org_id = f"GB-EDU-{cmd.urn}"
    await _refuse_taken_org_id(uow, org_id)
    state_funded = is_state_funded(cmd.setting_type)
    uow.session.add(
        OrganisationRow(
            organisation_id=str(organisation_id),
            org_id=org_id,
            name=cmd.name.strip(),
            roles=[OrganisationRole.EDUCATION_SETTING],
            areas=[area],
            functions=[StrategicFunction.SCHOOLS],
            aims=[],
            registered_at=utcnow(),
            state=PartnerState.APPROVED,
            identifiers={"school_urn": cmd.urn},
        )
    )
    await uow.session.flush()
    uow.session.add(
        SettingRow(
            urn=cmd.urn,
            organisation_id=str(organisation_id),
            la_code=cmd.la_code,
            phase=cmd.phase,
            setting_type=cmd.setting_type,
            status=cmd.status,
            state_funded=state_funded,
        )
    )
    await uow.emit(
        SettingAdded(
            organisation_id=organisation_id,
            urn=cmd.urn,
            org_id=org_id,
            name=cmd.name.strip(),
            area=area,
            la_code=cmd.la_code,
            phase=cmd.phase,
            setting_type=cmd.setting_type,
            state_funded=state_funded,
        )
    )
    return organisation_id


async def record_school_population(cmd: RecordSchoolPopulation, uow: UnitOfWork, node: str) -> str:
    """Record the area's population for a year: "recorded", "revised"
    (new figures) or "unchanged" (nothing published)."""
    async with uow:
        area = population_area(cmd.la_code, node, await _recorded_la_codes(uow))
        outcome = await _record_population(uow, cmd, area)
        await uow.commit()
    return outcome


async def _recorded_la_codes(uow: UnitOfWork) -> frozenset[str]:
    return frozenset(
        (await uow.session.scalars(select(SchoolPopulationRow.la_code).distinct())).all()
    )


async def import_school_population(
    path: Path, uow: UnitOfWork, node: str, *, dry_run: bool = False
) -> PopulationImport:
    """Validate the whole file first; any bad row and nothing is recorded. Rows of other LAs
    are skipped."""
    result = validate_rows(
        path, PopulationRow, columns=POPULATION_COLUMNS, required=set(POPULATION_COLUMNS)
    )
    outcome = PopulationImport(problems=list(result.problems), dry_run=dry_run)
    async with uow:
        rows = _own_population_rows(result.rows, node, await _recorded_la_codes(uow), outcome)
        if outcome.problems:
            return outcome
        for row in rows:
            done = await _record_population(uow, row, node)
            setattr(outcome, done, getattr(outcome, done) + 1)
        if not dry_run:
            await uow.commit()
    return outcome


def _own_population_rows(
    numbered: list[tuple[int, PopulationRow]],
    node: str,
    recorded: frozenset[str],
    outcome: PopulationImport,
) -> list[PopulationRow]:
    """The rows of the node's own LA; rows of other LAs are counted as skipped (a national table).
    Where the hub does not know the node's LA and the file leaves it ambiguous, a problem
    instead."""
    seen: dict[tuple[str, str], int] = {}
    rows: list[tuple[int, PopulationRow]] = []
    for number, row in numbered:
        key = (row.la_code, row.academic_year)
        if key in seen:
            outcome.problems.append(
                RowProblem(
                    number, "time_period", f"LA {key[0]} {key[1]} already on row {seen[key]}"
                )
            )
            continue
        seen[key] = number
        try:
            population_area(row.la_code, node, recorded)
        except Invalid:
            outcome.other_area_skipped += 1
            continue
        rows.append((number, row))
    codes = sorted({row.la_code for _, row in rows} | recorded)
    if len(codes) > 1:
        number = next(n for n, row in rows if row.la_code != codes[0])
        outcome.problems.append(
            RowProblem(
                number,
                "old_la_code",
                f"the hub does not know {node}'s local authority and "
                f"this would record several ({', '.join(codes)}): import your own LA's rows only",
            )
        )
    return [row for _, row in rows]


async def _record_population(uow: UnitOfWork, cmd: RecordSchoolPopulation, area: str) -> str:
    figures, source = cmd.figures(), cmd.source_or_default()
    row = await uow.session.get(SchoolPopulationRow, (cmd.la_code, cmd.academic_year))
    if row is not None and (row.figures, row.source) == (figures, source):
        return "unchanged"
    outcome = "recorded" if row is None else "revised"
    if row is None:
        row = SchoolPopulationRow(la_code=cmd.la_code, academic_year=cmd.academic_year)
        uow.session.add(row)
    row.area, row.source, row.figures, row.recorded_at = area, source, figures, utcnow()
    await uow.emit(
        SchoolPopulationRecorded(
            area=area,
            la_code=cmd.la_code,
            academic_year=cmd.academic_year,
            source=source,
            **figures,
        )
    )
    return outcome


async def list_school_population(uow: UnitOfWork) -> list[SchoolPopulationRow]:
    async with uow:
        rows = await uow.session.scalars(
            select(SchoolPopulationRow).order_by(SchoolPopulationRow.academic_year)
        )
        return list(rows.all())


async def get_organisation(
    organisation_id: UUID, uow: UnitOfWork
) -> tuple[OrganisationRow, list[AgreementRow]]:
    async with uow:
        row = await _organisation(uow, organisation_id)
        agreements = await uow.session.scalars(
            select(AgreementRow)
            .where(AgreementRow.organisation_id == row.organisation_id)
            .order_by(AgreementRow.starts_on)
        )
        return row, list(agreements.all())


async def list_organisations(
    uow: UnitOfWork,
    *,
    text: str | None = None,
    role: OrganisationRole | None = None,
    area: str | None = None,
    function: StrategicFunction | None = None,
    state: PartnerState | None = None,
) -> list[OrganisationRow]:
    """The register, optionally narrowed; list filters run in Python as JSON columns differ
    by database."""
    async with uow:
        query = select(OrganisationRow).order_by(OrganisationRow.name)
        if text:
            query = query.where(
                OrganisationRow.name.ilike(f"%{text}%") | (OrganisationRow.org_id == text.upper())
            )
        if state:
            query = query.where(OrganisationRow.state == state)
        rows = (await uow.session.scalars(query)).all()
    return [
        r
        for r in rows
        if (role is None or role in r.roles)
        and (area is None or area in r.areas)
        and (function is None or function in r.functions)
    ]


async def list_settings(
    uow: UnitOfWork, text: str | None = None, limit: int | None = None
) -> list[tuple[SettingRow, str]]:
    """The register, or the settings whose name contains `text` or whose URN is it (a partner
    naming the school it worked in, docs/partner-returns.md)."""
    query = (
        select(SettingRow, OrganisationRow.name)
        .join(OrganisationRow, OrganisationRow.organisation_id == SettingRow.organisation_id)
        .order_by(OrganisationRow.name if text else SettingRow.urn)
        .limit(limit)
    )
    if text and text.strip():
        wanted = text.strip()
        query = query.where(
            (SettingRow.urn == wanted) | OrganisationRow.name.icontains(wanted, autoescape=True)
        )
    async with uow:
        return [(s, name) for s, name in await uow.session.execute(query)]


async def _organisation(uow: UnitOfWork, organisation_id: UUID) -> OrganisationRow:
    row = await uow.session.get(OrganisationRow, str(organisation_id))
    if row is None:
        raise NotFound(
            "no such organisation",
            {"organisation_id": f"{organisation_id} is not in this register"},
        )
    return row


async def _refuse_taken_org_id(uow: UnitOfWork, org_id: str | None) -> None:
    taken = select(OrganisationRow.organisation_id).where(OrganisationRow.org_id == org_id)
    if org_id and await uow.session.scalar(taken):
        raise Refused(
            "organisation already registered", {"org_id": f"{org_id} is already in this register"}
        )


async def _has_agreement_in_force(uow: UnitOfWork, org: OrganisationRow, today: date) -> bool:
    rows = await uow.session.execute(
        select(AgreementRow.starts_on, AgreementRow.ends_on, AgreementRow.ended_on).where(
            AgreementRow.organisation_id == org.organisation_id
        )
    )
    return any(in_force(s, e, ended, today) for s, e, ended in rows)
