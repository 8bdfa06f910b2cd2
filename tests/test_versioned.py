"""Views computed once per data version: served again until an applied batch moves the version,
never stale, never shared as one mutable object, one computation for concurrent requests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from harness.bench_events import event_mix
from services.reporting.app import build_service
from services.reporting.ingest.apply import Incoming
from services.reporting.read.catalogue import VIEWS, run_view
from services.reporting.read.params import ViewParams
from services.reporting.read.versioned import SESSION_KEY, VersionedCache, fresh_copy
from services.reporting.settings import ReportingSettings
from shared.settings import HubSettings
from tests.helpers import wait_for

NODES = ["coventry", "warwickshire", "solihull"]


async def test_a_new_version_replaces_what_was_held() -> None:
    cache = VersionedCache(capacity=2)
    cache.put((1, "a"), "x", 1)
    cache.put((1, "a"), "y", 2)
    cache.put((1, "a"), "z", 3)  # beyond capacity: the least recently used goes
    assert cache.get((1, "a"), "x") == (False, None)
    assert cache.get((1, "a"), "z") == (True, 3)
    cache.put((2, "b"), "x", 4)
    assert cache.get((1, "a"), "z") == (False, None)
    cache.put((1, "a"), "z", 5)  # computed from an older snapshot: not kept
    assert cache.get((2, "b"), "x") == (True, 4) and cache.get((1, "a"), "z") == (False, None)


async def test_capacity_can_be_counted_in_what_results_weigh() -> None:
    cache = VersionedCache(capacity=10, size=len)  # as the response cache counts bytes
    cache.put((1, "a"), "x", "aaaa")
    cache.put((1, "a"), "y", "bbbb")
    cache.put((1, "a"), "x", "aaaaa")  # replacing a result counts its new weight only
    assert cache.get((1, "a"), "y") == (True, "bbbb")
    cache.put((1, "a"), "z", "cccc")  # 13 > 10: the least recently used goes
    assert cache.get((1, "a"), "x") == (False, None)
    assert cache.get((1, "a"), "y") == (True, "bbbb") and cache.get((1, "a"), "z") == (True, "cccc")


async def test_concurrent_requests_share_one_computation() -> None:
    cache, calls = VersionedCache(), []

    async def compute() -> list[int]:
        calls.append(1)
        await asyncio.sleep(0.05)
        return [1, 2]

    async def current() -> bool:
        return True

    results = await asyncio.gather(
        *(cache.get_or_compute((1, "a"), "k", compute, current) for _ in range(5))
    )
    assert len(calls) == 1 and all(r == [1, 2] for r in results)


async def test_a_result_computed_while_the_version_moved_is_not_kept() -> None:
    cache = VersionedCache()

    async def compute() -> int:
        return 1

    async def moved() -> bool:
        return False

    assert await cache.get_or_compute((1, "a"), "k", compute, moved) == 1
    assert cache.get((1, "a"), "k") == (False, None)


async def test_a_failed_computation_is_not_kept_and_is_retried() -> None:
    cache, calls = VersionedCache(), []

    async def compute() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return 2

    async def current() -> bool:
        return True

    with contextlib.suppress(RuntimeError):
        await cache.get_or_compute((1, "a"), "k", compute, current)
    assert await cache.get_or_compute((1, "a"), "k", compute, current) == 2


async def test_views_are_served_per_version_and_never_stale(
    settings: HubSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"nodes": NODES})  # the events name every node
    service = build_service(
        settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    )
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix(settings.hub, NODES, 600, seed=3))
    ]
    p = ViewParams(hub=settings.hub, nodes=NODES, period="2024-25")
    try:
        await service.ingest(events[:300])
        async with service.read_sessions() as session:
            first = await run_view(session, "inclusion", p)
        misses = service.figures.misses
        async with service.read_sessions() as session:
            again = await run_view(session, "inclusion", p)
        assert (
            service.figures.misses == misses and service.figures.hits >= 1
        )  # served, not computed
        assert (
            again == first and again is not first
        )  # a copy: editing it cannot change the next answer
        again.unique_pupils = -1  # type: ignore[attr-defined]
        async with service.read_sessions() as session:
            assert (await run_view(session, "inclusion", p)) == first

        await service.ingest(events[300:])
        async with service.read_sessions() as session:
            moved = await run_view(session, "inclusion", p)
        async with service.read_sessions() as session:
            session.info.pop(SESSION_KEY)  # no cache: computed from the rows
            fresh = await run_view(session, "inclusion", p)
        assert moved.stamp.applied_events == 600  # type: ignore[attr-defined]
        assert moved.unique_pupils > first.unique_pupils  # type: ignore[attr-defined]
        assert moved == fresh
    finally:
        await service.stop()


async def test_views_are_warmed_once_events_stop_arriving(
    settings: HubSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"nodes": NODES})  # the events name every node
    own = ReportingSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", warm_after_seconds=0.2
    )
    service = build_service(settings, "", own)
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix(settings.hub, NODES, 300, seed=4))
    ]
    try:
        await service.ingest(events)
        assert service.figures.misses == 0  # nothing computed while events may still be coming

        async def warm_done() -> bool:
            task = service.warmer._task
            return task is not None and task.done()

        await wait_for(warm_done, bool)
        warmed = service.figures.misses
        assert warmed >= len(VIEWS)
        version, period = service.figures.version, ViewParams.default_period()
        assert (
            version is not None
            and service.figures.get(version, ("funding page", None, "academic", period))[0]
        )
        assert service.figures.get(
            version, ("evidence", "pupils", "hub", period, "academic", None)
        )[0]
        async with service.read_sessions() as session:
            p = ViewParams(
                hub=settings.hub, nodes=settings.nodes, period=ViewParams.default_period()
            )
            await run_view(session, "annual-return", p)
        assert (
            service.figures.misses == warmed
        )  # the first visitor is served what the warm-up computed
    finally:
        await service.stop()


async def test_after_the_warm_up_every_dashboard_page_only_renders(
    settings: HubSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first visit to any dashboard page after the warm-up computes nothing: the views, the
    curated tables and charts, the names beside ids and the filters' lists are all held, for the
    period warmed and for the year each page opens on when none is asked for."""
    import re

    import httpx

    from services.reporting.app import create_app
    from services.reporting.dashboard import charts, dashboard_pages, routes

    def computed(*_: object, **__: object) -> None:
        raise AssertionError("a page curated or drew what the warm-up should have")

    settings = settings.model_copy(update={"nodes": NODES})  # the events name every node
    own = ReportingSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", warm_after_seconds=0
    )
    service = build_service(settings, "", own)
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix(settings.hub, NODES, 300, seed=4))
    ]
    try:
        await service.ingest(events)
        period = ViewParams.default_period()
        await service.warm(period)
        warmed = service.figures.misses
        for name in ("curate", "describe"):
            monkeypatch.setattr(routes, name, computed)
        for name in ("draw", "bar_chart", "sankey"):
            monkeypatch.setattr(charts, name, computed)
        pages = dashboard_pages(period)
        pages += [re.sub(r"[?&]period=[^&]*$", "", page) for page in pages]  # the default years
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(service)), base_url="http://reporting"
        ) as client:
            for page in pages:
                assert (await client.get(page)).status_code == 200, page
                assert service.figures.misses == warmed, f"{page} computed a figure"
    finally:
        await service.stop()


async def test_no_warm_up_runs_while_a_batch_is_applied(
    settings: HubSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"nodes": NODES})  # the events name every node
    """A batch slower than the quiet period must not find a warm-up competing with it: the warm-up
    waiting when it starts is called off, and the clock starts again once it is applied, even when
    the batch applied nothing new."""
    own = ReportingSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", warm_after_seconds=0.3
    )
    service = build_service(settings, "", own)
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix(settings.hub, NODES, 300, seed=4))
    ]
    try:
        await service.ingest(events[:150])
        waiting = service.warmer._task
        assert waiting is not None and not waiting.done()
        again = await service.ingest(events[:150])  # a redelivery: nothing new
        assert again.applied == 0 and waiting.cancelled()
        restarted = service.warmer._task
        assert restarted is not waiting and restarted is not None and not restarted.done()
        await restarted
        assert service.figures.misses >= len(VIEWS)
    finally:
        await service.stop()


async def test_responses_are_kept_per_version_and_credentials(
    settings: HubSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"nodes": NODES})  # the events name every node
    import json

    import httpx

    from services.reporting.app import create_app
    from shared.auth import token_digest

    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps({token_digest("reader-token"): {"name": "reader", "role": "auditor"}})
    )
    service = build_service(
        settings.model_copy(update={"auth_tokens_file": tokens}),
        "",
        ReportingSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", warm_after_seconds=0
        ),
    )
    await service.start(consume=False)
    events = [
        Incoming(e.subject, e.body, i + 1)
        for i, e in enumerate(event_mix(settings.hub, NODES, 600, seed=6))
    ]
    app = create_app(service)
    reader = {"Authorization": "Bearer reader-token"}
    try:
        await service.ingest(events[:300])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://reporting"
        ) as client:
            first = await client.get("/report/views/inclusion?period=2024-25", headers=reader)
            computed = (service.figures.hits, service.figures.misses)
            again = await client.get("/report/views/inclusion?period=2024-25", headers=reader)
            assert again.status_code == 200 and again.content == first.content
            assert again.headers["x-report-stamp"] == first.headers["x-report-stamp"]
            assert (
                service.figures.hits,
                service.figures.misses,
            ) == computed  # answered without the view
            assert (
                await client.get("/report/views/inclusion?period=2024-25")
            ).status_code == 401  # no token: refused

            await service.ingest(events[300:])
            moved = await client.get("/report/views/inclusion?period=2024-25", headers=reader)
            assert (
                moved.json()["stamp"]["applied_events"]
                == 600
                != first.json()["stamp"]["applied_events"]
            )
    finally:
        await service.stop()


class _Row(BaseModel):
    group: str | None
    pupils: int
    share: Decimal | None = None


class _Report(BaseModel):
    rows: list[_Row]
    by: dict[str, _Row]
    urns: list[str]
    when: date
    pair: tuple[int, list[int]]


def test_a_held_figure_is_copied_whole_and_shares_nothing_mutable() -> None:
    """`fresh_copy` (each caller's copy of a held figure) equals a deep copy: new models, lists and
    dicts all the way down, plain values shared, which fields were set kept."""
    row = _Row(group="coventry", pupils=3)
    report = _Report(
        rows=[row, _Row(group=None, pupils=1, share=Decimal("12.5"))],
        by={"coventry": row},
        urns=["100001"],
        when=date(2025, 7, 31),
        pair=(1, [2]),
    )
    copied = fresh_copy(report)
    assert copied == copy.deepcopy(report) == report
    assert copied.rows[0].model_fields_set == {"group", "pupils"}
    copied.rows[0].pupils = 99
    copied.by["coventry"].group = "solihull"
    copied.urns.append("100002")
    copied.pair[1].append(3)
    assert report == _Report(
        rows=[_Row(group="coventry", pupils=3), _Row(group=None, pupils=1, share=Decimal("12.5"))],
        by={"coventry": _Row(group="coventry", pupils=3)},
        urns=["100001"],
        when=date(2025, 7, 31),
        pair=(1, [2]),
    )


class _Shared(BaseModel):
    """Frozen, nothing inside can change: copies may share it (as SourceFigures)."""

    model_config = ConfigDict(frozen=True)

    name: str
    pence: int

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> _Shared:
        return self


class _Holder(BaseModel):
    shared: list[_Shared]
    rows: list[_Row]


def test_a_held_figure_shares_the_models_that_copy_as_themselves() -> None:
    """A model with its own `__deepcopy__` is copied as it says (a frozen source: itself), as
    ``copy.deepcopy`` would; the lists holding it and the other models are still new."""
    held = _Holder(shared=[_Shared(name="a", pence=1)], rows=[_Row(group="x", pupils=1)])
    copied = fresh_copy(held)
    assert copied == copy.deepcopy(held) == held
    assert copied.shared[0] is held.shared[0]
    assert copied.shared is not held.shared
    assert copied.rows[0] is not held.rows[0]
