"""The dead-letter stream: messages a consumer could not trust, kept with the reason,
never dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.signing import PROOF_HEADERS
from shared.subjects import dlq_stream, dlq_subject

REASON = "Hub-Dlq-Reason"
ORIGINAL_SUBJECT = "Hub-Dlq-Subject"
ORIGINAL_SEQ = "Hub-Dlq-Stream-Seq"
CONSUMER = "Hub-Dlq-Consumer"


@dataclass(frozen=True)
class DeadLetter:
    dlq_seq: int
    consumer: str
    reason: str
    original_subject: str
    original_seq: int
    data: bytes
    proof: dict[str, str] = field(default_factory=dict)
    """The node's batch signature headers the message arrived with (kept so a replay verifies)."""


def dead_letter_headers(
    consumer: str,
    reason: str,
    subject: str,
    stream_seq: int,
    original: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers for a dead letter; the msg id makes a redelivered poison message dead-letter once.
    The original's signature headers come along, so the message can still be verified and
    replayed."""
    return {
        **_proof(original),
        "Nats-Msg-Id": f"dlq:{consumer}:{stream_seq}",
        REASON: reason[:1000],
        ORIGINAL_SUBJECT: subject,
        ORIGINAL_SEQ: str(stream_seq),
        CONSUMER: consumer,
    }


def _proof(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k: headers[k] for k in PROOF_HEADERS if k in headers} if headers else {}


async def publish_dead_letter(
    js: JetStreamContext,
    hub: str,
    consumer: str,
    reason: str,
    subject: str,
    stream_seq: int,
    data: bytes,
) -> None:
    await js.publish(
        dlq_subject(hub, consumer),
        data,
        headers=dead_letter_headers(consumer, reason, subject, stream_seq),
        stream=dlq_stream(hub),
    )


async def list_dead_letters(js: JetStreamContext, hub: str, limit: int = 100) -> list[DeadLetter]:
    """The oldest `limit` dead letters still in the stream."""
    stream = dlq_stream(hub)
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    letters: list[DeadLetter] = []
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq and len(letters) < limit:
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            seq += 1
            continue
        letters.append(_letter(seq, msg.headers or {}, msg.data or b""))
        seq += 1
    return letters


def _letter(seq: int, headers: dict[str, str], data: bytes) -> DeadLetter:
    return DeadLetter(
        dlq_seq=seq,
        consumer=headers.get(CONSUMER, "?"),
        reason=headers.get(REASON, "?"),
        original_subject=headers.get(ORIGINAL_SUBJECT, "?"),
        original_seq=int(headers.get(ORIGINAL_SEQ, "0") or 0),
        data=data,
        proof=_proof(headers),
    )


async def get_dead_letter(js: JetStreamContext, hub: str, seq: int) -> DeadLetter | None:
    """One dead letter by its sequence in the dead-letter stream; None when it is not there."""
    try:
        msg = await js.get_msg(dlq_stream(hub), seq)
    except NotFoundError:
        return None
    return _letter(seq, msg.headers or {}, msg.data or b"")


async def replay_dead_letter(
    dlq_js: JetStreamContext,
    publish_js: JetStreamContext,
    hub: str,
    seq: int,
    fixed: bytes | None = None,
) -> DeadLetter:
    """Republish a dead letter (or its fixed bytes) on its original subject, then delete it.

    `publish_js` must reach a stream that captures the original subject: the node's server (node
    admin) with leaf nodes, the one server otherwise. The Nats-Msg-Id names the dead letter, so a
    replay repeated within the duplicate window is stored once; reporting dedupes on event id.
    """
    letter = await get_dead_letter(dlq_js, hub, seq)
    if letter is None:
        raise LookupError(f"no dead letter {seq} in {dlq_stream(hub)}")
    data, proof = (
        (letter.data, letter.proof) if fixed is None else (fixed, {})
    )  # fixed bytes carry no node proof
    await publish_js.publish(
        letter.original_subject, data, headers={**proof, "Nats-Msg-Id": f"dlq-replay:{hub}:{seq}"}
    )
    await dlq_js.delete_msg(dlq_stream(hub), seq)
    return letter
