"""Settings of the activities service (``HUB_ACTIVITIES_*``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import LayeredSettings


class ActivitiesSettings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_ACTIVITIES_", extra="ignore")

    port: int = 8102
