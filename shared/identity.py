"""Names that appear in subjects, stream names and database paths, validated in one place."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

_SLUG = r"^[a-z][a-z0-9-]{0,39}$"
_SLUG_RE = re.compile(_SLUG)

Slug = Annotated[str, StringConstraints(pattern=_SLUG)]
"""A hub or node identifier: lower case, digits and hyphens,
safe in NATS subjects and file names."""

SERVICES = ("partners", "activities", "funding")
"""The services that run on every node and publish events."""


def check_slug(value: str, what: str) -> str:
    """Return `value` if it is a valid identifier, else raise ValueError naming `what`."""
    if not _SLUG_RE.match(value):
        raise ValueError(
            f"{what} {value!r} must match {_SLUG} (lower case letters, digits, hyphens)"
        )
    return value


def stream_token(value: str) -> str:
    """Upper-case form used inside JetStream stream names (which allow hyphens but not dots)."""
    return value.upper().replace("-", "_")
