"""Console users: creation, organizations, sign-in with argon2 hashes, sessions that expire
and end, and the limit on failed sign-ins; on both stores."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from meterbell.domain.clock import utcnow
from meterbell.domain.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from meterbell.domain.ratelimit import FailedSignIns
from meterbell.services import console_users, orgs
from meterbell.store import console_users as user_store
from meterbell.store.db import Database
from tests.conftest import OrgApi

TTL_S = 3600.0
ADDRESS = "192.0.2.1"


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def generous() -> FailedSignIns:
    return FailedSignIns(limit=1000, window_s=60)


async def sign_in(db: Database, email: str, password: str) -> str:
    return await console_users.sign_in(
        db, generous(), email, password, address=ADDRESS, ttl_s=TTL_S
    )


async def test_a_created_user_signs_in_and_sees_their_organization(
    db: Database, api: OrgApi
) -> None:
    email = unique_email()
    user = await console_users.create_user(db, api.org_id, f"  {email.upper()} ", None)
    assert user.email == email
    assert len(user.password) >= 16
    async with db.read() as conn:
        stored = await user_store.get_user_by_email(conn, email)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert user.password not in stored.password_hash

    token = await sign_in(db, email, user.password)
    signed_in = await console_users.signed_in_user(db, token)
    assert signed_in is not None
    assert signed_in.email == email
    assert [org.id for org in signed_in.organizations] == [api.org_id]
    assert signed_in.organization(api.org_id).id == api.org_id


async def test_a_chosen_password_is_kept_and_a_wrong_one_refused(db: Database, api: OrgApi) -> None:
    email = unique_email()
    await console_users.create_user(db, api.org_id, email, "correct horse battery")
    assert await sign_in(db, email, "correct horse battery")
    for wrong_email, wrong_password in (
        (email, "correct horse battery!"),
        (unique_email(), "correct horse battery"),
    ):
        with pytest.raises(Unauthorized, match="Wrong e-mail or password"):
            await sign_in(db, wrong_email, wrong_password)


async def test_bad_users_are_refused(db: Database, api: OrgApi) -> None:
    email = unique_email()
    await console_users.create_user(db, api.org_id, email, None)
    with pytest.raises(Conflict, match=f"users grant --org {api.org_id} --email {email}"):
        await console_users.create_user(db, api.org_id, email.upper(), None)
    with pytest.raises(InvalidRequest, match="not an e-mail address"):
        await console_users.create_user(db, api.org_id, "no at sign", None)
    with pytest.raises(InvalidRequest, match="12 to 1024 characters"):
        await console_users.create_user(db, api.org_id, unique_email(), "short")
    with pytest.raises(NotFound, match="No organization with id nope"):
        await console_users.create_user(db, "nope", unique_email(), None)


async def test_a_user_granted_another_organization_sees_both_and_no_other(
    db: Database, api: OrgApi, other_api: OrgApi
) -> None:
    email = unique_email()
    user = await console_users.create_user(db, api.org_id, email, None)
    third = await orgs.create_organization(db, "Third")
    await console_users.grant_organization(db, other_api.org_id, email)
    await console_users.grant_organization(db, other_api.org_id, email)  # no change
    signed_in = await console_users.signed_in_user(db, await sign_in(db, email, user.password))
    assert signed_in is not None
    assert {org.id for org in signed_in.organizations} == {api.org_id, other_api.org_id}
    with pytest.raises(NotFound, match=f"No organization with id {third.org_id} among yours"):
        signed_in.organization(third.org_id)
    assert email in {u.email for u in await console_users.list_users(db, other_api.org_id)}
    assert email not in {u.email for u in await console_users.list_users(db, third.org_id)}
    with pytest.raises(NotFound, match="No console user with e-mail"):
        await console_users.grant_organization(db, api.org_id, unique_email())


async def test_a_session_expires_and_signing_out_ends_it(db: Database, api: OrgApi) -> None:
    email = unique_email()
    user = await console_users.create_user(db, api.org_id, email, None)
    token = await sign_in(db, email, user.password)
    now = utcnow()
    assert await console_users.signed_in_user(db, token, now + timedelta(seconds=TTL_S - 5))
    assert await console_users.signed_in_user(db, token, now + timedelta(seconds=TTL_S + 5)) is None

    other = await sign_in(db, email, user.password)
    await console_users.sign_out(db, token)
    assert await console_users.signed_in_user(db, token) is None
    assert await console_users.signed_in_user(db, other) is not None  # another browser's
    assert await console_users.signed_in_user(db, "not-a-session") is None


async def test_failed_sign_ins_are_limited_per_email_and_per_address(
    db: Database, api: OrgApi
) -> None:
    email = unique_email()
    user = await console_users.create_user(db, api.org_id, email, None)
    failures = FailedSignIns(limit=2, window_s=60)

    async def attempt(password: str, address: str = ADDRESS) -> str:
        return await console_users.sign_in(
            db, failures, email, password, address=address, ttl_s=TTL_S
        )

    for _ in range(2):
        with pytest.raises(Unauthorized):
            await attempt("wrong password!")
    # Now even the right password waits, from this address and from another.
    for address in (ADDRESS, "192.0.2.2"):
        with pytest.raises(
            TooManyRequests, match="Too many failed sign-ins for this e-mail"
        ) as exc:
            await attempt(user.password, address)
        assert int(exc.value.headers["Retry-After"]) > 0
