"""`hub data-health` on an 80-column terminal keeps every name, time and count whole (a review
found 'activit…', 'warwick…', '2026-12-…')."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from hub.render import health_table


def row(**extra: Any) -> dict[str, Any]:
    return {
        "node": "warwickshire",
        "service": "activities",
        "last_sequence": 25073,
        "applied": 25073,
        "missing": 0,
        "reused": 0,
        "refused": 0,
        "in_hub_stream": 25073,
        "not_yet_applied": 0,
        "node_database": None,
        "node_database_behind": False,
        "last_recorded_at": "2026-12-06T09:31:02.123+00:00",
    } | extra


def shown(rows: list[dict[str, Any]], width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(health_table(rows))
    return console.export_text()


def test_names_times_and_counts_are_whole_at_80_columns() -> None:
    text = shown([row(), row(node="coventry", service="partners", missing=2, refused=1)])
    assert "…" not in text
    for whole in ("warwickshire", "activities", "2026-12-06", "09:31", "25073", "2 missing"):
        assert whole in text, text


def test_a_node_database_behind_its_events_is_shown_and_named() -> None:
    text = shown([row(node_database=25000, node_database_behind=True)], width=120)
    assert "node database" in text and "25000 behind (hub node recover)" in text, text
