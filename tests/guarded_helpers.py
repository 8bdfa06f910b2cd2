"""A hub whose services require tokens, as the access-policy and partner-return tests run it: the
people and their tokens, each node's service token, the settings, and schools in a register."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from shared.auth import Role, new_token, service_token_path, token_digest
from shared.settings import HubSettings
from tests.helpers import System

OWN, OTHER = "coventry", "solihull"
STAFF, MANAGER, AUDITOR = "coventry-staff", "manager", "auditor"
SCHOOLS = {
    "103712": "Stoke Park Primary School",
    "103745": "Stoke Heath Primary School",
    "103801": "Whitley Academy",
}


def tokens_file(folder: Path) -> dict[str, str]:
    """API tokens for each role (and Solihull's staff, who post Solihull's data); name -> token."""
    people = {
        STAFF: (Role.NODE_STAFF, OWN),
        "solihull-staff": (Role.NODE_STAFF, OTHER),
        MANAGER: (Role.CONSORTIUM_MANAGER, None),
        AUDITOR: (Role.AUDITOR, None),
    }
    tokens = {name: f"token-{name}-{uuid.uuid4().hex}" for name in people}
    entries = {
        token_digest(tokens[n]): {"name": n, "role": str(r), **({"node": nd} if nd else {})}
        for n, (r, nd) in people.items()
    }
    (folder / "tokens.json").write_text(json.dumps(entries))
    return tokens


def with_service_tokens(folder: Path) -> dict[str, str]:
    """The tests' tokens, and each node's service token where its services look for it."""
    tokens = tokens_file(folder)
    entries = json.loads((folder / "tokens.json").read_text())
    for node in (OWN, OTHER):
        token = tokens[f"{node}-service"] = new_token()
        entries[token_digest(token)] = {"name": f"{node}-service", "role": Role.NODE_SERVICE}
        entries[token_digest(token)]["node"] = node
        path = service_token_path(folder / "secrets", node)
        path.parent.mkdir(exist_ok=True)
        path.write_text(token)
    (folder / "tokens.json").write_text(json.dumps(entries))
    return tokens


def guarded_settings(folder: Path, hub_id: str) -> HubSettings:
    """Coventry and Solihull, every service asking for a token of `folder`'s tokens.json."""
    return HubSettings(
        hub=hub_id,
        data_dir=folder,
        nodes=[OWN, OTHER],
        duplicate_window_seconds=600,
        auth_tokens_file=folder / "tokens.json",
    )


@contextlib.asynccontextmanager
async def started(system: System) -> AsyncIterator[System]:
    """The system running until the block ends, however it ends."""
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


async def add_schools(system: System) -> None:
    """SCHOOLS in Coventry's settings register, for a school to be found by name or URN."""
    for urn, name in SCHOOLS.items():
        body = {"urn": urn, "name": name, "la_code": "331", "phase": "primary"}
        r = await system.post(OWN, "partners", "/settings", {**body, "setting_type": "Academy"})
        assert r.status_code == 201, r.text
