"""Generate docs/events.md, the event catalogue, from the registered contracts."""

from __future__ import annotations

import inspect
from typing import Any

from shared.contracts import EventPayload, NodeRule, all_contracts, is_latest
from shared.envelope import Envelope
from shared.subjects import PREFIX


def event_catalogue() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from `shared/contracts` by `hub docs`; do not edit by hand.",
        "",
        "Every event travels in the same envelope and is published on",
        "`hl.<hub>.<node>.<service>.<EventType>.v<version>`.",
        "",
        "## Envelope",
        "",
        *_fields_table(Envelope.model_json_schema()),
        "",
        *_signature_section(),
    ]
    service = None
    for cls in all_contracts():
        if cls.service != service:
            service = cls.service
            lines += [f"## {service}", ""]
        status = "current" if is_latest(cls) else "superseded: still readable, upcast on read"
        lines += [
            f"### {cls.event_type} v{cls.version} ({status})",
            "",
            inspect.cleandoc(cls.__doc__ or ""),
            "",
            f"Subject: `{PREFIX}.<hub>.<node>.{cls.service}.{cls.event_type}.v{cls.version}`",
            "",
            *_node_fields(cls),
            *_fields_table(cls.model_json_schema()),
            "",
        ]
    return "\n".join(lines)


NODE_RULES = {
    NodeRule.HUB: "one of the hub's nodes",
    NodeRule.OWN: "the publishing node itself",
    NodeRule.OTHER: "another of the hub's nodes",
}


def _node_fields(cls: type[EventPayload]) -> list[str]:
    """Which fields name a node, and which nodes they may name
    (refused at the node, dead-lettered at the hub)."""
    if not cls.node_fields:
        return []
    named = "; ".join(f"`{path}`: {NODE_RULES[rule]}" for path, rule in cls.node_fields.items())
    return [f"Names a node: {named}.", ""]


def _fields_table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        rows.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | "
            f"{prop.get('description', '')} |"
        )
    return rows


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type(prop.get('items', {}))}"
    return str(prop.get("format") or prop.get("type") or "any")


def _signature_section() -> list[str]:
    """The headers a node's relay adds to every message it publishes (``shared.signing``)."""
    from shared import signing

    return [
        "## Signatures",
        "",
        "A node's relay signs each batch it publishes once: a Merkle tree (RFC 9162) over",
        "`SHA-256(0x00 || message bytes)` of each message exactly as published, interior nodes",
        "`SHA-256(0x01 || left || right)`, and the node's Ed25519 signature over",
        '`"hub-ledger batch v1\\n<hub>\\n<node>\\n<size>\\n" || root`. Every message '
        "carries, in headers:",
        "",
        "| header | content |",
        "|---|---|",
        *(
            f"| `{header}` | {meaning} |"
            for header, meaning in signing.PROOF_HEADER_MEANINGS.items()
        ),
        "",
        "Any one message can be verified from its bytes and headers alone: `hub audit "
        "verify-message`,",
        "or by hand as docs/architecture.md shows.",
        "",
    ]
