"""Checks that notice when anything is missing, not only when something was altered.

The hash chain proves the applied events were not changed; it cannot show an event that was never
applied. ``verify_completeness`` (``hub audit verify --stream``) walks the hub stream up to the
position the database reports: every message there must be applied, a copy of an applied event, or
dead-lettered; nothing may be applied past the position. ``stream_positions`` reads, per producer,
the last sequence the hub stream holds, so data health shows a producer reporting is behind on (or
never heard from) at once, without waiting for its next event to reveal the gap.
"""

from __future__ import annotations

from nats.js.client import JetStreamContext
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.ingest.audit import AuditProblem, FetchMessage
from services.reporting.models import HUB_POSITION, AppliedEventRow, IngestPositionRow
from shared.envelope import InvalidEvent, parse_event
from shared.identity import SERVICES
from shared.node_position import last_sequence, service_subjects


class Completeness(BaseModel):
    """The stream against the database, up to the position the database reports."""

    position: int = Field(
        description=(
            "ingest_position.stream_seq: the database says it has taken in the stream to here."
        )
    )
    stream_last_seq: int
    dead_lettered: int = Field(
        description="Messages up to the position refused into the dead letters."
    )
    copies: int = Field(
        description="Messages up to the position that repeat an applied event (same id)."
    )
    problems: list[AuditProblem]


async def verify_completeness(
    session: AsyncSession, fetch: FetchMessage, stream_last_seq: int, dead_lettered: set[int]
) -> Completeness:
    """Every hub stream message up to the reported position is applied, a copy, or dead-lettered."""
    row = await session.get(IngestPositionRow, HUB_POSITION)
    position = row.stream_seq if row is not None else 0
    applied = {
        seq: event_id
        for event_id, seq in await session.execute(
            select(AppliedEventRow.event_id, AppliedEventRow.stream_seq)
        )
    }
    ids = set(applied.values())
    result = Completeness(
        position=position, stream_last_seq=stream_last_seq, dead_lettered=0, copies=0, problems=[]
    )
    if position > stream_last_seq:
        result.problems.append(
            AuditProblem(
                check="completeness",
                detail=(
                    f"the database reports hub stream position {position} but the stream ends at "
                    f"{stream_last_seq}"
                ),
            )
        )
    for seq in sorted(s for s in applied if s > position):
        result.problems.append(
            AuditProblem(
                check="completeness",
                event_id=applied[seq],
                detail=(
                    f"applied from hub stream message {seq}, past the reported position {position}"
                ),
            )
        )
    for seq in range(1, min(position, stream_last_seq) + 1):
        if seq in applied:
            continue
        if seq in dead_lettered:
            result.dead_lettered += 1
            continue
        message = await fetch(seq)
        await _unapplied(seq, message[0] if message else None, ids, result)
    return result


async def _unapplied(
    seq: int, data: bytes | None, applied_ids: set[str], result: Completeness
) -> None:
    if data is None:
        result.problems.append(
            AuditProblem(check="completeness", detail=f"hub stream message {seq} is not available")
        )
        return
    try:
        env = parse_event(data).envelope
    except InvalidEvent as exc:
        result.problems.append(
            AuditProblem(
                check="completeness",
                detail=(
                    f"hub stream message {seq} was neither applied nor dead-lettered ({exc.reason})"
                ),
            )
        )
        return
    if str(env.event_id) in applied_ids:
        result.copies += 1
        return
    result.problems.append(
        AuditProblem(
            check="completeness",
            event_id=str(env.event_id),
            detail=(
                f"hub stream message {seq} ({env.node} {env.service} sequence {env.sequence}) was "
                "never applied nor dead-lettered: a hole"
            ),
        )
    )


async def stream_positions(
    js: JetStreamContext, hub: str, stream: str, nodes: list[str]
) -> dict[tuple[str, str], int]:
    """Per node service: the last sequence the hub stream holds (0: none yet)."""
    return {
        (node, service): await last_sequence(js, stream, service_subjects(hub, node, service))
        for node in nodes
        for service in SERVICES
    }
