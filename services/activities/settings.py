"""Settings of the activities service (``HUB_ACTIVITIES_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import LayeredSettings


class ActivitiesSettings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_ACTIVITIES_", extra="ignore")

    pseudonym_key_file: Path | None = Field(
        default=None,
        description=(
            "File holding the hub-wide pupil pseudonym key, when HUB_PSEUDONYM_KEY is not set."
        ),
    )
