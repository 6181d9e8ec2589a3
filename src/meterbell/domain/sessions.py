"""Console sessions and CSRF tokens: random tokens, their stored digests, and HMACs, no I/O.

A session cookie carries a random token; the store keeps only its SHA-256, so a copy of the
store opens no session. A form's CSRF token is an HMAC of what binds it to one browser: the
session token once signed in, before that a random pre-session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CsrfTokens:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(f"meterbell console csrf:{secret_key}".encode()).digest()

    def token_for(self, binding: str) -> str:
        return hmac.new(self._key, binding.encode(), hashlib.sha256).hexdigest()

    def matches(self, binding: str, sent: str) -> bool:
        return bool(binding) and hmac.compare_digest(self.token_for(binding), sent)
