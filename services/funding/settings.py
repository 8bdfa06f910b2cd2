"""Settings of the funding service (``HUB_FUNDING_*``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import LayeredSettings


class FundingSettings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_FUNDING_", extra="ignore")

    port: int = 8103
