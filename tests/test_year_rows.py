"""A year's participations held between data versions equal the year read afresh at every version:
new pupils, withdrawn pupils and activities, corrections, ids arriving out of order, two nodes; and
a database with another history is read afresh."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.ingest.consumer import ReportingService
from services.reporting.models.activities import ParticipationView
from services.reporting.read.catalogue import VIEWS, run_view
from services.reporting.read.params import Filters, ViewParams
from services.reporting.read.views.pupils import (
    ALL_COLUMNS,
    FIGURES_KEPT,
    INDEX_COLUMNS,
    figure_of_records,
    pupil_records,
)
from services.reporting.read.views.year_rows import ALL_HELD, INDEX_HELD, YearRows, live_rows
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from shared.subjects import event_subject
from tests.test_contracts import envelope_for

SAMPLES = Path(__file__).parent / "samples"
YEAR = "2024-25"
NODES = ("coventry", "solihull")


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return body


class Events:
    """Signed-off events of two nodes, numbered per producer, as the hub stream carries them."""

    def __init__(self, hub: str, seed: int, year: str = YEAR) -> None:
        self.hub, self.rng, self.year = hub, random.Random(seed), year
        self.sequences: dict[tuple[str, str], int] = {}
        self.stream_seq = 0
        self.activities: dict[str, list[str]] = {n: [] for n in NODES}
        self.pupils: dict[str, list[str]] = {n: [] for n in NODES}

    def event(self, node: str, event_type: str, version: int, payload: dict[str, Any]) -> Incoming:
        service = "activities"
        seq = self.sequences[(node, service)] = self.sequences.get((node, service), 0) + 1
        self.stream_seq += 1
        raw = envelope_for(
            event_type, version, payload, hub=self.hub, node=node, service=service, sequence=seq
        )
        return Incoming(
            event_subject(self.hub, node, service, event_type, version), raw, self.stream_seq
        )

    def activity(self, node: str, *, correct: str | None = None) -> Incoming:
        body = sample("ActivityDelivered.v2")
        activity_id = correct or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        body.update(activity_id=activity_id, academic_year=self.year, area=node)
        if correct:
            body["kind"] = self.rng.choice(["ensemble", "wcet", "tuition"])
            return self.event(node, "ActivityCorrected", 1, {"activity": body, "reason": "typo"})
        self.activities[node].append(activity_id)
        return self.event(node, "ActivityDelivered", 2, body)

    def participation(self, node: str, pupils: int) -> Incoming:
        body = sample("ParticipationRecorded.v1")
        template = body["participants"][0]
        body.update(activity_id=self.rng.choice(self.activities[node]), academic_year=self.year)
        body["participants"] = []
        for _ in range(pupils):
            pid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))  # any order
            self.pupils[node].append(pid)
            pseudonym = f"{self.rng.randrange(40):064x}"  # pupils in several activities
            body["participants"].append(
                {**template, "participation_id": pid, "pseudonym": pseudonym}
            )
        return self.event(node, "ParticipationRecorded", 1, body)

    def withdraw_pupils(self, node: str) -> Incoming:
        body = sample("ParticipationWithdrawn.v1")
        ids = self.rng.sample(self.pupils[node], min(3, len(self.pupils[node])))
        body.update(activity_id=self.activities[node][0], participation_ids=ids)
        return self.event(node, "ParticipationWithdrawn", 1, body)

    def withdraw_activity(self, node: str) -> Incoming:
        activity_id = self.activities[node].pop(self.rng.randrange(len(self.activities[node])))
        body = {**sample("ActivityWithdrawn.v1"), "activity_id": activity_id}
        return self.event(node, "ActivityWithdrawn", 1, body)

    def batch(self) -> list[Incoming]:
        """A few of every kind of change, in a random order within the batch."""
        out = []
        for node in NODES:
            out += [self.activity(node) for _ in range(2)]
            out += [self.participation(node, self.rng.randint(1, 6)) for _ in range(4)]
            out.append(self.withdraw_pupils(node))
            out.append(self.activity(node, correct=self.rng.choice(self.activities[node])))
            if len(self.activities[node]) > 3:
                out.append(self.withdraw_activity(node))
        return out


async def _held_and_fresh(
    service: ReportingService, columns: tuple[str, ...]
) -> tuple[list[Any], list[Any]]:
    """Each record's `columns` and activity, from the service's held years and read afresh."""

    def plain(records: list[Any]) -> list[Any]:
        return [(tuple(getattr(r.p, c) for c in columns), tuple(r.a)) for r in records]

    async with service.read_sessions() as session:  # the service's held years
        held = plain(await pupil_records(session, YEAR, columns=columns))
    async with service.sessions() as session:  # no held years: the year read afresh
        fresh = plain(await pupil_records(session, YEAR, columns=columns))
    return held, fresh


async def _views(sessions: Any) -> dict[str, Any]:
    """Every view of the year, hub-wide and for one node (without the stamp: the read sessions
    keep figures per version, the others compute afresh)."""
    found = {}
    async with sessions() as session:
        for name in VIEWS:
            for nodes in (list(NODES), [NODES[0]]):
                params = ViewParams(hub="h", nodes=nodes, period=YEAR)
                found[f"{name} {nodes}"] = (await run_view(session, name, params)).model_dump(
                    exclude={"stamp"}
                )
    return found


def _service(settings: HubSettings, database_url: str) -> ReportingService:
    settings = settings.model_copy(update={"nodes": list(NODES)})
    return build_service(settings, "", ReportingSettings(database_url=database_url))


async def test_held_years_equal_the_year_read_afresh_at_every_version(
    settings: HubSettings, database_url: str
) -> None:
    service = _service(settings, database_url)
    await service.start(consume=False)
    events = Events(settings.hub, seed=3)
    try:
        for _ in range(6):
            outcome = await service.ingest(events.batch())
            assert not outcome.dead, outcome.dead
            for columns in (ALL_COLUMNS, INDEX_COLUMNS):
                held, fresh = await _held_and_fresh(service, columns)
                assert held == fresh
            assert await _views(service.read_sessions) == await _views(service.sessions)
        assert len(fresh) > 40
        years = service.held_years
        # each held year read once, then only its changes: the year in the two sets of columns,
        # and the year before (progression's levels)
        assert (years.full_reads, years.change_reads) == (3, 15)
        async with service.sessions() as session:
            stamps = set(await session.scalars(select(ParticipationView.change_stamp)))
        assert len(stamps) > 5 and 0 not in stamps  # each batch stamps what it wrote
    finally:
        await service.stop()


async def test_a_database_with_another_history_is_read_afresh(
    settings: HubSettings, tmp_path: Path
) -> None:
    """Held at one database's version, then asked of another that has applied more events of
    another history: the other's year, not the held rows brought up to date."""
    first = _service(settings, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    other = _service(settings, f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    await first.start(consume=False)
    await other.start(consume=False)
    a, b = Events(settings.hub, seed=1), Events(settings.hub, seed=2)
    try:
        await first.ingest(a.batch())
        await other.ingest(b.batch() + b.batch())
        years = YearRows()
        async with first.sessions() as session:
            await years.rows(session, YEAR)
        async with other.sessions() as session:
            held = list(await years.rows(session, YEAR))
        async with other.sessions() as session:
            fresh = list(await YearRows().rows(session, YEAR))
        assert held == fresh and held
        assert (years.full_reads, years.change_reads) == (2, 0)
    finally:
        await first.stop()
        await other.stop()


async def test_a_year_unchanged_keeps_its_join_until_an_activity_of_it_changes(
    settings: HubSettings, database_url: str
) -> None:
    """At a version that wrote none of the year's rows (a burst of another year's events), the
    year's records and the figures made of them are carried, not made again; an activity of the
    year corrected, which writes no participation row, has them made again. At every version the
    held records and every view equal the year read afresh."""
    service = _service(settings, database_url)
    await service.start(consume=False)
    events, later = Events(settings.hub, seed=5), Events(settings.hub, seed=6, year="2025-26")

    async def joins() -> list[Any]:
        async with service.read_sessions() as session:
            return [(await service.held_years.year(session, YEAR, c)).joined for c in HELD]

    async def same_as_afresh() -> None:
        for columns in (ALL_COLUMNS, INDEX_COLUMNS):
            held, fresh = await _held_and_fresh(service, columns)
            assert held == fresh and held
        assert await _views(service.read_sessions) == await _views(service.sessions)

    try:
        for batch in (events.batch(), events.batch()):
            assert not (await service.ingest(batch)).dead
        await same_as_afresh()
        first = await joins()
        # the same producers go on numbering their events, now of the next year
        later.sequences, later.stream_seq = events.sequences, events.stream_seq
        assert not (await service.ingest(later.batch() + later.batch())).dead
        events.stream_seq = later.stream_seq
        await same_as_afresh()
        carried = await joins()
        assert all(a is b for a, b in zip(carried, first, strict=True))
        assert all(join.figures for join in carried)  # profiles and levels, kept with them
        corrected = events.activity(NODES[0], correct=events.activities[NODES[0]][0])
        assert not (await service.ingest([corrected])).dead
        await same_as_afresh()
        assert not any(a is b for a, b in zip(await joins(), first, strict=True))
        async with service.read_sessions() as session:  # many filters: the latest few kept
            for area in range(FIGURES_KEPT + 3):
                filters = Filters(area=f"area {area}")
                await figure_of_records(session, YEAR, filters, INDEX_COLUMNS, len)
        (_, index_join) = await joins()
        assert len(index_join.figures) == FIGURES_KEPT
        assert (len, Filters(area=f"area {FIGURES_KEPT + 2}")) in index_join.figures
    finally:
        await service.stop()


HELD = (ALL_HELD, INDEX_HELD)


async def test_a_year_read_from_the_driver_is_what_sqlalchemy_reads(
    settings: HubSettings, database_url: str
) -> None:
    """`live_rows` takes SQLite's rows from the driver's cursor: read by column name, the same
    values, of the same types (flags as booleans), as SQLAlchemy's own rows."""
    service = _service(settings, database_url)
    await service.start(consume=False)
    try:
        events = Events(settings.hub, seed=7)
        assert not (await service.ingest(events.batch() + events.batch())).dead
        part = ParticipationView.__table__.c
        async with service.sessions() as session:
            for columns in (ALL_HELD, INDEX_HELD):
                ours = await live_rows(session, YEAR, columns)
                query = (
                    select(*(part[c] for c in columns))
                    .where(part.academic_year == YEAR, part.withdrawn.is_(False))
                    .order_by(part.node, part.participation_id)
                )
                theirs = [tuple(r) for r in await session.execute(query)]
                read = [tuple(getattr(r, c) for c in columns) for r in ours]
                assert read == theirs and theirs
                assert {tuple(map(type, r)) for r in read} == {tuple(map(type, r)) for r in theirs}
                if "fsm" in columns:
                    assert {type(r.fsm) for r in ours} == {bool}
    finally:
        await service.stop()
