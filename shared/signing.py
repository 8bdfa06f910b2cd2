"""Ed25519 signatures over event envelopes, so reporting can tell a node's events from forgeries."""

from __future__ import annotations

import base64
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from shared.envelope import Envelope


class NodeSigner:
    """Signs every envelope a node's services emit with the node's private key."""

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

    def sign(self, envelope: Envelope) -> Envelope:
        signature = self._key.sign(envelope.signing_bytes()).signature
        return envelope.model_copy(update={"signature": base64.b64encode(signature).decode()})


class NodeKeys:
    """Registry of node public keys the hub trusts; verifies an envelope against its claimed node.

    A node may have several keys (``{"coventry": ["new", "old"]}``): after a key rotation, events
    signed with the retired key must still verify when streams are replayed.
    """

    def __init__(self, public_keys: dict[str, str | list[str]]) -> None:
        self._public_keys = public_keys
        self._keys = {
            node: [VerifyKey(base64.b64decode(k)) for k in ([keys] if isinstance(keys, str) else keys)]
            for node, keys in public_keys.items()
        }

    def __reduce__(self) -> tuple[type[NodeKeys], tuple[dict[str, str | list[str]]]]:
        """Pickled as the public keys it was made from (a consumer's worker processes check signatures too)."""
        return NodeKeys, (self._public_keys,)

    def problem(self, envelope: Envelope) -> str | None:
        """None if the envelope is signed by one of its node's keys, else the reason it is not trusted."""
        keys = self._keys.get(envelope.node)
        if not keys:
            return f"unknown node {envelope.node!r}: no public key registered"
        if not envelope.signature:
            return f"unsigned event from node {envelope.node!r}"
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
