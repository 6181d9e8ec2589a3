"""Encryption of stored secrets (webhook secrets) with a key derived from MB_SECRET_KEY;
keys it replaced (MB_OLD_SECRET_KEYS) still decrypt until everything is re-encrypted."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from meterbell.domain.keys import ENCRYPTION_AT_REST, derived_key


def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def _before_hkdf(secret_key: str) -> Fernet:
    """The key as meterbell derived it before HKDF: what it sealed is still read (until
    `meterbell secrets reencrypt`), never written."""
    return _fernet(hashlib.sha256(f"meterbell-secrets:{secret_key}".encode()).digest())


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256). Seals with the current secret key; opens what the
    current or any old secret key sealed."""

    def __init__(self, secret_key: str, old_secret_keys: Sequence[str] = ()) -> None:
        self._current = _fernet(derived_key(secret_key, ENCRYPTION_AT_REST))
        old = [_fernet(derived_key(key, ENCRYPTION_AT_REST)) for key in old_secret_keys]
        legacy = [_before_hkdf(key) for key in (secret_key, *old_secret_keys)]
        self._any = MultiFernet([self._current, *old, *legacy])

    def seal(self, plaintext: str) -> str:
        return self._current.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._any.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise _unreadable() from exc

    def is_current(self, sealed: str) -> bool:
        """Whether `sealed` was sealed with the current key (re-sealing would change nothing)."""
        try:
            self._current.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """`sealed`, sealed again with the current key."""
        try:
            return self._any.rotate(sealed.encode()).decode()
        except InvalidToken as exc:
            raise _unreadable() from exc


def _unreadable() -> ValueError:
    return ValueError(
        "A stored secret cannot be decrypted: it was sealed with a key that is neither "
        "MB_SECRET_KEY nor one of MB_OLD_SECRET_KEYS"
    )
