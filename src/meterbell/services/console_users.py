"""Console users: created and given organizations from the CLI; signing in and out of the
console, with sessions kept in the store (signing out ends one everywhere at once)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import utcnow
from meterbell.domain.errors import Conflict, NotFound, Unauthorized
from meterbell.domain.passwords import (
    checked_password,
    generated_password,
    hash_password,
    normalized_email,
    password_matches,
)
from meterbell.domain.ratelimit import FailedSignIns
from meterbell.domain.sessions import new_token, token_digest
from meterbell.store import console_users as user_store
from meterbell.store import orgs as org_store
from meterbell.store.db import Database


@dataclass(frozen=True)
class NewUser:
    user_id: str
    org_id: str
    email: str
    password: str


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in user and the organizations they may see."""

    id: str
    email: str
    organizations: list[org_store.OrganizationRow]

    def organization(self, org_id: str) -> org_store.OrganizationRow:
        """One of the user's organizations; NotFound for any other (which exists or not)."""
        for org in self.organizations:
            if org.id == org_id:
                return org
        raise NotFound(f"No organization with id {org_id} among yours")


async def _existing_org(conn: AsyncConnection, org_id: str) -> None:
    if await org_store.get_organization(conn, org_id) is None:
        raise NotFound(f"No organization with id {org_id}")


async def new_user_row(email: str, password: str | None) -> tuple[user_store.UserRow, str]:
    """A user to insert, with `password` or a generated one (hashed off the event loop), and
    that password."""
    address = normalized_email(email)
    chosen = generated_password() if password is None else checked_password(password)
    hashed = await asyncio.to_thread(hash_password, chosen)
    return user_store.UserRow(str(uuid.uuid4()), address, hashed, utcnow()), chosen


def _email_taken(org_id: str, email: str) -> Conflict:
    return Conflict(
        f"A console user with e-mail {email} exists already: give them this organization "
        f"with `meterbell users grant --org {org_id} --email {email}`"
    )


async def insert_user(
    conn: AsyncConnection, org_id: str, user: user_store.UserRow, password: str
) -> NewUser:
    """In the caller's transaction: `user`, a member of organization `org_id`."""
    if await user_store.get_user_by_email(conn, user.email) is not None:
        raise _email_taken(org_id, user.email)
    await user_store.insert_user(conn, user)
    await user_store.insert_membership(conn, user.id, org_id, user.dt_created)
    return NewUser(user.id, org_id, user.email, password)


async def create_user(db: Database, org_id: str, email: str, password: str | None) -> NewUser:
    """A user of organization `org_id`, with `password` or a generated one."""
    user, chosen = await new_user_row(email, password)
    try:
        async with db.write() as conn:
            await _existing_org(conn, org_id)
            return await insert_user(conn, org_id, user, chosen)
    except IntegrityError as exc:  # created by another process meanwhile
        raise _email_taken(org_id, user.email) from exc


async def grant_organization(db: Database, org_id: str, email: str) -> None:
    """Let an existing user see organization `org_id` too (nothing changes if they can)."""
    address = normalized_email(email)
    async with db.write() as conn:
        await _existing_org(conn, org_id)
        user = await user_store.get_user_by_email(conn, address)
        if user is None:
            raise NotFound(f"No console user with e-mail {address}")
        if not await user_store.is_member(conn, user.id, org_id):
            await user_store.insert_membership(conn, user.id, org_id, utcnow())


async def list_users(db: Database, org_id: str) -> list[user_store.UserRow]:
    async with db.read() as conn:
        await _existing_org(conn, org_id)
        return await user_store.org_users(conn, org_id)


async def sign_in(
    db: Database,
    failures: FailedSignIns,
    email: str,
    password: str,
    *,
    address: str,
    ttl_s: float,
) -> str:
    """A new session's token for the user with this e-mail and password.

    Failures are counted per e-mail and per address (the caller's); after too many, attempts
    are refused for a while without looking at the password."""
    key = email.strip().lower()
    now_s = time.monotonic()
    failures.check(key, address, now_s)
    async with db.read() as conn:
        user = await user_store.get_user_by_email(conn, key)
    stored_hash = user.password_hash if user else None
    if user is None or not await asyncio.to_thread(password_matches, password, stored_hash):
        failures.record(key, address, now_s)
        raise Unauthorized("Wrong e-mail or password")
    token = new_token()
    now = utcnow()
    async with db.write() as conn:
        await user_store.insert_session(
            conn, token_digest(token), user.id, now, now + timedelta(seconds=ttl_s)
        )
    return token


async def signed_in_user(
    db: Database, token: str, now: datetime | None = None
) -> ConsoleUser | None:
    """The user of the session `token`, or None if it is unknown, ended or expired."""
    async with db.read() as conn:
        user = await user_store.session_user(conn, token_digest(token), now or utcnow())
        if user is None:
            return None
        organizations = await user_store.user_organizations(conn, user.id)
    return ConsoleUser(user.id, user.email, organizations)


async def sign_out(db: Database, token: str) -> None:
    async with db.write() as conn:
        await user_store.delete_session(conn, token_digest(token))
