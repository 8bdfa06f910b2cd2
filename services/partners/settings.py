"""Settings of the partners service (``HUB_PARTNERS_*``); the shared ones are in ``shared.settings``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import LayeredSettings


class PartnersSettings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_PARTNERS_", extra="ignore")

    port: int = 8101
