"""The one place that builds NATS subjects and JetStream stream names.

Subjects: ``hl.<hub>.<node>.<service>.<EventType>.v<version>``. A node's stream holds
``hl.<hub>.<node>.>``; the hub stream sources every node stream; dead letters go to
``hldlq.<hub>.<consumer>``, outside every node's subject space.
"""

from __future__ import annotations

from shared.identity import check_slug, stream_token

PREFIX = "hl"
DLQ_PREFIX = "hldlq"


def event_subject(hub: str, node: str, service: str, event_type: str, version: int) -> str:
    """Subject an event is published on."""
    return (
        f"{PREFIX}.{check_slug(hub, 'hub')}.{check_slug(node, 'node')}"
        f".{service}.{event_type}.v{version}"
    )


def node_subjects(hub: str, node: str) -> str:
    """Wildcard covering every event a node publishes."""
    return f"{PREFIX}.{hub}.{node}.>"


def node_stream(hub: str, node: str) -> str:
    """JetStream stream holding one node's events (stored on the node's own server)."""
    return f"HL_{stream_token(hub)}_{stream_token(node)}"


def hub_stream(hub: str) -> str:
    """JetStream stream on the hub that sources every node stream; reporting reads it."""
    return f"HL_{stream_token(hub)}_HUB"


def dlq_stream(hub: str) -> str:
    """Stream of dead-lettered messages, with the reason in their headers."""
    return f"HL_{stream_token(hub)}_DLQ"


def dlq_subject(hub: str, consumer: str) -> str:
    """Subject a consumer dead-letters onto."""
    return f"{DLQ_PREFIX}.{hub}.{consumer}"


def dlq_subjects(hub: str) -> str:
    return f"{DLQ_PREFIX}.{hub}.>"


def parse_event_subject(subject: str) -> dict[str, str] | None:
    """Split an event subject into its parts, or None if it is not one of ours."""
    parts = subject.split(".")
    if len(parts) != 6 or parts[0] != PREFIX or not parts[5].startswith("v"):
        return None
    return {
        "hub": parts[1],
        "node": parts[2],
        "service": parts[3],
        "type": parts[4],
        "version": parts[5][1:],
    }
