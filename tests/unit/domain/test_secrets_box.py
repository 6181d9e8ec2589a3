"""Stored secrets across a key rotation, and one derived key per purpose."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet

from meterbell.domain.keys import (
    DOWNLOAD_LINKS,
    ENCRYPTION_AT_REST,
    TOKEN_SIGNING,
    derived_key,
)
from meterbell.domain.secrets_box import SecretBox

KEY_A, KEY_B = "key-a", "key-b"


def test_each_purpose_has_its_own_key() -> None:
    keys = {derived_key(KEY_A, p) for p in (TOKEN_SIGNING, ENCRYPTION_AT_REST, DOWNLOAD_LINKS)}
    assert len(keys) == 3
    assert derived_key(KEY_B, TOKEN_SIGNING) not in keys
    assert KEY_A.encode() not in keys


def test_old_keys_decrypt_and_reseal_moves_to_the_current_key() -> None:
    sealed = SecretBox(KEY_A).seal("webhook secret")
    with pytest.raises(ValueError, match="MB_OLD_SECRET_KEYS"):
        SecretBox(KEY_B).open(sealed)
    rotated = SecretBox(KEY_B, ["unrelated", KEY_A])
    assert rotated.open(sealed) == "webhook secret"
    assert not rotated.is_current(sealed)
    resealed = rotated.reseal(sealed)
    assert rotated.is_current(resealed)
    assert SecretBox(KEY_B).open(resealed) == "webhook secret"
    with pytest.raises(ValueError, match="MB_OLD_SECRET_KEYS"):
        SecretBox(KEY_B).reseal(sealed)


def test_new_secrets_are_sealed_with_the_current_key_only() -> None:
    sealed = SecretBox(KEY_B, [KEY_A]).seal("x")
    assert SecretBox(KEY_B).open(sealed) == "x"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(KEY_A).open(sealed)


def test_secrets_sealed_before_hkdf_are_still_read_and_resealed() -> None:
    before = hashlib.sha256(f"meterbell-secrets:{KEY_A}".encode()).digest()
    sealed = Fernet(base64.urlsafe_b64encode(before)).encrypt(b"old").decode()
    box = SecretBox(KEY_A)
    assert box.open(sealed) == "old"
    assert not box.is_current(sealed)
    assert box.is_current(box.reseal(sealed))
