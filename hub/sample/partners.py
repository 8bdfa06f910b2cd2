"""Sample partners: the collaborative lead organisations and their delivery partners."""

from __future__ import annotations

from dataclasses import dataclass

from hub.sample import SampleWriter

@dataclass(frozen=True)
class Org:
    name: str
    roles: tuple[str, ...]
    functions: tuple[str, ...]
    org_id: str | None = None


CLOS = {
    "coventry": Org("Coventry Music", ("collaborative_lead",), ("partnerships", "schools", "progression", "inclusion", "sustainability"), "GB-LAE-COV"),
    "warwickshire": Org("Warwickshire Music", ("collaborative_lead", "hub_lead"), ("partnerships", "schools", "progression", "inclusion", "sustainability")),
    "solihull": Org("Solihull Music", ("collaborative_lead",), ("partnerships", "schools", "progression", "inclusion", "sustainability"), "GB-LAE-SOL"),
}

PARTNERS = {
    "coventry": [
        Org("Midlands Arts Centre (MAC)", ("delivery_partner",), ("inclusion",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("The Tin Music and Arts", ("delivery_partner",), ("progression", "partnerships")),
        Org("Studio X", ("delivery_partner",), ("progression",)),
        Org("Media Mania", ("delivery_partner",), ("inclusion", "progression")),
        Org("Coventry University", ("hub_member",), ("progression", "partnerships")),
        Org("Armonico Consort", ("delivery_partner",), ("progression",)),
        Org("Conductive Music", ("delivery_partner",), ("schools",)),
        Org("Drake Music", ("delivery_partner",), ("inclusion", "sustainability")),
        Org("Royal Birmingham Conservatoire", ("hub_member",), ("progression",)),
        Org("Coventry Cathedral", ("delivery_partner",), ("progression",)),
        Org("Creative Optimistic Visions", ("delivery_partner",), ("inclusion",)),
        Org("Wild Earth", ("delivery_partner",), ("inclusion",)),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",)),
        Org("Positive Youth Foundation", ("delivery_partner",), ("inclusion", "progression")),
        Org("Coventry Corps of Drums", ("delivery_partner",), ("progression",)),
        Org("Talking Birds", ("delivery_partner",), ("progression",)),
        Org("University of Warwick", ("hub_member",), ("progression",)),
    ],
    "warwickshire": [
        Org("Warwick Arts Centre", ("delivery_partner",), ("partnerships", "progression")),
        Org("Royal Shakespeare Company", ("delivery_partner",), ("partnerships",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("Armonico Consort", ("delivery_partner",), ("progression", "schools")),
        Org("Drake Music", ("delivery_partner",), ("inclusion",)),
    ],
    "solihull": [
        Org("The Core Theatre Solihull", ("delivery_partner",), ("partnerships",)),
        Org("Orchestra of the Swan", ("delivery_partner",), ("progression",)),
        Org("Royal Birmingham Conservatoire", ("hub_member",), ("progression",)),
        Org("Quench Arts", ("delivery_partner",), ("inclusion",)),
    ],
}


async def load(writer: SampleWriter, nodes: list[str]) -> None:
    for node in nodes:
        orgs = [CLOS.get(node, Org(f"{node.title()} Music", ("collaborative_lead",), ("partnerships",)))]
        orgs += PARTNERS.get(node, [])
        ids = []
        for org in orgs:
            body = {"name": org.name, "roles": list(org.roles), "areas": [node], "functions": list(org.functions)}
            if org.org_id:
                body["org_id"] = org.org_id
            ids.append((await writer.post(node, "partners", "/organisations", body))["organisation_id"])
        writer.load.organisations[node] = ids
