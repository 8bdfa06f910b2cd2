"""Settings of the reporting service (``HUB_REPORTING_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.settings import HubSettings, LayeredSettings

NAME = "reporting"


class ReportingSettings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_REPORTING_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Async SQLAlchemy URL; default SQLite under data_dir/hub."
    )
    batch_size: int = Field(
        default=5000,
        ge=1,
        le=10000,
        description=(
            "Most events fetched and applied per transaction: a quiet stream's batches are "
            "smaller (batch_timeout). 5000 ingests a backlog faster than 2000 (fewer fetches, "
            "fewer pages written per event); more gains nothing (docs/benchmarks.md)."
        ),
    )
    batch_timeout: float = Field(
        default=0.05, gt=0, description="Longest wait to fill a batch, in seconds."
    )
    warm_after_seconds: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Once no events have arrived for this long, compute every view for the default period "
            "so the next visitor is served at once; 0 turns it off."
        ),
    )
    node_returns_urls: dict[str, str] = Field(
        default={},
        description=(
            "Where each node's staff invite and review partner returns (its activities service's "
            "/staff/returns), linked from the dashboard; default 127.0.0.1 and the service's port."
        ),
    )
    durable: str = Field(default="reporting", description="JetStream durable consumer name.")
    provision_streams: bool = Field(
        default=True,
        description="Create the hub and dead-letter streams at start (needs stream-admin rights).",
    )
    node_keys_file: Path | None = Field(
        default=None,
        description=(
            "JSON {node: base64 Ed25519 public key}; when set, unsigned or forged events are "
            "dead-lettered."
        ),
    )
    prepare_in_worker: bool = Field(
        default=False,
        description=(
            "With node keys set and more than one core: a worker process checks and prepares half "
            "of each batch while the consumer does the other half. Off: since nodes sign batches, "
            "checking costs too little for the hand-over to pay (docs/benchmarks.md); the worker "
            "takes about 150 MB."
        ),
    )
    ingest_lanes: bool = Field(
        default=True,
        description=(
            "With more than one core and no trace exporter: once a batch of 100 events or more "
            "arrives, two processes prepare and write alternate batches while the consumer fetches "
            "(docs/benchmarks.md); each takes about 100 MB."
        ),
    )
    dashboard_users_file: Path | None = Field(
        default=None,
        description=(
            "JSON of dashboard users (scrypt password hashes, role, node); unset: open, "
            "development only."
        ),
    )
    dashboard_session_secret_file: Path | None = Field(
        default=None,
        description="Secret signing the dashboard session cookie; unset: a new one per process.",
    )
    dashboard_session_hours: int = Field(
        default=8, ge=1, description="How long a dashboard sign-in lasts."
    )
    dashboard_login_attempts: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed sign-ins to one account (four times as many from one client address) before "
            "it is locked."
        ),
    )
    dashboard_login_lock_seconds: float = Field(
        default=300,
        gt=0,
        description=(
            "How long a locked account or client is refused, and the window its failures are "
            "counted in."
        ),
    )
    dashboard_secure_cookie: bool = Field(
        default=False, description="Send the session cookie over HTTPS only."
    )


def reporting_database_url(settings: HubSettings, own: ReportingSettings | None = None) -> str:
    """The one place the reporting database is located (the service, `hub rebuild`, `hub report`,
    `hub data-health`): ``HUB_REPORTING_DATABASE_URL``, else the hub's URL template or SQLite
    file."""
    own = own or ReportingSettings()
    return own.database_url or settings.node_database_url("hub", NAME)


def reporting_sqlite_file(
    settings: HubSettings, own: ReportingSettings | None = None
) -> Path | None:
    """The reporting database's file when it is SQLite (a rebuild replaces it whole), else None."""
    url = make_url(reporting_database_url(settings, own))
    return (
        Path(url.database).resolve()
        if url.get_backend_name() == "sqlite" and url.database
        else None
    )
