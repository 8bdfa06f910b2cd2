"""Sample activities: a year of delivery across the five strategic functions."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hub.sample import SampleWriter

FUNCTIONS = {
    "wcet": ["schools"],
    "tuition": ["progression"],
    "ensemble": ["progression", "partnerships"],
    "send_inclusion": ["inclusion"],
    "early_years": ["schools", "inclusion"],
    "workshop": ["inclusion", "partnerships"],
    "performance": ["progression"],
    "cpd": ["schools", "sustainability"],
    "exam": ["progression"],
    "instrument_loan": ["inclusion", "sustainability"],
}
LEVELS = {"wcet": "beginner", "early_years": "early_years", "exam": "intermediate", "performance": "advanced"}


async def load(writer: SampleWriter, nodes: list[str], per_node: int) -> None:
    for node in nodes:
        for _ in range(per_node):
            await writer.post(node, "activities", "/activities", _activity(writer.rng, node, writer.load.organisations[node]))


def _activity(rng: random.Random, node: str, organisation_ids: list[str]) -> dict:
    kind = rng.choice(list(FUNCTIONS))
    start = date(2024, 9, 2) + timedelta(days=rng.randrange(0, 300))
    weeks = 1 if kind in {"workshop", "performance", "exam"} else rng.choice([10, 12, 30])
    headcount = {"wcet": rng.randint(20, 32), "tuition": rng.randint(1, 4), "performance": rng.randint(80, 400)}.get(
        kind, rng.randint(8, 45)
    )
    return {
        "kind": kind,
        "title": f"{kind.replace('_', ' ').title()} ({node.title()}, {start:%b %Y})",
        "delivered_by": rng.choice(organisation_ids),
        "area": node,
        "starts_on": start.isoformat(),
        "ends_on": (start + timedelta(weeks=weeks)).isoformat(),
        "hours": str(weeks * rng.choice([1, 1.5, 2])),
        "headcount": headcount,
        "functions": FUNCTIONS[kind],
        "aims": ["support_schools"] if kind in {"wcet", "cpd"} else ["engage_all", "progress_talent"],
        "level": LEVELS.get(kind, rng.choice(["beginner", "intermediate", "advanced"])),
    }
