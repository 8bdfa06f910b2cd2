"""Sample activities: two academic years of delivery, with pupils,
across the five strategic functions.

2023-24: whole class ensemble teaching (WCET, beginner) for Year 4 classes in each area.
2024-25: new Year 4 WCET classes; some of last year's WCET pupils continue (now Year 5) into
intermediate tuition and ensembles; the Heart of England Junior Strings Orchestra, delivered by one
node, draws pupils from all three areas (recorded once, attributed to each pupil's own area); and
headcount-only work (CPD, workshops, performances). Pupils are sent by UPN to the node, which
publishes only pseudonyms. Figures are illustrative, not real returns.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from harness.sample import SampleWriter
from services.activities.domain import ACTIVITY_COLUMNS
from shared import cells
from shared.pseudonym import make_upn

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
LEVELS = {
    "wcet": "beginner",
    "early_years": "early_years",
    "exam": "intermediate",
    "performance": "advanced",
}
LA_CODES = {"coventry": 331, "warwickshire": 937, "solihull": 334}
ETHNICITY = (
    ["white"] * 62
    + ["asian"] * 17
    + ["black"] * 7
    + ["mixed"] * 7
    + ["other"] * 3
    + ["unclassified"] * 4
)
REGIONAL_NODE = "warwickshire"
CLASS_SIZE = 28
BATCH = 1000

REGISTER_COLUMNS = [
    "activity_ref",
    *ACTIVITY_COLUMNS,  # the importer's own list of what describes an activity
    "upn",
    "year_group",
    "send",
    "fsm",
    "looked_after",
    "ethnicity",
    "gender",
    "school_urn",
    "home_area",
]


@dataclass(frozen=True)
class SamplePupil:
    upn: str
    school_urn: str
    home_area: str
    send: str
    fsm: bool
    looked_after: bool
    ethnicity: str
    gender: str


def schools(area: str, count: int = 12) -> list[str]:
    """Illustrative six-digit URNs, distinct per area."""
    return [f"{100000 + LA_CODES.get(area, 900) * 100 + i:06d}" for i in range(count)]


def pupil(rng: random.Random, area: str, school: str, serial: int) -> SamplePupil:
    """A pupil with a valid UPN (LA code, establishment, year, serial) and
    census-like characteristics."""
    la, establishment = LA_CODES.get(area, 900), int(school) % 10000
    digits = f"{la:03d}{establishment:04d}{serial // 1000 % 100:02d}{serial % 1000:03d}"
    roll = rng.random()
    return SamplePupil(
        upn=make_upn(digits),
        school_urn=school,
        home_area=area,
        send="ehcp" if roll < 0.04 else "support" if roll < 0.17 else "none",
        fsm=rng.random() < 0.26,
        looked_after=rng.random() < 0.01,
        ethnicity=rng.choice(ETHNICITY),
        gender=rng.choice(["female", "male"]) if rng.random() < 0.98 else "not_known",
    )


def _activity(
    ref: str,
    kind: str,
    title: str,
    delivered_by: str,
    area: str,
    start: date,
    weeks: int,
    level: str | None,
    setting_urn: str | None = None,
    hours_a_week: float = 1.0,
) -> dict[str, Any]:
    return {
        "activity_ref": ref,
        "kind": kind,
        "title": title,
        "delivered_by": delivered_by,
        "area": area,
        "setting_urn": setting_urn,
        "starts_on": start.isoformat(),
        "ends_on": (start + timedelta(weeks=weeks)).isoformat(),
        "term": _term(start),
        "hours": f"{weeks * hours_a_week:.2f}",
        "functions": ";".join(FUNCTIONS[kind]),
        "aims": "support_schools" if kind in {"wcet", "cpd"} else "engage_all;progress_talent",
        "level": level,
    }


def _term(day: date) -> str:
    season = "autumn" if day.month >= 9 else "spring" if day.month <= 3 else "summer"
    return f"{season} {day.year}"


def _pupil_row(activity: dict[str, Any], p: SamplePupil, year_group: int) -> dict[str, Any]:
    return {
        **activity,
        "upn": p.upn,
        "year_group": str(year_group),
        "send": p.send,
        "fsm": p.fsm,
        "looked_after": p.looked_after,
        "ethnicity": p.ethnicity,
        "gender": p.gender,
        "school_urn": p.school_urn,
        "home_area": p.home_area,
    }


@dataclass
class NodePlan:
    """How a node's activities split: WCET each year, continuation groups,
    the rest headcount-only."""

    wcet_per_year: int
    continuation: int
    regional: bool
    other: int

    @classmethod
    def of(cls, per_node: int, regional: bool) -> NodePlan:
        """Exactly `per_node` activities, so the demo's activity counts stay what was asked for."""
        wcet = max(per_node * 3 // 10, 1 if per_node >= 2 else 0)
        continuation = min(
            max(per_node * 15 // 100, 1 if per_node >= 3 else 0), per_node - 2 * wcet
        )
        regional = regional and per_node > 2 * wcet + continuation
        return cls(wcet, continuation, regional, per_node - 2 * wcet - continuation - int(regional))


def node_register(
    rng: random.Random,
    node: str,
    orgs: list[str],
    plan: NodePlan,
    pools: dict[str, list[SamplePupil]],
    started: set[SamplePupil],
) -> list[dict[str, Any]]:
    """Register rows (pupil rows and headcount rows) for one node's two years of delivery."""
    lead, partners = orgs[0], orgs[1:] or orgs
    rows: list[dict[str, Any]] = []
    urns = schools(node)
    serial = 0
    first_year: list[SamplePupil] = []
    for year, start in ((2023, date(2023, 9, 11)), (2024, date(2024, 9, 9))):
        for i in range(plan.wcet_per_year):
            school = urns[i % len(urns)]
            activity = _activity(
                f"{node}-wcet-{year}-{i}",
                "wcet",
                f"Whole class strings, Year 4 ({school})",
                lead,
                node,
                start + timedelta(days=7 * (i % 3)),
                30,
                "beginner",
                school,
            )
            for _ in range(CLASS_SIZE):
                serial += 1
                p = pupil(rng, node, school, serial)
                pools[node].append(p)
                if year == 2023:
                    first_year.append(p)
                    started.add(p)
                rows.append(_pupil_row(activity, p, 4))
    continuing = rng.sample(first_year, k=min(len(first_year), plan.continuation * 18))
    for i in range(plan.continuation):
        kind = "tuition" if i % 2 else "ensemble"
        title = (
            "Small-group strings, continuing"
            if kind == "tuition"
            else f"{node.title()} Junior Strings"
        )
        activity = _activity(
            f"{node}-continue-2024-{i}",
            kind,
            title,
            rng.choice(partners),
            node,
            date(2024, 9, 16),
            30,
            "intermediate",
            hours_a_week=1.5,
        )
        rows += [_pupil_row(activity, p, 5) for p in continuing[i * 18 : (i + 1) * 18]]
    for i in range(plan.other):
        kind = rng.choice(
            [
                "cpd",
                "workshop",
                "performance",
                "send_inclusion",
                "early_years",
                "instrument_loan",
                "exam",
            ]
        )
        start = date(2024, 9, 2) + timedelta(days=rng.randrange(0, 300))
        weeks = 1 if kind in {"workshop", "performance", "exam"} else rng.choice([10, 12, 30])
        activity = _activity(
            f"{node}-other-2024-{i}",
            kind,
            f"{kind.replace('_', ' ').title()} ({node.title()}, {start:%b %Y})",
            rng.choice(partners),
            node,
            start,
            weeks,
            LEVELS.get(kind, rng.choice(["beginner", "intermediate", "advanced"])),
        )
        heads = {"performance": rng.randint(80, 400), "cpd": rng.randint(8, 30)}.get(
            kind, rng.randint(8, 45)
        )
        rows.append({**activity, "headcount": heads})
    return rows


def regional_orchestra(
    rng: random.Random,
    node: str,
    orgs: list[str],
    pools: dict[str, list[SamplePupil]],
    started_2023: set[SamplePupil],
) -> list[dict[str, Any]]:
    """One orchestra, recorded once by its deliverer, with members from every area's pool."""
    activity = _activity(
        "hoe-junior-orchestra-2024",
        "ensemble",
        "Heart of England Junior Strings Orchestra",
        orgs[0],
        node,
        date(2024, 9, 21),
        36,
        "intermediate",
        hours_a_week=2,
    )
    members = [p for pool in pools.values() for p in rng.sample(pool, k=min(len(pool), 20))]
    return [_pupil_row(activity, p, 5 if p in started_2023 else 4) for p in members]


async def load(writer: SampleWriter, nodes: list[str], per_node: int) -> None:
    """Send every node's register through its bulk endpoint, in batches of whole activities."""
    pools: dict[str, list[SamplePupil]] = {node: [] for node in nodes}
    started_2023: set[SamplePupil] = set()
    registers = {}
    regional = REGIONAL_NODE if REGIONAL_NODE in nodes else nodes[0]
    plans = {node: NodePlan.of(per_node, regional=node == regional) for node in nodes}
    for node, plan in plans.items():
        registers[node] = node_register(
            writer.rng, node, writer.load.organisations[node], plan, pools, started_2023
        )
    if plans[regional].regional:
        registers[regional] += regional_orchestra(
            writer.rng, regional, writer.load.organisations[regional], pools, started_2023
        )
    for node, rows in registers.items():
        for batch in _batches(rows):
            await _post_register(writer, node, batch)
    await _returns(writer, nodes)


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for ref in dict.fromkeys(r["activity_ref"] for r in rows):
        group = [r for r in rows if r["activity_ref"] == ref]
        if batch and len(batch) + len(group) > BATCH:
            yield batch
            batch = []
        batch += group
    if batch:
        yield batch


async def _post_register(writer: SampleWriter, node: str, rows: list[dict[str, Any]]) -> None:
    body = {"rows": [{k: v for k, v in r.items() if v is not None} for r in rows]}
    response = await writer.clients[(node, "activities")].post("/activities/register", json=body)
    if response.status_code != 201:
        raise RuntimeError(
            f"{node} activities register: {response.status_code} {response.text[:2000]}"
        )
    events = response.json()["events"]
    writer.load.writes[f"{node}/activities"] += events
    if writer.progress:
        writer.progress(events)


async def _returns(writer: SampleWriter, nodes: list[str]) -> None:
    """Each node expects 2024-25 returns from two partners; one arrived late,
    the other is missing."""
    for node in nodes:
        partners = writer.load.organisations[node][1:3]
        for partner in partners:
            body = {"partner_id": partner, "academic_year": "2024-25", "due_on": "2025-07-31"}
            await writer.post(node, "activities", "/returns/expected", body)
        if partners:
            submitted = {
                "partner_id": partners[0],
                "academic_year": "2024-25",
                "submitted_on": "2025-08-14",
                "file_digest": hashlib.sha256(f"{node} partner return".encode()).hexdigest(),
                "activities": 3,
                "participations": 0,
            }
            await writer.post(node, "activities", "/returns", submitted)


def write_register(
    path: Path,
    rows: int,
    *,
    node: str = "coventry",
    seed: int = 7,
    delivered_by: str = "01a2011f-0000-7000-8000-000000000001",
) -> int:
    """A CSV register of about `rows` pupil rows (classes of 28), for trying and timing imports."""
    rng = random.Random(seed)
    urns = schools(node, 50)
    written = 0

    def lines() -> Iterator[list[Any]]:
        nonlocal written
        for i in range((rows + CLASS_SIZE - 1) // CLASS_SIZE):
            school = urns[i % len(urns)]
            activity = _activity(
                f"{node}-reg-{seed}-{i}",
                "wcet",
                f"Whole class brass ({school})",
                delivered_by,
                node,
                date(2024, 9, 9),
                30,
                "beginner",
                school,
            )
            for _ in range(min(CLASS_SIZE, rows - written)):
                written += 1
                row = _pupil_row(activity, pupil(rng, node, school, written), 4)
                yield [row.get(c, "") for c in REGISTER_COLUMNS]

    with path.open("w", newline="") as f:
        cells.write_csv(f, REGISTER_COLUMNS, lines())
    return written
