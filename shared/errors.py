"""Refusals a use case raises when a request breaks a rule; the HTTP layer maps them to 4xx."""

from __future__ import annotations


class Refused(Exception):
    """A request that is well-formed but not allowed; nothing was stored or published.

    ``fields`` maps a field name to why it is refused, like pydantic's field errors.
    """

    status_code = 409

    def __init__(self, reason: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or {}


class NotFound(Refused):
    status_code = 404


class Invalid(Refused):
    """Input that passes the schema but not a domain rule (e.g. an end date before the start)."""

    status_code = 422
