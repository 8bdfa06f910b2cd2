"""A node never publishes a sequence the hub has already seen.

A node service numbers its events from its own database (the outbox's ``sequence`` cursor). A
database restored from an older backup would number new events again from where the backup
stood; the node stream (and the hub stream, which sources it) already hold events with those
numbers, so the new ones would be refused or silently skipped downstream and the node and the
hub would disagree for good. Before the relay publishes anything, ``check_outbox_position``
compares the outbox's position with the last sequence of this producer in the node's own
stream and in the hub's; a database behind either is refused, saying how to recover.

The last sequence is read with JetStream direct gets of the last message of each of the
service's subjects (one per contract version), so a node needs no right to read other nodes'
events: its NATS users may ask only for its own subjects.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import all_contracts
from shared.envelope import Envelope
from shared.outbox import SEQUENCE, Outbox, read_cursor
from shared.subjects import event_subject, hub_stream, node_stream

log = logging.getLogger(__name__)

HUB_DOMAIN = "hub"
"""The hub nats-server's JetStream domain (deploy/nats/hub.conf.j2)."""


class NodeBehindItsEvents(RuntimeError):
    """A node service's database has emitted fewer events than its streams already hold."""


@dataclass(frozen=True)
class ProducerPosition:
    """Where one node service stands: its outbox, its node stream, the hub stream
    (None: not reachable)."""

    node: str
    service: str
    outbox: int
    node_stream: int
    hub_stream: int | None

    @property
    def streams(self) -> int:
        return max(self.node_stream, self.hub_stream or 0)

    @property
    def behind(self) -> bool:
        return self.outbox < self.streams


def service_subjects(hub: str, node: str, service: str) -> list[str]:
    """Every subject `service` at `node` can publish on: one per contract and version."""
    return [
        event_subject(hub, node, service, c.event_type, c.version)
        for c in all_contracts()
        if c.service == service
    ]


async def last_sequence(js: JetStreamContext, stream: str, subjects: list[str]) -> int:
    """The highest envelope sequence among the last messages of `subjects` in `stream` (0: none)."""
    highest = 0
    for subject in subjects:
        try:
            msg = await js.get_msg(stream, subject=subject, direct=True)
        except NotFoundError:  # no message on that subject (or no stream yet)
            continue
        highest = max(highest, _sequence(msg.data or b"{}", subject))
    return highest


def _sequence(data: bytes, subject: str) -> int:
    """The envelope's sequence; 0 for a message that is no envelope (reporting dead-letters it, and
    it must not stop a node, `hub data-health` or `hub node recover`)."""
    try:
        return Envelope.model_validate_json(data).sequence
    except ValidationError:
        log.warning("the last message on %s is not an event: its sequence is not counted", subject)
        return 0


async def producer_position(
    sessions: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    nc: Client,
    domains: bool,
    hub_timeout: float = 2.0,
    hub_wait: float = 10.0,
) -> ProducerPosition:
    """Read the three positions of `outbox`'s producer;
    the hub's is None when it does not answer."""
    p = outbox.producer
    subjects = service_subjects(p.hub, p.node, p.service)
    async with sessions() as session:
        emitted = await read_cursor(session, outbox.cursor, SEQUENCE)
    in_node = await last_sequence(nc.jetstream(), node_stream(p.hub, p.node), subjects)
    hub_js = nc.jetstream(domain=HUB_DOMAIN, timeout=hub_timeout) if domains else nc.jetstream()
    in_hub = await _hub_position(hub_js, hub_stream(p.hub), subjects, hub_wait)
    if in_hub is None:
        log.warning(
            "%s %s: the hub stream did not answer within %gs; checked against the node stream only",
            p.node,
            p.service,
            hub_wait,
        )
    return ProducerPosition(p.node, p.service, emitted, in_node, in_hub)


async def _hub_position(
    js: JetStreamContext, stream: str, subjects: list[str], wait: float
) -> int | None:
    """The hub's last sequence, retried for `wait` seconds: a leaf link takes a moment after a
    start. None when the hub is down or unreachable: the node keeps working on its own stream."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            return await last_sequence(js, stream, subjects)
        except Exception:  # no responders, timeout: the link is not up (yet)
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.5)


def refusal(position: ProducerPosition) -> str:
    """One line for the operator: what is behind what, and the command that recovers it."""
    where = "hub" if (position.hub_stream or 0) >= position.node_stream else "node"
    return (
        f"{position.node} {position.service}: its database has emitted events up to sequence "
        f"{position.outbox} but the {where} stream holds them up to {position.streams} (a "
        "database restored from an older backup); not publishing: run `hub node recover --node "
        f"{position.node}` (deploy/RUNBOOK.md)"
    )


async def check_outbox_position(
    sessions: async_sessionmaker[AsyncSession], outbox: Outbox, nc: Client, domains: bool
) -> ProducerPosition:
    """Raise ``NodeBehindItsEvents`` when the database is behind its producer's events in
    either stream."""
    position = await producer_position(sessions, outbox, nc, domains)
    if position.behind:
        raise NodeBehindItsEvents(refusal(position))
    return position
