"""The activities node tables and the reporting projections on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import select

from services.activities import app as activities_app
from services.activities.models import ActivityRow, outbox_table
from services.activities.services import (
    ExpectReturn,
    ImportRegister,
    RegisterRow,
    SubmitReturn,
    Withdraw,
    WithdrawParticipations,
    expect_return,
    import_register,
    return_statuses,
    submit_return,
    withdraw_activity,
    withdraw_participations,
)
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.consumer import ReportingService
from services.reporting.read.views.activities import partner_returns, reach
from services.reporting.settings import ReportingSettings
from shared.node_service import NodeService
from shared.pseudonym import Pseudonymiser, make_upn
from shared.settings import HubSettings

KEYS = Pseudonymiser(b"test-key-" * 4)
ORG = UUID("01a2011f-0000-7000-8000-000000000001")


def rows(ref: str, area: str, pupils: list[tuple[str, str]]) -> list[RegisterRow]:
    return [
        RegisterRow(
            activity_ref=ref,
            kind="ensemble",
            title="Area strings",
            delivered_by=ORG,
            area=area,
            starts_on=date(2024, 9, 9),
            ends_on=date(2025, 7, 11),
            hours="40",
            level="intermediate",
            functions="progression",
            upn=make_upn(digits),
            year_group="7",
            home_area=home,
        )
        for digits, home in pupils
    ]


async def activity_of(service: NodeService, ref: str) -> UUID:
    async with service.sessions() as session:
        return UUID(
            (
                await session.execute(
                    select(ActivityRow.activity_id).where(ActivityRow.source_key == ref)
                )
            ).scalar_one()
        )


async def node(settings: HubSettings, url: str | None = None) -> NodeService:
    if url:
        settings = settings.model_copy(update={"database_url": url})
    service = activities_app.build_service(settings, "coventry", "")
    await service.start(relay=False)
    return service


async def test_node_tables_keep_imports_idempotent_and_returns_visible(
    settings: HubSettings, database_url: str
) -> None:
    service = await node(settings, database_url)
    try:
        register = rows(
            "A1", "coventry", [("331369024001", "coventry"), ("334100124002", "solihull")]
        )
        first = await import_register(ImportRegister(rows=register), service.unit_of_work(), KEYS)
        again = await import_register(ImportRegister(rows=register), service.unit_of_work(), KEYS)
        assert (first.activities_added, first.participations_added, first.events) == (1, 2, 2)
        assert (again.activities_existing, again.participations_existing, again.events) == (1, 2, 0)
        activity_id = await activity_of(service, "A1")
        cmd = WithdrawParticipations(upns=[make_upn("334100124002")], reason="wrong group")
        assert await withdraw_participations(activity_id, cmd, service.unit_of_work()) == 1
        corrected = [row.model_copy(update={"year_group": "8"}) for row in register[1:]]
        redo = await import_register(ImportRegister(rows=corrected), service.unit_of_work(), KEYS)
        assert (redo.participations_added, redo.participations_existing) == (1, 0), (
            "a withdrawn pupil may be re-recorded"
        )
        assert (
            await import_register(ImportRegister(rows=corrected), service.unit_of_work(), KEYS)
        ).events == 0

        partner = UUID("01a2011f-0000-7000-8000-0000000000aa")
        await expect_return(
            ExpectReturn(partner_id=partner, academic_year="2024-25", due_on=date(2025, 7, 31)),
            service.unit_of_work(),
        )
        lines = await return_statuses("2024-25", date(2025, 8, 1), service.unit_of_work())
        assert [line.status for line in lines] == ["missing"]
        submitted = SubmitReturn(
            partner_id=partner,
            academic_year="2024-25",
            submitted_on=date(2025, 8, 2),
            file_digest="c" * 64,
            activities=1,
            participations=2,
        )
        assert (await submit_return(submitted, service.unit_of_work()))[1] is True
        assert (await submit_return(submitted, service.unit_of_work()))[1] is False
        lines = await return_statuses("2024-25", date(2025, 8, 3), service.unit_of_work())
        assert [line.status for line in lines] == ["late"]
    finally:
        await service.stop()


async def test_projections_count_unique_pupils_and_apply_withdrawals(
    settings: HubSettings, database_url: str
) -> None:
    service = await node(settings)
    try:
        both = ("331369024001", "coventry")
        await import_register(
            ImportRegister(rows=rows("A1", "coventry", [both, ("331369024002", "coventry")])),
            service.unit_of_work(),
            KEYS,
        )
        await import_register(
            ImportRegister(rows=rows("A2", "coventry", [both, ("334100124003", "solihull")])),
            service.unit_of_work(),
            KEYS,
        )
        await import_register(
            ImportRegister(rows=rows("A3", "coventry", [("937200124004", "warwickshire")])),
            service.unit_of_work(),
            KEYS,
        )
        await expect_return(
            ExpectReturn(partner_id=ORG, academic_year="2024-25", due_on=date(2025, 7, 31)),
            service.unit_of_work(),
        )
        await withdraw_activity(
            await activity_of(service, "A3"), Withdraw(reason="never ran"), service.unit_of_work()
        )
        async with service.sessions() as session:
            outbox = (
                await session.execute(
                    select(outbox_table.c.subject, outbox_table.c.body).order_by(
                        outbox_table.c.sequence
                    )
                )
            ).all()
    finally:
        await service.stop()

    reporting = ReportingService(settings, ReportingSettings(database_url=database_url), "")
    await reporting.start(consume=False)
    try:
        outcome = await reporting.ingest(
            [Incoming(r.subject, r.body, i) for i, r in enumerate(outbox, start=1)]
        )
        assert (outcome.applied, outcome.dead) == (len(outbox), [])
        async with reporting.read_sessions() as session:
            got = await reach(session, "2024-25", "area")
            returns = await partner_returns(session, "2024-25", date(2025, 8, 1))
    finally:
        await reporting.stop()
    assert (got.unique_pupils, got.participations) == (3, 4), (
        "the pupil in two activities counts once"
    )
    assert {(r.group, r.unique_pupils) for r in got.rows} == {("coventry", 2), ("solihull", 1)}
    assert got.headcount == 4, "the withdrawn activity's headcount is gone"
    assert [r.status for r in returns] == ["missing"]
