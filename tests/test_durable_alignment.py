"""Reporting's durable at start (services/reporting/ingest/position.py): one made by an older
release, with its 60 s ack wait, is recreated with today's from its acknowledgement floor, so a
killed consumer's batch never waits a minute again; a current one with nothing in flight is left
alone."""

from __future__ import annotations

from nats.js.api import AckPolicy, ConsumerConfig

from services.reporting.ingest.position import ACK_WAIT_SECONDS, align_durable
from shared.bus import connect, ensure_node_stream
from shared.nats_server import NatsServer
from shared.subjects import PREFIX


async def test_an_older_durable_is_recreated_with_todays_ack_wait(
    nats_server: NatsServer, hub_id: str
) -> None:
    nc = await connect(nats_server.url, "test-durable")
    try:
        js = nc.jetstream()
        stream = await ensure_node_stream(js, hub_id, "coventry", 60)
        for _ in range(3):
            await js.publish(f"{PREFIX}.{hub_id}.coventry.partners.X.v1", b"{}")
        old = ConsumerConfig(
            durable_name="reporting",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=f"{PREFIX}.{hub_id}.>",
            ack_wait=60,
        )
        await js.add_consumer(stream, old)
        first = await align_durable(js, stream, hub_id, "reporting", 10, 0)
        info = await js.consumer_info(stream, "reporting")
        assert first.recreated and info.config.ack_wait == ACK_WAIT_SECONDS
        again = await align_durable(js, stream, hub_id, "reporting", 10, 0)
        assert not again.recreated, "a current durable with nothing in flight is left alone"
    finally:
        await nc.close()


async def test_a_durable_acknowledging_each_message_is_recreated_acknowledging_all(
    nats_server: NatsServer, hub_id: str
) -> None:
    """A deployment's durable from before batch acks (explicit acks, today's ack wait), its floor
    and the database at the second of three messages: recreated with AckAll from the third, which is
    delivered next and once; acknowledging it leaves nothing pending."""
    nc = await connect(nats_server.url, "test-durable-acks")
    try:
        js = nc.jetstream()
        stream = await ensure_node_stream(js, hub_id, "coventry", 60)
        for i in range(3):
            await js.publish(f"{PREFIX}.{hub_id}.coventry.partners.X.v1", f"{i}".encode())
        explicit = ConsumerConfig(
            durable_name="reporting",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=f"{PREFIX}.{hub_id}.>",
            ack_wait=ACK_WAIT_SECONDS,
        )
        await js.add_consumer(stream, explicit)
        sub = await js.pull_subscribe_bind("reporting", stream)
        for msg in await sub.fetch(2, timeout=5):
            await msg.ack_sync()
        await sub.unsubscribe()
        aligned = await align_durable(js, stream, hub_id, "reporting", 10, 2)
        info = await js.consumer_info(stream, "reporting")
        assert aligned.recreated and info.config.ack_policy == AckPolicy.ALL
        sub = await js.pull_subscribe_bind("reporting", stream)
        (third,) = await sub.fetch(10, timeout=2)
        assert third.data == b"2" and third.metadata.sequence.stream == 3
        await third.ack_sync()
        info = await js.consumer_info(stream, "reporting")
        assert info.num_ack_pending == 0 and info.num_pending == 0
        again = await align_durable(js, stream, hub_id, "reporting", 10, 3)
        assert not again.recreated
    finally:
        await nc.close()
