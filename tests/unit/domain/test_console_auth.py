"""Console passwords, e-mail addresses and CSRF tokens (domain/passwords.py, sessions.py)."""

from __future__ import annotations

import pytest

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.passwords import (
    checked_password,
    generated_password,
    hash_password,
    normalized_email,
    password_matches,
)
from meterbell.domain.sessions import CsrfTokens, new_token, token_digest


def test_a_password_matches_its_argon2id_hash_only() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert hash_password("a long enough password") != hashed  # salted
    assert password_matches("a long enough password", hashed)
    assert not password_matches("a long enough password!", hashed)
    assert not password_matches("a long enough password", None)  # no such user
    assert not password_matches("a long enough password", "not a hash")


def test_generated_passwords_are_long_and_differ() -> None:
    passwords = {generated_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(checked_password(p) == p for p in passwords)


@pytest.mark.parametrize("password", ["", "elevenchars", "x" * 1025])
def test_a_password_too_short_or_long_is_refused(password: str) -> None:
    with pytest.raises(InvalidRequest, match="12 to 1024 characters"):
        checked_password(password)


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalized_email("  Ana@Example.COM ") == "ana@example.com"
    assert normalized_email("admin@localhost") == "admin@localhost"


@pytest.mark.parametrize(
    "email", ["", "ana", "ana@", "@example.com", "a b@c.d", "a@b@c", "a@" + "b" * 260]
)
def test_what_is_no_email_is_refused(email: str) -> None:
    with pytest.raises(InvalidRequest, match="is not an e-mail address"):
        normalized_email(email)


def test_a_csrf_token_matches_its_binding_under_its_key_only() -> None:
    tokens = CsrfTokens("key")
    session = new_token()
    token = tokens.token_for(session)
    assert tokens.matches(session, token)
    assert not tokens.matches(new_token(), token)
    assert not tokens.matches(session, "")
    assert not tokens.matches("", tokens.token_for(""))  # no binding, no token
    assert not CsrfTokens("another key").matches(session, token)


def test_sessions_are_stored_by_digest() -> None:
    token = new_token()
    assert len(token) >= 43
    assert token_digest(token) == token_digest(token)
    assert token not in token_digest(token)
    assert len(token_digest(token)) == 64
