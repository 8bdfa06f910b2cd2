"""Pupil pseudonyms: UPNs are checked, keyed hashes are stable per key and differ across keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.pseudonym import (
    DEMO_KEY_FILE,
    InvalidUPN,
    MissingKey,
    Pseudonymiser,
    load_pseudonymiser,
    make_upn,
    normalise_upn,
    upn_check_letter,
)
from shared.settings import HubSettings


def test_check_letter_follows_the_dfe_weights() -> None:
    # digits 2..13 weighted 2..13: 1*2 + 2*3 + ... ; the sum mod 23 indexes A-Z without I, O, S
    digits = "123456789012"
    total = sum(int(d) * w for w, d in enumerate(digits, start=2))
    assert upn_check_letter(digits) == "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23]
    assert normalise_upn(" " + make_upn(digits).lower() + " ") == make_upn(digits)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("A12345678901", "13 characters"),
        ("1234567890123", "13 characters"),
        ("A1234567890X2", "13 characters"),
    ],
)
def test_malformed_upns_are_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidUPN, match=reason):
        normalise_upn(value)


def test_a_wrong_check_letter_is_refused() -> None:
    digits = "331201523001"
    right = upn_check_letter(digits)
    wrong = "A" if right != "A" else "B"
    with pytest.raises(InvalidUPN, match=f"expected {right}"):
        normalise_upn(wrong + digits)


def test_same_key_same_pseudonym_other_key_other_pseudonym() -> None:
    upn = make_upn("331201523001")
    a, b = Pseudonymiser(b"k" * 32), Pseudonymiser(b"k" * 32)
    assert a.pseudonym(upn) == b.pseudonym(upn.lower())
    assert len(a.pseudonym(upn)) == 64 and upn not in a.pseudonym(upn)
    assert Pseudonymiser(b"j" * 32).pseudonym(upn) != a.pseudonym(upn)
    assert "k" * 16 not in repr(a)


def test_key_from_settings_then_file_then_a_persisted_demo_key(tmp_path: Path) -> None:
    upn = make_upn("937000124042")
    configured = load_pseudonymiser(
        HubSettings(data_dir=tmp_path, pseudonym_key=SecretStr("s" * 32))
    )
    assert configured.key == b"s" * 32
    key_file = tmp_path / "key"
    key_file.write_text("f" * 32 + "\n")
    assert load_pseudonymiser(HubSettings(data_dir=tmp_path), key_file).key == b"f" * 32

    demo = load_pseudonymiser(HubSettings(data_dir=tmp_path))
    assert (tmp_path / DEMO_KEY_FILE).exists()
    assert load_pseudonymiser(HubSettings(data_dir=tmp_path)).pseudonym(upn) == demo.pseudonym(upn)
    assert load_pseudonymiser(HubSettings(data_dir=tmp_path / "other")).pseudonym(
        upn
    ) != demo.pseudonym(upn)


def test_no_generated_key_where_nodes_run_apart(tmp_path: Path) -> None:
    apart = HubSettings(
        data_dir=tmp_path, database_url="postgresql+asyncpg://db/hub_{node}_{service}"
    )
    with pytest.raises(MissingKey, match="HUB_PSEUDONYM_KEY"):
        load_pseudonymiser(apart)
    assert not (tmp_path / DEMO_KEY_FILE).exists()


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymiser(b"short")
