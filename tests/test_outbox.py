"""Outbox and unit of work, on SQLite and PostgreSQL: state and events commit together, gapless."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from services.partners import app as partners_app
from services.partners.models import OrganisationRow, outbox_cursor, outbox_table
from services.partners.services import RegisterOrganisation, register_organisation
from shared.errors import Refused
from shared.node_service import NodeService
from shared.outbox import PUBLISHED, SEQUENCE, read_cursor
from shared.settings import HubSettings


@pytest.fixture
async def partners(settings: HubSettings, database_url: str) -> NodeService:
    service = partners_app.build_service(
        settings.model_copy(update={"database_url": database_url}), "coventry", ""
    )
    await service.start(relay=False)
    yield service
    await service.stop()


def cmd(name: str, org_id: str | None = None) -> RegisterOrganisation:
    return RegisterOrganisation(
        name=name, roles=["delivery_partner"], areas=["coventry"], org_id=org_id
    )


async def outbox_rows(service: NodeService) -> list[tuple[int, str]]:
    async with service.sessions() as session:
        rows = await session.execute(
            select(outbox_table.c.sequence, outbox_table.c.event_type).order_by("sequence")
        )
        return [tuple(r) for r in rows]


async def test_a_write_and_its_event_commit_together(partners: NodeService) -> None:
    await register_organisation(cmd("Drake Music"), partners.unit_of_work())
    async with partners.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OrganisationRow)) == 1
    assert await outbox_rows(partners) == [(1, "OrganisationRegistered")]


async def test_a_refused_write_stores_nothing_and_leaves_no_sequence_gap(
    partners: NodeService,
) -> None:
    await register_organisation(cmd("Drake Music", "GB-CHC-1083645"), partners.unit_of_work())
    with pytest.raises(Refused):
        await register_organisation(
            cmd("Drake Music again", "GB-CHC-1083645"), partners.unit_of_work()
        )
    await register_organisation(cmd("Quench Arts"), partners.unit_of_work())
    assert [seq for seq, _ in await outbox_rows(partners)] == [1, 2]
    async with partners.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OrganisationRow)) == 2


async def test_concurrent_writers_get_distinct_gapless_sequences(partners: NodeService) -> None:
    await asyncio.gather(
        *(register_organisation(cmd(f"Org {i}"), partners.unit_of_work()) for i in range(25))
    )
    assert [seq for seq, _ in await outbox_rows(partners)] == list(range(1, 26))
    async with partners.sessions() as session:
        assert await read_cursor(session, outbox_cursor, SEQUENCE) == 25
        assert await read_cursor(session, outbox_cursor, PUBLISHED) == 0


async def test_an_exception_inside_the_unit_of_work_rolls_everything_back(
    partners: NodeService,
) -> None:
    from shared.contracts.partners import OrganisationRegistered
    from shared.envelope import new_event_id

    with pytest.raises(RuntimeError):
        async with partners.unit_of_work() as uow:
            await uow.emit(
                OrganisationRegistered(organisation_id=new_event_id(), name="x", roles=["funder"])
            )
            raise RuntimeError("crash before commit")
    assert await outbox_rows(partners) == []


async def test_a_service_cannot_emit_another_services_event(partners: NodeService) -> None:
    from shared.contracts.funding import IncomeRecorded

    event = IncomeRecorded.model_validate(
        {
            "entry_id": "01a2011f-0000-7000-8000-000000000004",
            "source": "parents",
            "funder": "x",
            "stream": "revenue",
            "amount_pence": 1,
            "received_on": "2025-01-01",
        }
    )
    async with partners.unit_of_work() as uow:
        with pytest.raises(ValueError, match="partners may not emit funding event"):
            await uow.emit(event)
