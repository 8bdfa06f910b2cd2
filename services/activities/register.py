"""The node's settings register, asked of the node's own partners service over HTTP.

The register lives in the partners service, which this service must not import (a service never
imports another): a partner naming a school by name, and staff inviting a school by URN, ask
`GET /settings` of their node's partners service with the node's service token (a read-only
`node_service` principal, docs/architecture.md). When it cannot be reached the pages say so and a
URN can still be typed: the register helps find a school, it does not gate the return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.activities.settings import ActivitiesSettings
from shared.auth import service_token_path
from shared.settings import HubSettings

log = logging.getLogger(__name__)
MATCHES = 20
"""Settings shown for a search: enough to choose from, few enough to read on a phone."""


@dataclass(frozen=True)
class Setting:
    urn: str
    name: str
    phase: str
    organisation_id: str


class RegisterUnavailable(Exception):
    """The partners service did not answer: say so, and take a typed URN."""


class SettingsRegister:
    """Search the node's settings register by name or URN."""

    def __init__(
        self, base_url: str, token: str | None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url, self.token, self.transport = base_url.rstrip("/"), token, transport
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def at(self, url: str, transport: httpx.AsyncBaseTransport | None = None) -> SettingsRegister:
        """The same register reached at another address (or in-process, through `transport`)."""
        return SettingsRegister(url, self.token, transport)

    async def _get(self, params: dict[str, Any]) -> list[Setting]:
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, headers=self.headers, transport=self.transport, timeout=5
            ) as client:
                response = await client.get("/settings", params=params)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("settings register at %s unavailable: %s", self.base_url, type(exc))
            raise RegisterUnavailable(str(self.base_url)) from None
        return [
            Setting(s["urn"], s["name"], s["phase"], s["organisation_id"]) for s in response.json()
        ]

    async def search(self, text: str) -> list[Setting]:
        """Settings whose name contains `text`, or the one whose URN it is."""
        return await self._get({"q": text.strip()[:100], "limit": MATCHES})

    async def find(self, urn: str) -> Setting | None:
        return next((s for s in await self._get({"q": urn, "limit": 1}) if s.urn == urn), None)


def settings_register(hub: HubSettings, own: ActivitiesSettings, node: str) -> SettingsRegister:
    """The register of `node`: its partners service's URL and the node's service token, from
    configuration (`HUB_ACTIVITIES_PARTNERS_URL`, `…_PARTNERS_TOKEN_FILE`) or the defaults."""
    url = own.partners_url or f"http://127.0.0.1:{hub.service_port('partners', node)}"
    path = own.partners_token_file or service_token_path(hub.secrets_dir, node)
    token = _read(path) if hub.auth_tokens_file else None
    return SettingsRegister(url, token)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        log.warning("no service token at %s: the settings register will refuse", path)
        return None
