"""The demo hub's year of funding, loaded through the services' HTTP APIs, balances to the penny."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from harness.sample import SampleLoad, SampleWriter
from services.reporting.read.views.funding import (
    FundingBalance,
    asset_register,
    budget_vs_actual,
    funding_balance,
)
from shared.nats_server import NatsServer
from shared.settings import HubSettings
from tests.helpers import System, wait_for
from tests.test_giving360 import validator


@pytest.fixture
async def three_nodes(
    tmp_path: Path, hub_id: str, nats_server: NatsServer
) -> AsyncIterator[System]:
    settings = HubSettings(
        hub=hub_id, data_dir=tmp_path, nodes=["coventry", "warwickshire", "solihull"]
    )
    running = System(settings, nats_server.url)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_the_sample_year_balances_across_three_nodes_and_exports(three_nodes: System) -> None:
    from harness.sample import activities, funding, partners

    system = three_nodes
    clients = {key: system.client(*key) for key in system.services}
    writer = SampleWriter(clients, SampleLoad(), random.Random(7))  # type: ignore[arg-type]
    try:
        await partners.load(writer, system.settings.nodes)
        await activities.load(writer, system.settings.nodes, 3)
        await funding.load(writer, system.settings.nodes)
    finally:
        for client in clients.values():
            await client.aclose()
    await system.report_when(lambda r: r.stamp.applied_events >= writer.load.total, timeout=30)

    async with system.reporting.read_sessions() as session:
        result: FundingBalance = await funding_balance(session, system.settings.nodes)
        budget = await budget_vs_actual(session, "academic", "2025-26")
        assets = await asset_register(session)
    assert result.balanced, result.problems
    assert [t.status for t in result.transfers] == ["reconciled", "reconciled"]
    hub = result.hub
    assert hub.allocated_pence == hub.received_pence == 549_373_00 + 355_704_00
    assert hub.income_pence == hub.commissioned_pence + hub.spent_pence + hub.remaining_pence
    assert all(
        s.remaining_pence >= 0 and s.received_pence == s.drawn_pence + s.remaining_pence
        for s in result.sources
    )
    assert {(line.node, line.function) for line in budget if line.variance_pence > 0} == {
        (n, "inclusion") for n in system.settings.nodes
    }
    assert [(a.node, a.cost_pence) for a in assets] == [("warwickshire", 24_750_00)]

    from services.reporting.app import create_app

    app = create_app(system.reporting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reporting"
    ) as client:
        package = (await client.get("/report/funding/360giving.json")).json()
        balance = (await client.get("/report/funding/balance")).json()
    assert balance["balanced"] is True
    assert not list(validator().iter_errors(package))
    assert (
        len(package["grants"]) == 2 + 3 + 3 + 2
    )  # two allocations; up to three progression partners per node


async def test_activities_named_by_sample_commissions_trace_back_to_the_dfe_grant(
    three_nodes: System,
) -> None:
    from harness.sample import activities, funding, partners
    from services.reporting.read.views.funding import activity_funding, load_ledger

    system = three_nodes
    clients = {key: system.client(*key) for key in system.services}
    writer = SampleWriter(clients, SampleLoad(), random.Random(3))  # type: ignore[arg-type]
    try:
        await partners.load(writer, system.settings.nodes)
        await activities.load(writer, system.settings.nodes, 3)
        await funding.load(writer, system.settings.nodes)
    finally:
        for client in clients.values():
            await client.aclose()
    await system.report_when(lambda r: r.stamp.applied_events >= writer.load.total, timeout=30)

    async def trails() -> list:
        async with system.reporting.read_sessions() as session:
            ledger = await load_ledger(session)
            named = [
                a
                for e in ledger.originals("commission")
                for a in e.details["activity_ids"]
                if e.node == "coventry"
            ]
            return [await activity_funding(session, a) for a in named]

    paths = await wait_for(trails, bool)
    assert paths and all(paths)
    ends = {(p[-1].node, p[-1].kind, p[-1].counterparty) for found in paths for p in found}
    assert ("warwickshire", "income", "GB-CHC-1036733") in ends
