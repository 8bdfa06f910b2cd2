"""The one resolver for ports and the reporting database, and the README's configuration table
checked against the settings classes the services actually read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.activities.settings import ActivitiesSettings
from services.reporting.settings import (
    ReportingSettings,
    reporting_database_url,
    reporting_sqlite_file,
)
from shared.identity import SERVICES
from shared.settings import HubSettings

README = Path(__file__).resolve().parent.parent / "README.md"
SETTINGS: list[type[BaseSettings]] = [HubSettings, ReportingSettings, ActivitiesSettings]


def environment_names() -> set[str]:
    """Every HUB_* variable some settings class reads."""
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in SETTINGS
        for name in cls.model_fields
    }


def configuration_table() -> list[list[str]]:
    """The variables named in each row of the README's configuration table."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `HUB_")]
    return [re.findall(r"`([^`]+)`", row) for row in rows]


def spelled_out(names: list[str]) -> list[str]:
    """`HUB_X_Y_Z`, `…_W` in one cell: the shorthand shares a prefix of the first name."""
    first, full = names[0], [names[0]]
    for name in names[1:]:
        if not name.startswith("…"):
            full.append(name)
            continue
        words = first.split("_")
        full.append(
            next(
                (
                    p + name[1:]
                    for p in ("_".join(words[:i]) for i in range(len(words), 0, -1))
                    if p + name[1:] in environment_names()
                ),
                name,
            )
        )
    return full


@pytest.mark.parametrize("row", configuration_table(), ids=lambda row: row[0])
def test_every_variable_in_the_readme_is_read_by_a_setting(row: list[str]) -> None:
    assert set(spelled_out(row)) <= environment_names()


@pytest.mark.parametrize("service", [*SERVICES, "reporting"])
def test_a_service_port_setting_is_honoured_and_each_node_gets_its_own(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_NODES", '["coventry","warwickshire"]')
    monkeypatch.setenv(f"HUB_{service.upper()}_PORT", "9000")
    settings = HubSettings()
    assert settings.service_port(service) == 9000
    if service != "reporting":
        assert [settings.service_port(service, n) for n in settings.nodes] == [9010, 9020]
    ports = settings.with_base_port(7000)
    every = [
        ports.service_port("reporting"),
        *(ports.service_port(s, n) for n in settings.nodes for s in SERVICES),
    ]
    assert len(set(every)) == len(every) and min(every) == 7000


def test_reporting_database_is_resolved_in_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = HubSettings(data_dir=tmp_path)
    assert (
        reporting_database_url(settings)
        == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'hub' / 'reporting.db'}"
    )
    assert reporting_sqlite_file(settings) == tmp_path.resolve() / "hub" / "reporting.db"
    template = HubSettings(
        data_dir=tmp_path, database_url="postgresql+asyncpg://h@db/{hub}_{node}_{service}"
    )
    assert (
        reporting_database_url(template)
        == "postgresql+asyncpg://h@db/heart-of-england_hub_reporting"
    )
    assert reporting_sqlite_file(template) is None
    monkeypatch.setenv(
        "HUB_REPORTING_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    )
    assert reporting_database_url(template).endswith("elsewhere.db")
    assert reporting_sqlite_file(settings) == tmp_path.resolve() / "elsewhere.db"
