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
    public_url: str | None = Field(
        default=None,
        description="Base URL partners reach this node's activities service at, for invitation "
        "links (default: the address the request came to, or 127.0.0.1 and the service's port).",
    )
    invitation_days: int = Field(default=14, ge=1, le=90, description="Days an invitation works.")
    session_days: int = Field(
        default=30, ge=1, le=180, description="Days a partner stays signed in."
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for sending invitations; unset: links are shown only.",
    )
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_from: str = "returns@hub-ledger.invalid"
    partners_url: str | None = Field(
        default=None,
        description="The node's partners service, asked for its settings register (default: "
        "127.0.0.1 and its port, HubSettings.service_port).",
    )
    partners_token_file: Path | None = Field(
        default=None,
        description="The node's service token for it (default: <data_dir>/secrets/"
        "<node>-service.token when it exists; unneeded when HTTP is open).",
    )
