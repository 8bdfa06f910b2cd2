"""Pupil pseudonyms: a keyed hash of the UPN, so pupils can be counted across nodes without
being named.

A Unique Pupil Number never leaves a node. Nodes derive ``HMAC-SHA256(key, UPN)`` with one
hub-wide secret, so the same pupil recorded at two nodes has one pseudonym, while whoever sees
only events or reporting tables (and not the key) cannot recover or test a UPN. The key comes from
``HubSettings.pseudonym_key``, else a key file, else the deployment's secrets folder
(``<data_dir>/secrets/pseudonym.key``, made by ``hub secrets init``); with none of them (the demo on
SQLite), a random key is generated once and kept under the data folder so every node of that data
folder shares it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.files import write_private
from shared.settings import HubSettings

log = logging.getLogger(__name__)

DEMO_KEY_FILE = "pseudonym.key"
SECRETS_KEY_FILE = "pseudonym.key"
"""In the secrets folder: the key `hub secrets init` creates, for every node (never the hub)."""
_UPN = re.compile(r"^[A-Z]\d{12}$")
_CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
"""DfE check letters for remainders 0-22 (I, O and S are never used)."""


class MissingKey(RuntimeError):
    """No pseudonym key is configured where a generated demo key would be unsafe."""


class InvalidUPN(ValueError):
    """A value that is not a well-formed Unique Pupil Number."""


def upn_check_letter(digits: str) -> str:
    """The DfE check letter of a UPN's last 12 characters: weights 2..13, sum mod 23."""
    total = sum(int(ch) * weight for weight, ch in enumerate(digits, start=2))
    return _CHECK_LETTERS[total % 23]


def normalise_upn(value: str) -> str:
    """Upper-cased, trimmed UPN; raise InvalidUPN unless it is a letter,
    12 digits and the right check letter."""
    upn = value.strip().upper()
    if not _UPN.match(upn):
        raise InvalidUPN("a UPN is 13 characters: a check letter then 12 digits")
    if upn[0] != upn_check_letter(upn[1:]):
        raise InvalidUPN(
            f"check letter {upn[0]} does not match the digits (expected "
            f"{upn_check_letter(upn[1:])})"
        )
    return upn


def make_upn(digits: str) -> str:
    """A valid UPN for 12 digits (LA code, establishment, year, serial): for samples and tests."""
    return upn_check_letter(digits) + digits


@dataclass(frozen=True)
class Pseudonymiser:
    """Turns UPNs into the hub-wide pseudonym; holds the key, so it lives only on nodes."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("a pseudonym key must be at least 16 bytes")

    def __repr__(self) -> str:  # never print the key
        return "Pseudonymiser(key=***)"

    def pseudonym(self, upn: str) -> str:
        """64 hex characters; the same for the same pupil at every node of the hub."""
        return hmac.new(self.key, normalise_upn(upn).encode(), hashlib.sha256).hexdigest()


def new_pseudonym_key() -> str:
    return secrets.token_hex(32)


def load_pseudonymiser(settings: HubSettings, key_file: Path | None = None) -> Pseudonymiser:
    """The key from settings, else from `key_file`, else the secrets folder's, else the data
    folder's demo key (made if missing).

    The demo key is only for the embedded set-up (SQLite under one data folder, as ``hub demo``):
    with an external database the nodes run apart, so a key must be configured.
    """
    if settings.pseudonym_key is not None:
        return Pseudonymiser(settings.pseudonym_key.get_secret_value().encode())
    key_file = key_file or _in_secrets(settings)
    if key_file is not None:
        return Pseudonymiser(key_file.read_bytes().strip())
    if settings.database_url:
        raise MissingKey(
            "nodes on a database server need the hub's pseudonym key: HUB_PSEUDONYM_KEY, "
            f"HUB_ACTIVITIES_PSEUDONYM_KEY_FILE or {settings.secrets_dir / SECRETS_KEY_FILE} "
            "(`hub secrets init` creates it; every node gets the same one): a key generated here "
            "would differ between machines and split every pupil into several pseudonyms"
        )
    path = settings.data_dir / DEMO_KEY_FILE
    if not path.exists():
        log.warning(
            "no pseudonym key configured: generating a demo key in %s (set HUB_PSEUDONYM_KEY in "
            "production)",
            path,
        )
        tmp = path.with_name(f"{DEMO_KEY_FILE}.{secrets.token_hex(4)}")
        write_private(tmp, new_pseudonym_key())
        try:
            os.link(tmp, path)  # atomic: if another node made it first, theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return Pseudonymiser(path.read_bytes().strip())


def _in_secrets(settings: HubSettings) -> Path | None:
    path = settings.secrets_dir / SECRETS_KEY_FILE
    return path if path.exists() else None
