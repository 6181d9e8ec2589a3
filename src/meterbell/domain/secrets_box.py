"""Encryption of stored secrets (webhook secrets) with a key derived from MB_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the service's secret key."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(f"meterbell-secrets:{secret_key}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "A stored secret cannot be decrypted: MB_SECRET_KEY differs from the key it was "
                "stored with"
            ) from exc
