"""The funding views' cheaper reads give the figures the pupil records and the whole ledger give."""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event, insert, select, true

from services.reporting.app import build_service
from services.reporting.dashboard import routes as dashboard
from services.reporting.dashboard.routes import PageFilters
from services.reporting.models.activities import ActivityView, ParticipationView
from services.reporting.models.funding import FundingFlowView, FundingLinkView
from services.reporting.models.partners import OrganisationView
from services.reporting.read.exports import giving360
from services.reporting.read.names import load_names, money_years
from services.reporting.read.params import Filters
from services.reporting.read.views import allocation, funding
from services.reporting.read.views.accountability import (
    activities_of,
    partnerships_report,
    pupil_records,
)
from services.reporting.read.views.funding import (
    Ledger,
    SourceFigures,
    balance,
    funding_balance,
    load_ledger,
)
from services.reporting.read.views.partners import OrganisationRow, organisation_rows
from services.reporting.settings import ReportingSettings
from shared.periods import period_of
from shared.settings import HubSettings

YEAR = "2024-25"
NODES = ("coventry", "solihull")
AREAS = ("coventry", "solihull", "warwickshire")


def activity(
    node: str, activity_id: str, year: str | None, rng: random.Random
) -> dict[str, object]:
    return {
        "node": node,
        "activity_id": activity_id,
        "kind": rng.choice(["tuition", "wcet", "ensemble"]),
        "title": activity_id,
        "area": rng.choice(AREAS),
        "starts_on": date(2024, 9, 2),
        "ends_on": date(2025, 7, 18),
        "hours": Decimal(rng.randint(1, 4000)) / 100,
        "headcount": rng.randint(0, 30),
        "level": "beginner",
        "functions": rng.choice([["schools"], ["progression"], ["schools", "inclusion"]]),
        "aims": rng.choice([[], ["support_schools"]]),
        "event_id": activity_id,
        "academic_year": year,
    }


def participation(
    node: str, participation_id: str, activity_id: str, rng: random.Random
) -> dict[str, object]:
    return {
        "node": node,
        "participation_id": participation_id,
        "activity_id": activity_id,
        "academic_year": rng.choice([YEAR, YEAR, YEAR, "2023-24"]),
        "pseudonym": f"pupil-{rng.randint(1, 40)}",  # pupils in several activities and nodes
        "year_group": "4",
        "send": "none",
        "fsm": False,
        "looked_after": False,
        "ethnicity": "white",
        "gender": "female",
        "school_urn": "103690",
        "home_area": rng.choice(AREAS),
        "withdrawn": rng.random() < 0.2,
        "event_id": participation_id,
    }


async def _write_ledger(
    service: Any, flows: list[dict[str, Any]], links: list[tuple[str, str, str, int]]
) -> None:
    """Ledger rows straight into the projection tables, as the projector would have left them."""
    async with service.sessions() as writer, writer.begin():
        await writer.execute(insert(FundingFlowView.__table__), flows)
        await writer.execute(
            insert(FundingLinkView.__table__),
            [
                {"node": n, "entry_id": e, "source_entry_id": s, "amount_pence": a}
                for n, e, s, a in links
            ],
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_unit_costs_count_in_sql_what_the_pupil_records_hold(
    settings: HubSettings, database_url: str, seed: int
) -> None:
    """Participations, unique pupils and hours for the unit costs, counted in SQL, equal what the
    year's pupil records and activities give under every filter: withdrawn pupils, pupils of an
    activity recorded under another year or never delivered, pupils at two nodes."""
    rng = random.Random(seed)
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        activities = [
            activity(node, f"a{i}", rng.choice([YEAR, YEAR, "2023-24", None]), rng)
            for node in NODES
            for i in range(12)
        ]
        participations = [
            participation(node, f"p{i}", f"a{rng.randint(0, 13)}", rng)  # a12, a13: never delivered
            for node in NODES
            for i in range(150)
        ]
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(ActivityView.__table__), activities)
            await writer.execute(insert(ParticipationView.__table__), participations)
        filters = [Filters(), *(Filters(node=n) for n in NODES), *(Filters(area=a) for a in AREAS)]
        filters.append(Filters(node="solihull", area="coventry"))
        async with service.read_sessions() as session:
            for f in filters:
                records = await pupil_records(session, YEAR, f)
                hours = sum((a.hours for a in await activities_of(session, YEAR, f)), Decimal(0))
                assert records, f  # the data set exercises every filter
                assert await allocation._delivery_counts(session, YEAR, f) == (
                    len(records),
                    len({r.p.pseudonym for r in records}),
                ), f
                assert await allocation._hours(session, YEAR, f) == hours, f
        # where the transaction holds the year's records (the annual return reads them first),
        # the unit costs count them rather than the participations again by SQL: same figures
        counts: list[str] = []

        def counts_participations(_c: object, _cur: object, sql: str, *_: object) -> None:
            if "participation_view" in sql and "count(" in sql:
                counts.append(sql)

        engine = service.read_engine.sync_engine
        for f in filters:
            async with service.read_sessions() as session:
                by_sql = await allocation.allocation_report(session, "academic", YEAR, f)
            event.listen(engine, "before_cursor_execute", counts_participations)
            try:
                async with service.read_sessions() as session:
                    await pupil_records(session, YEAR)
                    held = await allocation.allocation_report(session, "academic", YEAR, f)
            finally:
                event.remove(engine, "before_cursor_execute", counts_participations)
            assert held.unit_costs == by_sql.unit_costs, f
            assert held.unit_costs.participations > 0, f
            assert counts == [], f
    finally:
        await service.stop()


def test_a_source_held_in_a_result_is_frozen_so_copies_of_the_result_can_share_it() -> None:
    source = SourceFigures(
        node="coventry",
        entry_id="e1",
        kind="income",
        stream="revenue",
        funder="Arts Council England",
        received_pence=100,
        drawn_pence=40,
        remaining_pence=60,
    )
    assert copy.deepcopy([source])[0] is source
    with pytest.raises(ValidationError):
        source.drawn_pence = 0


async def test_organisation_rows_read_what_the_mapped_registrations_hold(
    settings: HubSettings, database_url: str
) -> None:
    """The plain rows the organisations, partnerships and 360Giving reads share (lists decoded once
    per distinct text) hold what the mapped registrations do, in node order."""
    rng = random.Random(4)
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    try:
        rows = [
            {
                "node": rng.choice(NODES),
                "organisation_id": f"o{i}",
                "org_id": rng.choice([None, "GB-CHC-1", "GB-CHC-2"]),
                "name": f"Partner {rng.randint(1, 5)}",
                "roles": rng.choice([["delivery_partner"], ["hub_lead", "school"], []]),
                "areas": rng.choice([["coventry"], ["coventry", "solihull"]]),
                "functions": rng.choice([["progression"], []]),
                "event_id": f"e{i}",
                "state": rng.choice([None, "active", "interest"]),
            }
            for i in range(60)
        ]
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(OrganisationView.__table__), rows)
        async with service.read_sessions() as session:
            plain = await organisation_rows(session)
            mapped = (
                await session.scalars(
                    select(OrganisationView).order_by(
                        OrganisationView.node, OrganisationView.organisation_id
                    )
                )
            ).all()
        assert [tuple(r) for r in plain] == [
            tuple(getattr(o, f) for f in OrganisationRow._fields) for o in mapped
        ]
        assert len(plain) == 60

        # the partnerships view counts the active registrations from the same reader
        async with service.read_sessions() as session:
            active_rows = await organisation_rows(session, state="active")
            report = await partnerships_report(session, YEAR, date(2025, 1, 1))
        active = [o for o in mapped if o.state == "active"]
        identity = {id(o): o.org_id or f"{o.node}/{o.organisation_id}" for o in active}
        assert report.active_partners == len(set(identity.values())) > 0
        roles = sorted({r for o in active for r in o.roles})
        assert report.active_by_role == {
            r: len({identity[id(o)] for o in active if r in o.roles}) for r in roles
        }
        assert [tuple(r) for r in active_rows] == [
            tuple(getattr(o, f) for f in OrganisationRow._fields) for o in active
        ]
    finally:
        await service.stop()


def flow(node: str, entry_id: str, kind: str, amount: int, **values: object) -> dict[str, object]:
    return {
        "node": node,
        "entry_id": entry_id,
        "kind": kind,
        "stream": "revenue",
        "amount_pence": amount,
        "entry_on": date(2024, 10, 1 + len(entry_id) % 20),
        "counterparty": values.pop("counterparty", "Arts Council England"),
        "source": None,
        "function": "schools",
        "area": node,
        "category": None,
        "title": None,
        "counterpart_node": None,
        "counterpart_entry_id": None,
        "recipient_org_id": "GB-CHC-1036733" if kind == "income" else None,
        "original_entry_id": None,
        "sign": 1,
        "stream_restricted": False,
        "details": {"recipient_organisation_id": "o1"} if kind == "commission" else {},
        "event_id": f"ev-{entry_id}",
        **values,
    }


@pytest.mark.parametrize("odd", [False, True])
async def test_grants_read_from_part_of_the_ledger_are_the_grants_of_the_whole(
    settings: HubSettings, database_url: str, monkeypatch: pytest.MonkeyPatch, odd: bool
) -> None:
    """Allocations, commissions, receipts, reversals (a chain of two) and spend: the 360Giving
    grants built from the grants' part of the ledger equal those built from the whole; `odd`
    adds a commission drawing on a spend entry (nodes refuse it), which reads the whole."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    flows = [
        flow("coventry", "inc1", "income", 100_000, counterparty="GB-CHC-1036733"),
        flow("coventry", "inc2", "income", 50_000, counterparty="Coventry council"),
        flow("coventry", "al1", "allocation", 30_000, counterpart_node="solihull"),
        flow("coventry", "al2", "allocation", 10_000, counterpart_node="solihull"),
        flow("coventry", "al3", "allocation", 5_000, counterpart_node="solihull"),
        flow(
            "solihull",
            "rc1",
            "received",
            30_000,
            counterpart_node="coventry",
            counterpart_entry_id="al1",
        ),
        flow(
            "solihull",
            "rc9",
            "received",
            7_000,
            counterpart_node="coventry",
            counterpart_entry_id="never-sent",
        ),
        flow("solihull", "cm1", "commission", 20_000, counterparty="Partner 1"),
        flow("coventry", "cm2", "commission", 40_000, counterparty="Partner 2"),
        flow("coventry", "cm3", "commission", 1_000, counterparty="Partner 3"),
        flow("coventry", "ex1", "expenditure", 2_000, counterparty="Tutor"),
        flow("coventry", "rv1", "reversal", 10_000, original_entry_id="al2", sign=-1),
        flow("coventry", "rv2", "reversal", 5_000, original_entry_id="al3", sign=-1),
        flow("coventry", "rv3", "reversal", 5_000, original_entry_id="al3", sign=1),
    ]
    links = [
        ("coventry", "al1", "inc1", 30_000),
        ("coventry", "al2", "inc2", 10_000),
        ("coventry", "al3", "inc1", 5_000),
        ("solihull", "cm1", "rc1", 20_000),
        ("coventry", "cm2", "inc1", 20_000),
        ("coventry", "cm2", "inc2", 20_000),
        ("coventry", "ex1", "inc1", 2_000),
    ]
    if odd:
        links.append(("coventry", "cm3", "ex1", 1_000))
    try:
        await _write_ledger(service, flows, links)
        async with service.sessions() as session:
            part = await giving360.build_grants(session, "hub")
            monkeypatch.setattr(giving360, "grants_ledger", load_ledger)
            whole = await giving360.build_grants(session, "hub")
        assert part == whole
        assert {g["id"] for g in part} == {
            f"360G-hub-{e}" for e in ("al1", "al3", "cm1", "cm2", "cm3")
        }
        programmes = {g["id"] for g in part if "grantProgramme" in g}
        assert programmes == {"360G-hub-al1", "360G-hub-al3", "360G-hub-cm1", "360G-hub-cm2"} | (
            {"360G-hub-cm3"} if odd else set()
        )
    finally:
        await service.stop()


async def test_the_balance_summed_in_sql_is_the_balance_of_the_whole_ledger(
    settings: HubSettings, database_url: str
) -> None:
    """Sources drawn on by allocations, commissions, spend and reversals' links; a reversal chain;
    a source over-drawn, a flow whose links do not add up, a transfer not received, a node outside
    the settings: the balance from SQL sums equals `balance` of the whole ledger, problems and
    all."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    rng = random.Random(5)
    spends = [flow("coventry", f"ex{i}", "expenditure", rng.randint(1, 900)) for i in range(2, 40)]
    flows = [
        flow("coventry", "inc1", "income", 100_000),
        flow("coventry", "inc2", "income", 5_000),
        flow("warwickshire", "inc3", "income", 9_000),
        flow("coventry", "al1", "allocation", 30_000, counterpart_node="solihull"),
        flow("coventry", "al2", "allocation", 10_000, counterpart_node="solihull"),
        flow(
            "solihull",
            "rc1",
            "received",
            30_000,
            counterpart_node="coventry",
            counterpart_entry_id="al1",
        ),
        flow("solihull", "cm1", "commission", 20_000),
        flow("coventry", "rv1", "reversal", 5_000, original_entry_id="ex0", sign=-1),
        flow("coventry", "rv2", "reversal", 5_000, original_entry_id="ex1", sign=-1),
        flow("coventry", "rv3", "reversal", 5_000, original_entry_id="ex1", sign=1),
        flow("coventry", "ex0", "expenditure", 5_000),
        flow("coventry", "ex1", "expenditure", 5_000),
        *spends,
    ]
    links = [
        ("coventry", "al1", "inc1", 30_000),
        ("coventry", "al2", "inc1", 10_000),
        ("solihull", "cm1", "rc1", 19_000),  # links total 19,000p of 20,000p
        ("coventry", "ex0", "inc2", 5_000),
        ("coventry", "rv1", "inc2", -5_000),  # the reversal frees its source
        ("coventry", "ex1", "inc2", 5_000),
        ("coventry", "rv2", "inc2", -5_000),
        ("coventry", "rv3", "inc2", 5_000),
        ("warwickshire", "ex99", "inc3", 10_000),  # over-drawn, by an entry never recorded
        *(("coventry", str(f["entry_id"]), "inc1", int(str(f["amount_pence"]))) for f in spends),
    ]
    try:
        await _write_ledger(service, flows, links)
        async with service.sessions() as session:
            from_sql = await funding_balance(session, ["coventry", "solihull"])
            whole = balance(await load_ledger(session), ["coventry", "solihull"])
        assert from_sql == whole
        assert whole.problems == [
            "warwickshire source inc3: drawn 10000p of 9000p",
            "solihull commission cm1: links total 19000p, amount 20000p",
            "solihull: income and receipts do not equal flows plus remaining",
            "warwickshire: income and receipts do not equal flows plus remaining",
            "transfer coventry/al2 → solihull: not received (sent 10000p, received 0p)",
        ]
        assert [n.node for n in whole.nodes] == ["coventry", "solihull", "warwickshire"]
    finally:
        await service.stop()


@pytest.mark.parametrize(("kind", "period"), [("academic", "2024-25"), ("financial", "2025-26")])
async def test_a_periods_money_from_part_of_the_ledger_is_that_of_the_whole(
    settings: HubSettings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    period: str,
) -> None:
    """Income, spend, commissions, allocations and assets over three years, reversals dated in
    another year than what they undo (and a chain): the funding view, budget against actual and
    the asset register read from the period's part of the ledger equal those of the whole."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    rng = random.Random(6)
    asset = {"item": "Timpani", "location": "Store", "loaned_to": None}
    flows = []
    links = []
    for i in range(120):
        node = rng.choice(NODES)
        on = date(2023, 9, 1) + timedelta(days=rng.randrange(3 * 365))
        if i % 6 == 0:
            flows.append(flow(node, f"in{i}", "income", 90_000, entry_on=on, source="dfe_grant"))
            continue
        entry_kind = rng.choice(["expenditure", "commission", "allocation"])
        sources = [e for e in flows if e["kind"] == "income" and e["node"] == node]
        if not sources:
            continue
        values: dict[str, object] = {"entry_on": on, "category": rng.choice(["delivery", None])}
        if entry_kind == "expenditure" and i % 5 == 0:
            values["details"] = {"activity_ids": [], "asset": asset}
        elif entry_kind == "expenditure":
            values["details"] = {"activity_ids": [], "asset": None}
        if entry_kind == "allocation":
            values["counterpart_node"] = "solihull" if node == "coventry" else "coventry"
        amount = rng.randint(1, 2_000)
        flows.append(flow(node, f"f{i}", entry_kind, amount, **values))
        links.append((node, f"f{i}", str(rng.choice(sources)["entry_id"]), amount))
    undone = [e for e in flows if e["kind"] != "income"][:12]
    for j, e in enumerate(undone):
        later = date(2023, 9, 1) + timedelta(days=rng.randrange(3 * 365))
        flows.append(
            flow(
                str(e["node"]),
                f"rv{j}",
                "reversal",
                int(str(e["amount_pence"])),
                original_entry_id=e["entry_id"],
                sign=-1,
                entry_on=later,
            )
        )
        if j % 3 == 0:  # reinstated
            flows.append(
                flow(
                    str(e["node"]),
                    f"rr{j}",
                    "reversal",
                    int(str(e["amount_pence"])),
                    original_entry_id=e["entry_id"],
                    sign=1,
                    entry_on=later,
                )
            )
    try:
        await _write_ledger(service, flows, links)
        async with service.sessions() as session:
            part = [
                (await allocation.allocation_report(session, kind, period, f)).model_dump()
                for f in (Filters(), Filters(node="coventry"))
            ]
            if kind == "academic":  # the annual return's money: those parts of the report
                for f, report in zip((Filters(), Filters(node="coventry")), part, strict=True):
                    shown = (await allocation.annual_money(session, period, f)).model_dump()
                    assert shown == {k: report[k] for k in shown}, f
                    assert set(shown) == {
                        "income_by_source_pence",
                        "leverage_ratio",
                        "spend_by_function",
                    }
            budgets = await funding.budget_vs_actual(session, kind, period)
            summary = await funding.period_summary(session, kind, period)
            assets = await funding.asset_register(session)
            pages = [
                await dashboard._funding_figures(session, PageFilters(period, kind, node))  # type: ignore[arg-type]
                for node in (None, "coventry")
            ]

            async def whole(session: object, start: date, end: date) -> Ledger:
                return await load_ledger(session)  # type: ignore[arg-type]

            monkeypatch.setattr(allocation, "period_ledger", whole)
            monkeypatch.setattr(funding, "period_ledger", whole)
            monkeypatch.setattr(dashboard, "period_ledger", whole)
            monkeypatch.setattr(funding, "_part_of_ledger", lambda s, which: load_ledger(s))
            assert part == [
                (await allocation.allocation_report(session, kind, period, f)).model_dump()
                for f in (Filters(), Filters(node="coventry"))
            ]
            assert budgets == await funding.budget_vs_actual(session, kind, period)
            assert summary == await funding.period_summary(session, kind, period)
            assert assets == await funding.asset_register(session)
            assert pages == [
                await dashboard._funding_figures(session, PageFilters(period, kind, node))  # type: ignore[arg-type]
                for node in (None, "coventry")
            ]
        assert pages[0].grants and pages[0].flows.links and pages[1].money.spend_by_function
        assert part[0]["spend_by_function"] and part[0]["allocations_to_leads"]
        assert part[0]["income_by_source_pence"] and part[0]["remaining_by_source"]
        assert budgets and len(assets) > 3
    finally:
        await service.stop()


async def test_entries_decoded_once_per_text_are_the_mapped_entries(
    settings: HubSettings, database_url: str
) -> None:
    """Entries read with their details and dates decoded once per distinct text hold what the
    mapped entries do (dates as dates, details as the same dicts, a missing one as None)."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    asset = {"item": "Timpani", "location": "Store", "loaned_to": None}
    flows = [
        flow("coventry", f"e{i}", "expenditure", i + 1, details=details)
        for i, details in enumerate(
            [{}, {"asset": asset}, {"asset": None, "activity_ids": ["a1"]}, {"asset": asset}, {}]
        )
    ]
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(FundingFlowView.__table__), flows)
        async with service.sessions() as session:
            plain = await funding._flows(session, true())
            mapped = (await session.scalars(select(FundingFlowView))).all()
        fields = FundingFlowView.__table__.c.keys()
        assert sorted(tuple(e) for e in plain) == sorted(
            tuple(getattr(m, f) for f in fields) for m in mapped
        )
        assert {type(e.entry_on) for e in plain} == {date}
    finally:
        await service.stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_transfers_from_allocations_and_receipts_are_those_of_the_whole_ledger(
    settings: HubSettings, database_url: str, seed: int
) -> None:
    """Allocations received in full, in part, twice or never, receipts of allocations never sent,
    reversals (chains) of either side, beside income and spend: the transfer checks read from the
    allocations and receipts equal `reconcile` of the whole ledger."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    rng = random.Random(seed)
    flows = [flow(n, f"in-{n}", "income", 900_000) for n in NODES]
    flows += [
        flow(n, f"ex-{n}{i}", "expenditure", rng.randint(1, 900)) for n in NODES for i in range(9)
    ]
    for i in range(30):
        sender = rng.choice(NODES)
        receiver = next(n for n in NODES if n != sender)
        amount = rng.randint(1, 5_000)
        flows.append(flow(sender, f"al{i}", "allocation", amount, counterpart_node=receiver))
        got = rng.choice([amount, amount, amount - 1, None])
        if got is not None:
            named = f"al{i}" if rng.random() < 0.9 else f"never{i}"
            flows.append(
                flow(
                    receiver,
                    f"rc{i}",
                    "received",
                    got,
                    counterpart_node=sender,
                    counterpart_entry_id=named,
                )
            )
    undone = rng.sample([f for f in flows if f["kind"] in ("allocation", "received")], 10)
    for j, e in enumerate(undone):
        for k in range(rng.randint(1, 3)):  # a chain: undone, reinstated, undone
            flows.append(
                flow(
                    str(e["node"]),
                    f"rv{j}-{k}",
                    "reversal",
                    int(str(e["amount_pence"])),
                    original_entry_id=e["entry_id"],
                    sign=-1 if k % 2 == 0 else 1,
                )
            )
    try:
        spends = [f for f in flows if f["kind"] == "expenditure"]
        links = [(str(f["node"]), str(f["entry_id"]), f"in-{f['node']}", 1) for f in spends]
        await _write_ledger(service, flows, links)
        async with service.sessions() as session:
            part = await funding.transfer_checks(session)
            whole = funding.reconcile(await load_ledger(session))
        assert part == whole
        assert {t.status for t in whole} >= {"reconciled", "not received", "amounts differ"}
    finally:
        await service.stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sources_from_sql_are_the_source_figures_of_the_whole_ledger(
    settings: HubSettings, database_url: str, seed: int
) -> None:
    """Income and receipts on shared dates (ids in mixed case, digits and punctuation), drawn on
    by spend, allocations and reversals' links (negative), by entries never recorded, not at all,
    or beyond what they hold, some reversed (chains): the sources summed in SQL equal
    `source_figures` of the whole ledger, in its order."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    rng = random.Random(seed)
    ids = ["In10", "in2", "a-b", "a_b", "A.b", "0x", "Z"] + [f"s{i}" for i in range(30)]
    flows, links = [], []
    for entry_id in ids:
        node = rng.choice(NODES)
        kind = rng.choice(["income", "income", "received"])
        on = date(2024, 9, 1) + timedelta(days=rng.randrange(3))  # many on one date
        flows.append(flow(node, entry_id, kind, rng.randint(0, 9_000), entry_on=on))
        for k in range(rng.choice([0, 0, 0, 1, 2, 3])):  # reversed, reinstated, reversed
            sign = -1 if k % 2 == 0 else 1
            flows.append(
                flow(
                    node, f"rv-{entry_id}-{k}", "reversal", 1, original_entry_id=entry_id, sign=sign
                )
            )
        for j in range(rng.randint(0, 4)):
            spent = f"x-{entry_id}-{j}"
            amount = rng.randint(-500, 4_000)
            if rng.random() < 0.8:
                flows.append(
                    flow(
                        node,
                        spent,
                        rng.choice(["expenditure", "commission", "allocation"]),
                        abs(amount),
                    )
                )
            links.append((node, spent, entry_id, amount))
    try:
        await _write_ledger(service, flows, links)
        async with service.sessions() as session:
            from_sql = await funding.sources(session)
            whole = funding.source_figures(await load_ledger(session))
        assert from_sql == whole
        assert [(s.node, s.entry_id) for s in from_sql] == [(s.node, s.entry_id) for s in whole]
        assert any(s.received_pence == 0 for s in whole) and any(s.drawn_pence for s in whole)
    finally:
        await service.stop()


async def _every_registrations_leads(session: Any, prefix: str) -> dict[str, dict[str, str]]:
    """Each node's lead organisation as the 360Giving export found it before: from every
    registration (the oracle)."""
    leads: dict[str, dict[str, str]] = {}
    for org in sorted(await organisation_rows(session), key=lambda o: (o.node, o.name)):
        if org.node not in leads and any(role in giving360.LEAD_ROLES for role in org.roles):
            leads[org.node] = {
                "id": org.org_id or giving360._internal_org_id(prefix, org.organisation_id),
                "name": org.name,
            }
    return leads


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_lead_organisations_from_the_leads_are_those_of_every_registration(
    settings: HubSettings, database_url: str, seed: int
) -> None:
    """Registrations with lead roles, roles that only look like one (a "leadership" role, a
    "hub-lead" typo), no roles, names shared within a node: the 360Giving export's lead
    organisations read from the registrations naming a lead role are those found in every
    registration."""
    rng = random.Random(seed)
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    roles = [
        ["delivery_partner"],
        ["hub_lead"],
        ["school", "collaborative_lead"],
        ["leadership"],
        ["hub-lead"],
        ["hubxlead"],
        [],
    ]
    rows = [
        {
            "node": rng.choice(AREAS),
            "organisation_id": f"o{i}",
            "org_id": rng.choice([None, f"GB-CHC-{i}"]),
            "name": f"Partner {rng.randint(1, 3)}",
            "roles": rng.choice(roles),
            "areas": [],
            "functions": [],
            "event_id": f"e{i}",
            "state": "active",
        }
        for i in range(40)
    ]
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(OrganisationView.__table__), rows)
        async with service.read_sessions() as session:
            leads = await giving360._lead_organisations(session, "hub")
            oracle = await _every_registrations_leads(session, "hub")
        assert leads == oracle
        assert leads
    finally:
        await service.stop()


async def test_entry_names_and_money_years_are_those_the_whole_ledger_gives(
    settings: HubSettings, database_url: str
) -> None:
    """The names beside ledger ids and the years with money, read as a few columns, are what the
    whole ledger gives: counterparty before title, neither (or empty) unnamed, and an id two nodes
    share named by the later node's entry."""
    service = build_service(settings, "", ReportingSettings(database_url=database_url))
    await service.start(consume=False)
    rng = random.Random(11)
    flows = []
    for i in range(60):
        counterparty = rng.choice([None, "", f"Party {i}"])
        title = rng.choice([None, "", f"Title {i}"])
        on = date(2022, 1, 1) + timedelta(days=rng.randrange(4 * 365))
        for node in rng.sample(NODES, rng.choice([1, 2])):  # some ids on both nodes
            flows.append(
                flow(
                    node,
                    f"e{i}",
                    "income",
                    100,
                    counterparty=counterparty,
                    title=title,
                    entry_on=on,
                )
            )
            counterparty = f"{node} party {i}" if counterparty else counterparty
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(FundingFlowView.__table__), flows)
        async with service.sessions() as session:
            ledger = await load_ledger(session)
            got = (await load_names(session)).entries
            years = {kind: await money_years(session, kind) for kind in ("academic", "financial")}
        assert got == {
            entry_id: e.counterparty or e.title or ""
            for (_, entry_id), e in ledger.entries.items()
            if e.counterparty or e.title
        }
        assert any(
            " party " in name for name in got.values()
        )  # a shared id, named by its later node
        for kind, found in years.items():
            assert found == sorted(
                {period_of(e.entry_on, kind).name for e in ledger.entries.values()}
            )
            assert len(found) >= 4
    finally:
        await service.stop()
