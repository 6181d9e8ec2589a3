"""Console users' passwords (argon2id) and e-mail addresses: rules and hashing, no I/O."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from meterbell.domain.errors import InvalidRequest

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
# One @, something on both sides, no spaces: the mailbox is the user's name, never mailed.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

_hasher = PasswordHasher()
# Checked when no user has the e-mail sent, so that a sign-in takes as long either way.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


def normalized_email(email: str) -> str:
    """`email` as it is stored and looked up: trimmed, lower case; InvalidRequest if it is
    not one."""
    cleaned = email.strip().lower()
    if len(cleaned) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(cleaned):
        raise InvalidRequest(f"{email!r} is not an e-mail address (name@domain, no spaces)")
    return cleaned


def checked_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"A password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )
    return password


def generated_password() -> str:
    """A random password of about 128 bits, easy to copy (URL-safe characters)."""
    return secrets.token_urlsafe(16)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password: str, password_hash: str | None) -> bool:
    """Whether `password` is the one hashed; None (no such user) takes as long and fails."""
    try:
        return _hasher.verify(password_hash or _UNKNOWN_USER_HASH, password) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
