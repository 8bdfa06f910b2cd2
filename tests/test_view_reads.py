"""Views read shared rows once per transaction: within one they agree, across two they are fresh."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from shared.settings import HubSettings
from services.reporting.app import build_service
from services.reporting.models.partners import SettingView
from services.reporting.settings import ReportingSettings
from services.reporting.views.accountability import schools_report


def setting(urn: str) -> dict[str, object]:
    return {"node": "coventry", "urn": urn, "organisation_id": urn, "area": "coventry", "la_code": "331",
            "phase": "Primary", "setting_type": "Community school", "state_funded": True}


async def test_a_session_reads_afresh_in_its_next_transaction(settings: HubSettings, tmp_path: Path) -> None:
    service = build_service(settings, "", ReportingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"))
    await service.start(consume=False)
    try:
        async with service.sessions() as writer, writer.begin():
            await writer.execute(insert(SettingView.__table__), [setting("100001")])
        async with service.read_sessions() as session:
            first = await schools_report(session, "2024-25")
            assert await schools_report(session, "2024-25") is first  # the same transaction: read once
            await session.commit()
            async with service.sessions() as writer, writer.begin():
                await writer.execute(insert(SettingView.__table__), [setting("100002")])
            later = await schools_report(session, "2024-25")
        assert [a.state_funded_schools for a in first.areas] == [1]
        assert [a.state_funded_schools for a in later.areas] == [2]
    finally:
        await service.stop()
