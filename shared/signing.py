"""Node signatures: how reporting tells a node's events from forgeries.

A node's relay (``shared.relay``), the one place its events leave it, signs each batch it
publishes once: a Merkle tree (RFC 9162, as Certificate Transparency logs build them) over the
SHA-256 of each message's bytes exactly as published, its root signed with the node's Ed25519
key. Every message carries the signed root and its own inclusion proof in headers, so it can be
verified on its own, from the stream alone, with a few hashes and one signature check per batch
(cached by the verifier). Events published before batch signing carry a signature inside their
envelope (``Envelope.signature``) and still verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from shared.envelope import Envelope, EventHead

BATCH_ROOT = "Hub-Batch-Root"
BATCH_LEAF = "Hub-Batch-Leaf"
BATCH_PROOF = "Hub-Batch-Proof"
BATCH_SIGNATURE = "Hub-Batch-Signature"
PROOF_HEADER_MEANINGS = {
    BATCH_ROOT: "Hex SHA-256 Merkle root of the batch the message was published in.",
    BATCH_LEAF: "`<index>/<size>`: the message's place in its batch (from 0) and the batch's size.",
    BATCH_PROOF: (
        "Base64 of the concatenated 32-byte sibling hashes from the message's leaf up to the root."
    ),
    BATCH_SIGNATURE: "Base64 Ed25519 signature by the node's key over the batch statement.",
}
PROOF_HEADERS = (BATCH_ROOT, BATCH_LEAF, BATCH_PROOF, BATCH_SIGNATURE)

_NOT_IN_BATCH = "message is not in the batch its proof names (altered, moved or truncated proof)"
_VERIFIED_BATCHES_KEPT = 32
"""Verified batches whose tree nodes are remembered: a batch's messages arrive together."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root over `leaves` (leaf hashes) and each leaf's inclusion proof, leaf to root."""
    proofs: list[list[bytes]] = [[] for _ in leaves]

    def subtree(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        split = 1 << ((hi - lo - 1).bit_length() - 1)  # the largest power of two below the width
        left, right = subtree(lo, lo + split), subtree(lo + split, hi)
        for i in range(lo, lo + split):
            proofs[i].append(right)
        for i in range(lo + split, hi):
            proofs[i].append(left)
        return _node_hash(left, right)

    if not leaves:
        raise ValueError("a batch has at least one message")
    return subtree(0, len(leaves)), proofs


Node = tuple[int, int]
"""A node of a batch's tree: (level, index at that level); leaves are level 0."""
ROOT: Node = (-1, 0)
"""Where a verified tree's known nodes keep its root."""


def fold_proof(
    leaf: bytes,
    index: int,
    size: int,
    proof: bytes,
    known: Mapping[Node, bytes] | None = None,
) -> tuple[bytes | None, dict[Node, bytes]]:
    """Walk `proof` (its 32-byte sibling hashes, concatenated) up from `leaf` at `index` of `size`
    (RFC 9162 2.1.3.2): the root it leads to (None if it cannot belong to such a place) and the
    nodes it passed. Given the `known` nodes of an already verified tree (its root under ``ROOT``),
    it stops at the first one it reaches: that tree's root if the node's hash is the one computed,
    else None (most of a batch's messages meet a known node after one or two hashes instead of
    climbing to the root, so siblings are sliced from `proof` only as they are used)."""
    if not 0 <= index < size:
        return None, {}
    fn, sn, level, r = index, size - 1, 0, leaf
    passed: dict[Node, bytes] = {}
    for start in range(0, len(proof), 32):
        if sn == 0:
            return None, passed
        sibling = proof[start : start + 32]
        if fn & 1 or fn == sn:
            r = _node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn, sn, level = fn >> 1, sn >> 1, level + 1
        else:
            r = _node_hash(r, sibling)
        fn, sn, level = fn >> 1, sn >> 1, level + 1
        if known is not None and (seen := known.get((level, fn))) is not None:
            return (known[ROOT] if seen == r else None), passed
        passed[(level, fn)] = r
    return (r if sn == 0 else None), passed


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that `proof` (32-byte sibling hashes, leaf to root) leads to from `leaf`, or None
    if it cannot belong to such a place."""
    return fold_proof(leaf, index, size, b"".join(proof))[0]


def batch_statement(hub: str, node: str, size: int, root: bytes) -> bytes:
    """What a node's key signs for a batch: whose batch it is, how many messages, and their root."""
    return f"hub-ledger batch v1\n{hub}\n{node}\n{size}\n".encode() + root


class NodeSigner:
    """A node's private key: signs the batches its relay publishes."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> NodeSigner:
        return cls(SigningKey(base64.b64decode(path.read_text().strip())))

    @classmethod
    def generate(cls) -> NodeSigner:
        return cls(SigningKey.generate())

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self._key.verify_key)).decode()

    def private_key_text(self) -> str:
        return base64.b64encode(bytes(self._key)).decode()

    def sign_batch(self, hub: str, node: str, bodies: Sequence[bytes]) -> list[dict[str, str]]:
        """The proof headers of each message in a batch, in order: one signature for them all."""
        root, proofs = merkle_tree([leaf_hash(b) for b in bodies])
        size = len(bodies)
        signature = base64.b64encode(
            self._key.sign(batch_statement(hub, node, size, root)).signature
        ).decode()
        root_hex = root.hex()
        return [
            {
                BATCH_ROOT: root_hex,
                BATCH_LEAF: f"{i}/{size}",
                BATCH_PROOF: base64.b64encode(b"".join(p)).decode(),
                BATCH_SIGNATURE: signature,
            }
            for i, p in enumerate(proofs)
        ]

    def sign(self, envelope: Envelope) -> Envelope:
        """An envelope with its own signature, as nodes signed before batch signing (tests and
        fixtures of that format use it; relays sign batches)."""
        signature = self._key.sign(envelope.signing_bytes()).signature
        return envelope.model_copy(update={"signature": base64.b64encode(signature).decode()})


class NodeKeys:
    """Registry of node public keys the hub trusts; verifies a message against its claimed node.

    A node may have several keys (``{"coventry": ["new", "old"]}``): after a key rotation, events
    signed with the retired key must still verify when streams are replayed.
    """

    def __init__(self, public_keys: Mapping[str, str | list[str]]) -> None:
        self._public_keys = dict(public_keys)
        self._keys = {
            node: [
                VerifyKey(base64.b64decode(k)) for k in ([keys] if isinstance(keys, str) else keys)
            ]
            for node, keys in public_keys.items()
        }
        self._verified: dict[tuple[str, str, int, str], dict[Node, bytes]] = {}
        """Batches (hub, node, size, hex root) whose signature verified → their tree nodes
        seen verified."""

    def __reduce__(self) -> tuple[type[NodeKeys], tuple[dict[str, str | list[str]]]]:
        """Pickled as the public keys it was made from (a consumer's worker processes check
        signatures too)."""
        return NodeKeys, (self._public_keys,)

    def problem(
        self, envelope: EventHead, data: bytes, headers: Mapping[str, str] | None
    ) -> str | None:
        """None if the message (`data` as published, with its `headers`) is signed by one of its
        node's keys, else the reason it is not trusted. A signature in the envelope (events
        published before batch signing) is checked over an `Envelope`, as `parse_event` reads it
        (`read_event` reads no other kind)."""
        keys = self._keys.get(envelope.node)
        if not keys:
            return f"unknown node {envelope.node!r}: no public key registered"
        if headers and BATCH_SIGNATURE in headers:
            return self._batch_problem(envelope, data, headers, keys)
        if isinstance(envelope, Envelope) and envelope.signature:
            return self._envelope_problem(envelope, keys)
        return f"unsigned event from node {envelope.node!r}"

    def _batch_problem(
        self, envelope: EventHead, data: bytes, headers: Mapping[str, str], keys: list[VerifyKey]
    ) -> str | None:
        try:
            root_hex, leaf, proof_text = (
                headers[BATCH_ROOT],
                headers[BATCH_LEAF],
                headers[BATCH_PROOF],
            )
            index_text, _, size_text = leaf.partition("/")
            index, size = int(index_text), int(size_text)
            proof = base64.b64decode(proof_text, validate=True)
        except (KeyError, ValueError, binascii.Error):
            return "batch proof headers missing or malformed"
        if len(proof) % 32:
            return "batch proof is not a whole number of hashes"
        batch = (envelope.hub, envelope.node, size, root_hex)  # what the batch signature covers
        known = self._verified.get(batch)
        reached, passed = fold_proof(leaf_hash(data), index, size, proof, known)
        # a known tree's root is the one its batch names (kept only once the two matched)
        root = known[ROOT] if known is not None else None
        if reached is None or (reached is not root and reached.hex() != root_hex):
            return _NOT_IN_BATCH
        if known is not None:
            known.update(passed)
            return None
        if not self._signed(
            batch_statement(envelope.hub, envelope.node, size, reached),
            headers[BATCH_SIGNATURE],
            keys,
        ):
            return f"batch signature does not verify against node {envelope.node!r}'s key"
        if len(self._verified) >= _VERIFIED_BATCHES_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest batch
        self._verified[batch] = {**passed, ROOT: reached}
        return None

    @staticmethod
    def _signed(statement: bytes, signature_text: str, keys: list[VerifyKey]) -> bool:
        try:
            signature = base64.b64decode(signature_text, validate=True)
        except (ValueError, binascii.Error):
            return False
        for key in keys:
            try:
                key.verify(statement, signature)
                return True
            except (BadSignatureError, ValueError):
                continue
        return False

    @staticmethod
    def _envelope_problem(envelope: Envelope, keys: list[VerifyKey]) -> str | None:
        assert envelope.signature is not None
        try:
            signature = base64.b64decode(envelope.signature, validate=True)
        except ValueError:
            return "signature is not base64"
        for key in keys:
            try:
                key.verify(envelope.signing_bytes(), signature)
                return None
            except (BadSignatureError, ValueError):
                continue
        return f"signature does not verify against node {envelope.node!r}'s key"


def node_key_path(secrets_folder: Path, node: str) -> Path:
    """Where a deployment's secrets folder keeps a node's private key (``hub secrets init``)."""
    return secrets_folder / f"{node}.key"


class MissingNodeKey(RuntimeError):
    """A node configured to sign has no readable key:
    refuse to start rather than publish unsigned."""


def load_node_signer(key_file: Path | None, secrets_folder: Path, node: str) -> NodeSigner | None:
    """The key a node's relay signs with: `key_file` (``HUB_NODE_KEY_FILE``) when set, which must
    then be readable; else the deployment's secrets folder as ``hub node up`` lays it out; None
    (events published unsigned, for a hub that checks no signatures) when neither has one."""
    path = key_file or node_key_path(secrets_folder, node)
    if key_file is None and not path.exists():
        return None
    try:
        return NodeSigner.from_file(path)
    except (OSError, ValueError, binascii.Error) as exc:
        raise MissingNodeKey(
            f"node {node!r} is configured to sign with {path}, which cannot be read as a key "
            f"({exc}); create the deployment's keys with `hub secrets init`"
        ) from None


def node_keys_path(secrets_folder: Path) -> Path:
    """Where a deployment's secrets folder keeps the node public keys the hub trusts."""
    return secrets_folder / "node-keys.json"


def load_node_keys(keys_file: Path | None, secrets_folder: Path) -> NodeKeys | None:
    """The keys reporting checks signatures with: `keys_file` (``HUB_REPORTING_NODE_KEYS_FILE``)
    when set, else the deployment's secrets folder when it has them (so `hub rebuild` and
    `hub audit verify` in a deployment check signatures without being told); None: no checks."""
    path = keys_file or node_keys_path(secrets_folder)
    if keys_file is None and not path.exists():
        return None
    return NodeKeys(json.loads(path.read_text()))
