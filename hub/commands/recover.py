"""``hub node recover``: bring a restored node's databases forward from its own events in
the streams.

Reads each service's events after its database's position from the node's stream (as the node's
admin) and, where this data folder also holds the hub's credentials, from the hub stream; then
``shared.node_recovery.recover`` restores them with the service's restorers (deploy/RUNBOOK.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from nats.aio.client import Client

from hub.locate import (
    OperatorError,
    connect_once,
    hub_nats_url,
    jetstream_errors,
    nats_session,
    node_nats_url,
)
from shared.identity import SERVICES
from shared.node_position import last_sequence, service_subjects
from shared.node_recovery import Recovery, Restorer, recover, refill_node_stream
from shared.settings import HubSettings
from shared.subjects import hub_stream, node_stream


def restorers(service: str) -> dict[str, Restorer]:
    """The service's own restorers (``services/<service>/restore.py``)."""
    found: dict[str, Restorer] = importlib.import_module(f"services.{service}.restore").RESTORERS
    return found


Say = Callable[[str], None]


async def recover_node(
    settings: HubSettings, node: str, node_url: str | None, hub_url: str | None, say: Say
) -> list[Recovery]:
    """Recover every service of `node`; `say` reports progress in one line each."""
    if node not in settings.nodes:
        raise OperatorError(f"{node!r} is not one of the hub's nodes {settings.nodes} (HUB_NODES)")
    url = node_nats_url(settings, node, node_url)
    nc = await connect_once(url, f"hub-recover-{node}")
    hub_nc = None
    try:
        hub = hub_url or hub_nats_url(settings)
        if hub != url:
            try:
                hub_nc = await connect_once(hub, "hub-recover-hub")
            except OperatorError as exc:
                say(f"hub stream not read ({exc}); recovering from the node stream only")
        with jetstream_errors(url):
            await _refill_node_stream(settings, node, nc, hub_nc, say)
            return [
                await _recover_service(settings, node, service, nc, hub_nc, say)
                for service in SERVICES
            ]
    finally:
        if hub_nc is not None:
            await hub_nc.close()
        await nc.close()


async def _refill_node_stream(
    settings: HubSettings, node: str, nc: Client, hub_nc: Client | None, say: Say
) -> None:
    """First the node stream: a restored one gets back, in order, what the hub stream took from
    it since the backup, so that the hub's source, which resumes after the last node stream
    sequence it took, misses none of the node's new messages."""
    node_js = nc.jetstream(timeout=3)
    hub_js = hub_nc.jetstream(timeout=3) if hub_nc is not None else node_js
    put_back = await refill_node_stream(
        node_js,
        node_stream(settings.hub, node),
        hub_js,
        hub_stream(settings.hub),
        settings.hub,
        node,
    )
    if put_back:
        say(f"{node}: put {put_back} message(s) back into the node stream from the hub stream")


async def _recover_service(
    settings: HubSettings, node: str, service: str, nc: Client, hub_nc: Client | None, say: Say
) -> Recovery:
    node_js = nc.jetstream(timeout=3)
    streams = [(node_js, node_stream(settings.hub, node))]
    streams.append(
        (hub_nc.jetstream(timeout=3) if hub_nc is not None else node_js, hub_stream(settings.hub))
    )
    in_node = await last_sequence(
        node_js, node_stream(settings.hub, node), service_subjects(settings.hub, node, service)
    )
    from hub.runner import NODE_SERVICES

    svc = NODE_SERVICES[service].build_service(settings, node, nats_url="")
    await svc.start(
        relay=False
    )  # migrated, no relay: the running node's services refuse writes meanwhile
    try:
        result = await recover(svc.sessions, svc.outbox, restorers(service), streams, in_node)
    finally:
        await svc.stop()
    if result.restored:
        say(
            f"{node} {service}: restored events {result.from_sequence + 1}..{result.to_sequence} "
            f"({result.republish} to republish to the node stream)"
        )
        for note in result.notes:
            say(f"  {note}")
    else:
        say(f"{node} {service}: up to date at sequence {result.from_sequence}")
    return result


async def stream_positions_at(
    settings: HubSettings, nats_url: str | None
) -> dict[tuple[str, str], int]:
    """Per node service, the last sequence in the hub stream
    (the deployment's hub NATS, found as `hub_nats_url`)."""
    from nats.js.errors import NotFoundError

    from services.reporting.ingest.completeness import stream_positions

    url = hub_nats_url(settings, nats_url)
    async with nats_session(url, "hub-data-health") as nc:
        js = nc.jetstream(timeout=3)
        try:
            await js.stream_info(hub_stream(settings.hub))
        except NotFoundError:  # no hub stream yet: nothing in it
            return {}
        return await stream_positions(js, settings.hub, hub_stream(settings.hub), settings.nodes)


async def database_positions(settings: HubSettings) -> dict[tuple[str, str], int]:
    """Per node service whose database this machine reaches:
    the last sequence its outbox numbered."""
    from sqlalchemy import text

    from shared.db import create_engine

    found: dict[tuple[str, str], int] = {}
    for node in settings.nodes:
        for service in SERVICES:
            if (
                settings.database_url is None
                and not (settings.data_dir / node / f"{service}.db").is_file()
            ):
                continue  # before asking for the URL, which makes the node's folder
            url = settings.node_database_url(node, service)
            engine = create_engine(url, writer=False)
            try:
                async with engine.connect() as conn:
                    found[(node, service)] = int(
                        await conn.scalar(
                            text("SELECT position FROM outbox_cursor WHERE name = 'sequence'")
                        )
                        or 0
                    )
            except (
                Exception
            ):  # not reachable from here, or not migrated yet: nothing to say about it
                continue
            finally:
                await engine.dispose()
    return found
