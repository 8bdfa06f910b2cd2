"""Who may see the dashboard, and what of it: configured users, scrypt password hashes, and the
scope each role gets (enforced on the server, whatever the URL asks for).

Roles as for the API tokens (shared/auth.py): a consortium manager sees the whole hub, node staff
their own node and its areas, an auditor everything; the dashboard writes nothing for anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException

from shared.auth import Role
from shared.files import write_private

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (base64), so the users file reveals nothing usable."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(expected))
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class DashboardUser:
    name: str
    role: Role
    node: str | None = None
    areas: tuple[str, ...] = ()
    """Node staff: the local authority areas they see (default: the area named like their node)."""

    @property
    def whole_hub(self) -> bool:
        return self.role is not Role.NODE_STAFF


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
            password_matches(password, _UNKNOWN_USER_HASH)  # one scrypt either way: no user enumeration by timing
            return None
        return self.user(name) if password_matches(password, str(entry["password_hash"])) else None

    def user(self, name: str) -> DashboardUser | None:
        """The user of a users-file entry; none for node staff without a node (they would see the hub)."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        node = str(entry["node"]) if entry.get("node") else None
        if Role(str(entry["role"])) is Role.NODE_STAFF and node is None:
            return None
        areas = entry.get("areas") or ([node] if node else [])
        return DashboardUser(name, Role(str(entry["role"])), node, tuple(str(a) for a in areas))  # type: ignore[union-attr]


_UNKNOWN_USER_HASH = hash_password("not a password anyone has")


def write_users_file(path: Path, users: dict[str, tuple[str, Role, str | None]]) -> None:
    """Write a users file from name → (password, role, node); hashes only."""
    entries = {name: {"password_hash": hash_password(pw), "role": str(role), "node": node or ""}
               for name, (pw, role, node) in users.items()}
    write_private(path, json.dumps(entries, indent=2))


# ---------------------------------------------------------------- scope


def forced_node(user: DashboardUser, asked: str | None) -> str | None:
    """Node staff always see their own node, whatever the URL asks; others see what they ask."""
    if user.whole_hub:
        return asked
    if asked not in (None, "", user.node):
        raise HTTPException(403, f"{user.name} sees {user.node} only")
    return user.node


HUB_WIDE_VIEWS = frozenset({"summary", "data-health"})
"""Views that list every node whatever the filters: node staff are not shown them."""


def visible_views(user: DashboardUser, names: Iterable[str]) -> list[str]:
    return [n for n in names if user.whole_hub or n not in HUB_WIDE_VIEWS]


def check_view(user: DashboardUser, name: str) -> None:
    if name in HUB_WIDE_VIEWS and not user.whole_hub:
        raise HTTPException(403, f"{user.name} sees {user.node} only; {name} covers every node")


def check_area(user: DashboardUser, area: str | None) -> str | None:
    if area and not user.whole_hub and area not in user.areas:
        raise HTTPException(403, f"{user.name} sees the areas {', '.join(user.areas)} only")
    return area or None


def check_trace(user: DashboardUser, view: str, key: str) -> None:
    """Node staff may expand figures of their own areas and node; hub-wide figures are refused."""
    if user.whole_hub:
        return
    own = {"pupils": user.areas, "wcet": user.areas, "headcount": user.areas, "allocation": (user.node,)}
    if view == "budget" and key.split("/")[0] == user.node:
        return
    if key not in own.get(view, ()):
        raise HTTPException(403, f"{user.name} may trace figures of {user.node} only")
