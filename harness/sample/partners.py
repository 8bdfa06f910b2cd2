"""Sample partners: the collaborative lead organisations, their delivery partners, the funder, and
schools and settings from a small generated register.

The partner network is the one named in Coventry Music Hub's progression strategy, plus partners
of Warwickshire and Solihull. Their lifecycle states and agreements are illustrative, and no
charity or company number is invented: org-ids are given only for the local authorities and
Arts Council England. ``data/settings.csv`` is generated in the shape of the DfE register of
schools (Get Information about Schools): URNs and LA codes are realistic, the schools are not real.
``data/school-population.csv`` has each area's school population for the two sample years in the
shape of the DfE's local authority table: plausible figures, not the published ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from harness.sample import SampleWriter
from services.partners.services import DFE_COLUMNS, POPULATION_COLUMNS, PopulationRow
from shared.periods import period_of
from shared.tabular import read_table

SETTINGS_CSV = Path(__file__).parent / "data" / "settings.csv"
POPULATION_CSV = Path(__file__).parent / "data" / "school-population.csv"
ALL_FUNCTIONS = ("partnerships", "schools", "progression", "inclusion", "sustainability")
PATH = ("under_review", "approved", "active")
"""The way to active; an agreement is signed between approved and active."""


@dataclass(frozen=True)
class Org:
    name: str
    roles: tuple[str, ...]
    functions: tuple[str, ...]
    org_id: str | None = None
    state: str = "active"
    agreement: str | None = "sla"


ACE = Org(
    "Arts Council England",
    ("funder",),
    ("sustainability",),
    "GB-CHC-1036733",
    state="approved",
    agreement=None,
)
"""Registered at every node: the hub report recognises it as one organisation by its org-id."""

CLOS = {
    "coventry": Org("Coventry Music", ("collaborative_lead",), ALL_FUNCTIONS, "GB-LAE-COV"),
    "warwickshire": Org(
        "Warwickshire Music", ("collaborative_lead", "hub_lead"), ALL_FUNCTIONS, "GB-LAE-WAR"
    ),
    "solihull": Org("Solihull Music", ("collaborative_lead",), ALL_FUNCTIONS, "GB-LAE-SOL"),
}

PARTNERS = {
    "coventry": [
        Org(
            "Midlands Arts Centre (MAC)",
            ("delivery_partner",),
            ("inclusion",),
            agreement="commission",
        ),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("The Tin Music and Arts", ("delivery_partner",), ("progression", "partnerships")),
        Org("Studio X", ("delivery_partner",), ("progression",), agreement="commission"),
        Org("Media Mania", ("delivery_partner",), ("inclusion", "progression")),
        Org("Coventry University", ("hub_member",), ("progression", "partnerships")),
        Org(
            "Armonico Consort",
            ("delivery_partner",),
            ("progression",),
            state="approved",
            agreement=None,
        ),
        Org("Conductive Music", ("delivery_partner",), ("schools",), state="suspended"),
        Org("Drake Music", ("delivery_partner",), ("inclusion", "sustainability")),
        Org("Royal Birmingham Conservatoire", ("hub_member",), ("progression",)),
        Org(
            "Coventry Cathedral",
            ("delivery_partner",),
            ("progression",),
            state="under_review",
            agreement=None,
        ),
        Org(
            "Creative Optimistic Visions",
            ("delivery_partner",),
            ("inclusion",),
            agreement="commission",
        ),
        Org("Wild Earth", ("delivery_partner",), ("inclusion",), state="interest", agreement=None),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",)),
        Org("Positive Youth Foundation", ("delivery_partner",), ("inclusion", "progression")),
        Org(
            "Coventry Corps of Drums",
            ("delivery_partner",),
            ("progression",),
            state="ended",
            agreement=None,
        ),
        Org(
            "Talking Birds",
            ("delivery_partner",),
            ("progression",),
            state="approved",
            agreement=None,
        ),
        Org("University of Warwick", ("hub_member",), ("progression",)),
    ],
    "warwickshire": [
        Org("Warwick Arts Centre", ("delivery_partner",), ("partnerships", "progression")),
        Org(
            "Royal Shakespeare Company",
            ("delivery_partner",),
            ("partnerships",),
            agreement="commission",
        ),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("Armonico Consort", ("delivery_partner",), ("progression", "schools")),
        Org(
            "Drake Music",
            ("delivery_partner",),
            ("inclusion",),
            state="under_review",
            agreement=None,
        ),
    ],
    "solihull": [
        Org("The Core Theatre Solihull", ("delivery_partner",), ("partnerships",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org(
            "Royal Birmingham Conservatoire",
            ("hub_member",),
            ("progression",),
            state="approved",
            agreement=None,
        ),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",), agreement="commission"),
    ],
}


async def load(writer: SampleWriter, nodes: list[str]) -> None:
    """Register every node's network, move each partner to its state,
    then add the area's settings."""
    for node in nodes:
        lead = CLOS.get(
            node, Org(f"{node.title()} Music", ("collaborative_lead",), ("partnerships",))
        )
        ids = []
        for org in [lead, *PARTNERS.get(node, [])]:
            ids.append(await _register(writer, node, org))
        await _register(
            writer, node, ACE
        )  # a funder, not a deliverer: kept out of the ids activities use
        writer.load.organisations[node] = ids
        await _add_settings(writer, node)
        await _add_population(writer, node)


async def _register(writer: SampleWriter, node: str, org: Org) -> str:
    areas = [] if "funder" in org.roles else [node]  # a national funder serves no one LA area
    body: dict[str, object] = {
        "name": org.name,
        "roles": list(org.roles),
        "areas": areas,
        "functions": list(org.functions),
    }
    if org.org_id:
        body["org_id"] = org.org_id
    organisation_id: str = (await writer.post(node, "partners", "/organisations", body))[
        "organisation_id"
    ]
    for state in _steps_to(org.state):
        if state == "active" and org.agreement:
            await _sign(writer, node, organisation_id, org)
        await writer.post(
            node,
            "partners",
            f"/organisations/{organisation_id}/state-changes",
            {
                "to_state": state,
                "decided_by": f"{node.title()} Music senior leadership team",
            },
        )
    return organisation_id


def _steps_to(target: str) -> list[str]:
    """The transitions that take a new registration to `target` through the lifecycle."""
    if target == "interest":
        return []
    if target == "suspended":
        return [*PATH, "suspended"]
    if target == "ended":
        return ["under_review", "ended"]
    return list(PATH[: PATH.index(target) + 1])


async def _sign(writer: SampleWriter, node: str, organisation_id: str, org: Org) -> None:
    """An SLA for this academic year, or a short commission ending soon (so expiry shows)."""
    today = date.today()
    if org.agreement == "commission":
        starts, ends, title = (
            today - timedelta(days=30),
            today + timedelta(days=45),
            f"{org.name} commission",
        )
    else:
        year = period_of(today, "academic")
        starts, ends, title = year.starts_on, year.ends_on, f"{org.name} SLA {year.name}"
    await writer.post(
        node,
        "partners",
        f"/organisations/{organisation_id}/agreements",
        {
            "kind": org.agreement,
            "title": title,
            "starts_on": starts.isoformat(),
            "ends_on": ends.isoformat(),
        },
    )


async def _add_settings(writer: SampleWriter, node: str) -> None:
    """Post the open settings of the node's LA from the sample register, as an import would."""
    from services.partners.domain import LA_AREAS

    _, rows = read_table(SETTINGS_CSV)
    for _, raw in rows:
        setting = {field: raw[column] for column, field in DFE_COLUMNS.items()}
        if LA_AREAS.get(setting["la_code"], ("",))[0] == node and setting["status"] == "Open":
            await writer.post(node, "partners", "/settings", setting)


async def _add_population(writer: SampleWriter, node: str) -> None:
    """Post the node's area's rows of the sample population table, read as the import reads them."""
    from services.partners.domain import LA_AREAS

    _, rows = read_table(POPULATION_CSV)
    for _, raw in rows:
        row = PopulationRow.model_validate(
            {POPULATION_COLUMNS.get(k, k): v for k, v in raw.items()}
        )
        if LA_AREAS.get(row.la_code, ("",))[0] == node:
            await writer.post(node, "partners", "/school-population", row.model_dump(mode="json"))
