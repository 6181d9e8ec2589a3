"""Service credentials: random client ids and secrets, stored as salted SHA-256.

Client secrets are 256-bit random strings, so a fast hash is as strong as a slow one here and
keeps the token endpoint cheap (the m3ter SDK fetches a token before every call).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedCredential:
    client_id: str
    client_secret: str
    salt: str
    secret_hash: str


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def secret_matches(secret: str, salt: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), expected_hash)


def issue_credential() -> IssuedCredential:
    client_id = secrets.token_hex(16)
    client_secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return IssuedCredential(client_id, client_secret, salt, hash_secret(client_secret, salt))
