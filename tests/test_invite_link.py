"""`hub activities invite` (and resend, remind) print the link at the running service's address:
the demo and `hub node up` record where each node service listens in the data folder
(hub/locate.py), so a demo on --base-port 9200 gives links on :9212, not the default :8112."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.commands.activities import _show_link
from hub.locate import record_services, service_url
from services.activities.web_returns import Link

LINK = Link("wr-1", "tok-" + "a" * 39, datetime(2027, 1, 1, tzinfo=UTC), None)


@pytest.fixture(autouse=True)
def _no_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_ACTIVITIES_PUBLIC_URL", "HUB_ACTIVITIES_PORT", "HUB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_the_link_points_at_where_the_running_service_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_services(tmp_path, {("coventry", "activities"): "http://0.0.0.0:9212"})
    record_services(tmp_path, {("solihull", "activities"): "http://127.0.0.1:9232"})
    assert service_url(tmp_path, "coventry", "activities") == "http://127.0.0.1:9212"  # kept
    _show_link("coventry", LINK, "Armonico Consort", "2024-25", "2025-07-31", tmp_path)
    assert f"http://127.0.0.1:9212/return/start/{LINK.token}" in capsys.readouterr().out


def test_without_a_record_the_link_uses_the_configured_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "services.json").write_text("not json")  # unreadable: as if none
    _show_link("coventry", LINK, "Armonico Consort", "2024-25", "2025-07-31", tmp_path)
    assert f"http://127.0.0.1:8112/return/start/{LINK.token}" in capsys.readouterr().out


def test_a_public_url_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ACTIVITIES_PUBLIC_URL", "https://returns.example.org")
    record_services(tmp_path, {("coventry", "activities"): "http://127.0.0.1:9212"})
    _show_link("coventry", LINK, "Armonico Consort", "2024-25", "2025-07-31", tmp_path)
    assert f"https://returns.example.org/return/start/{LINK.token}" in capsys.readouterr().out
