"""Who may sign in to the dashboard: configured users and scrypt password hashes.

What each user may open is the one access policy of the JSON API (shared/auth.py: a dashboard user
is a `Principal`, each page declares its scope); the dashboard writes nothing for anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from shared.auth import Principal, Role
from shared.files import write_private

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (base64), so the users file reveals nothing usable."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return (
        f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}"
        f"${b64(salt).decode()}${b64(digest).decode()}"
    )


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


DashboardUser = Principal
"""A signed-in user: the same principal, with the same policy, as an API token's holder."""

DEVELOPER = DashboardUser("developer (no users configured)", Role.CONSORTIUM_MANAGER)


@dataclass
class Users:
    """The users file: ``{"name": {"password_hash": …, "role": …, "node": …, "areas": […]}}``."""

    entries: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | None) -> Users | None:
        return cls(json.loads(path.read_text())) if path else None

    def authenticate(self, name: str, password: str) -> DashboardUser | None:
        """Blocking (scrypt): call it from a worker thread."""
        entry = self.entries.get(name)
        if entry is None:
            password_matches(
                password, _UNKNOWN_USER_HASH
            )  # one scrypt either way: no user enumeration by timing
            return None
        return self.user(name) if password_matches(password, str(entry["password_hash"])) else None

    def user(self, name: str) -> DashboardUser | None:
        """The user of a users-file entry; none for node staff without a node
        (they would see the hub)."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        node = str(entry["node"]) if entry.get("node") else None
        if Role(str(entry["role"])) is Role.NODE_STAFF and node is None:
            return None
        listed = entry.get("areas") or ([node] if node else [])
        areas = tuple(map(str, listed)) if isinstance(listed, list) else (str(listed),)
        return DashboardUser(name, Role(str(entry["role"])), node, areas)


_UNKNOWN_USER_HASH = hash_password("not a password anyone has")


def write_users_file(path: Path, users: dict[str, tuple[str, Role, str | None]]) -> None:
    """Write a users file from name → (password, role, node); hashes only."""
    entries = {
        name: {"password_hash": hash_password(pw), "role": str(role), "node": node or ""}
        for name, (pw, role, node) in users.items()
    }
    write_private(path, json.dumps(entries, indent=2))
