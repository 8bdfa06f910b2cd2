"""Configuration common to every service: environment variables ``HUB_*`` over a TOML file
over defaults.

The TOML file is ``hub.toml`` in the working directory, or the path in ``HUB_CONFIG``.
Services add their own knobs in their ``settings.py`` with a longer prefix (``HUB_FUNDING_*``).
"""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shared.files import private_folder
from shared.identity import Slug

DEFAULT_NODES = ("coventry", "warwickshire", "solihull")
EMBEDDED_NATS_PORT = 14222
"""Where `hub nats` listens, and where every service looks for NATS when ``HUB_NATS_URL``
is unset."""
NODE_PORT_STEP = 10
"""Each node's services listen this many ports above the previous node's
(8111-8113, 8121-8123, …)."""


def config_file() -> Path:
    return Path(os.environ.get("HUB_CONFIG", "hub.toml"))


SMALL_WORDS = frozenset({"of", "and", "the", "in", "on", "for", "to", "upon", "under"})


def slug_in_words(slug: str) -> str:
    """A slug as a name: 'heart-of-england' → 'Heart of England', 'stoke_on_trent' → 'Stoke on
    Trent'."""
    parts = slug.replace("-", " ").replace("_", " ").split()
    return " ".join(
        p if i and p in SMALL_WORDS else p[:1].upper() + p[1:] for i, p in enumerate(parts)
    )


class LayeredSettings(BaseSettings):
    """Base for every settings class: init args, then environment, then the TOML file,
    then defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml, file_secret_settings)


class HubSettings(LayeredSettings):
    """Settings every service and the CLI share."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    hub: Slug = Field(
        default="heart-of-england", description="Hub identifier used in subjects and streams."
    )
    name: str | None = Field(
        default=None,
        max_length=140,
        description=(
            "The hub's name as people write it (exports, 360Giving publisher); "
            "unset: the hub slug in words."
        ),
    )
    nodes: list[Slug] = Field(
        default=list(DEFAULT_NODES), description="Nodes (lead organisations) of the hub."
    )
    data_dir: Path = Field(
        default=Path(".data"), description="Embedded databases and NATS storage live here."
    )
    nats_url: str | None = Field(
        default=None,
        description="External NATS URL(s), comma separated; unset starts an embedded nats-server.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy async URL template with {node} and {service}; unset uses SQLite files."
        ),
    )
    duplicate_window_seconds: int = Field(
        default=24 * 3600, ge=60, description="JetStream dedup window."
    )
    declare_streams: bool = Field(
        default=True, description="Create/update streams at start (off in production)."
    )
    telemetry: Literal["none", "console", "otlp"] = Field(
        default="none", description="Where spans go: nowhere, the console or OTLP."
    )
    metrics: Literal["prometheus", "otlp", "both", "none"] = Field(
        default="prometheus",
        description="Metrics on each service's /metrics, pushed over OTLP, both, or neither.",
    )
    metrics_from: list[IPvAnyNetwork] = Field(
        default=[IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")],
        description="Client networks /metrics answers (others get 403): the scraper's address.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (/v1/traces and /v1/metrics are appended).",
    )
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    node_domains: bool = Field(
        default=False,
        description=(
            "Nodes run their own NATS leaf servers with JetStream domains named after them."
        ),
    )
    node_key_file: Path | None = Field(
        default=None, description="This node's Ed25519 signing key (base64)."
    )
    auth_tokens_file: Path | None = Field(
        default=None,
        description=(
            "JSON of API tokens (sha256) and their roles; unset leaves HTTP open (development)."
        ),
    )
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    rate_limit_per_minute: int = Field(
        default=6000, ge=1, description="Requests per client per minute before 429."
    )
    pseudonym_key: SecretStr | None = Field(
        default=None, description="Hub-wide secret for pupil pseudonyms; held by nodes only."
    )
    reporting_port: int = Field(default=8100, ge=1, le=65535, description="Reporting's HTTP port.")
    partners_port: int = Field(
        default=8101, ge=1, le=65535, description="Partners' HTTP port, plus 10 per node."
    )
    activities_port: int = Field(
        default=8102, ge=1, le=65535, description="Activities' HTTP port, plus 10 per node."
    )
    funding_port: int = Field(
        default=8103, ge=1, le=65535, description="Funding's HTTP port, plus 10 per node."
    )

    def service_port(self, service: str, node: str | None = None) -> int:
        """The one place a service's HTTP port is worked out (``hub serve``, ``hub node up``, the
        demo, the deploy units): ``HUB_<SERVICE>_PORT``, plus 10 for each node from the first, so
        every node's services can share a machine (coventry partners 8111, warwickshire's 8121)."""
        port: int = getattr(self, f"{service}_port")
        if node is None:
            return port
        position = self.nodes.index(node) if node in self.nodes else len(self.nodes)
        return port + NODE_PORT_STEP * (position + 1)

    def with_base_port(self, base: int) -> HubSettings:
        """These settings with every service's port counted from `base` (reporting on it, node
        services on the next ones): the demo's and the tests' layouts on free ports."""
        ports = {
            "reporting_port": base,
            "partners_port": base + 1,
            "activities_port": base + 2,
            "funding_port": base + 3,
        }
        return self.model_copy(update=ports)

    @property
    def display_name(self) -> str:
        """``HUB_NAME``, else the slug in words: 'heart-of-england' → 'Heart of England'."""
        return self.name or slug_in_words(self.hub)

    @property
    def nats_servers(self) -> str:
        """The NATS URL(s) services connect to: ``HUB_NATS_URL``,
        else the embedded server of `hub nats`."""
        return self.nats_url or f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}"

    @property
    def secrets_dir(self) -> Path:
        """The deployment's secrets (``hub secrets init``): NATS passwords, node keys,
        API tokens."""
        return self.data_dir / "secrets"

    def node_database_url(self, node: str, service: str) -> str:
        """Where one service of one node keeps its data."""
        if self.database_url:
            return self.database_url.format(node=node, service=service, hub=self.hub)
        path = (self.data_dir / node / f"{service}.db").resolve()
        private_folder(path.parent)
        return f"sqlite+aiosqlite:///{path}"
