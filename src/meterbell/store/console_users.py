"""Queries on console users, the organizations they belong to, and their sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.store.orgs import OrganizationRow
from meterbell.store.tables import (
    console_memberships,
    console_sessions,
    console_users,
    organizations,
)


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    password_hash: str
    dt_created: datetime


def _user(row: Row[Any]) -> UserRow:
    return UserRow(row.id, row.email, row.password_hash, as_utc(row.dt_created))


async def insert_user(conn: AsyncConnection, user: UserRow) -> None:
    await conn.execute(
        insert(console_users).values(
            id=user.id,
            email=user.email,
            password_hash=user.password_hash,
            dt_created=user.dt_created,
        )
    )


async def get_user_by_email(conn: AsyncConnection, email: str) -> UserRow | None:
    row = (await conn.execute(select(console_users).where(console_users.c.email == email))).first()
    return _user(row) if row else None


async def insert_membership(
    conn: AsyncConnection, user_id: str, org_id: str, now: datetime
) -> None:
    await conn.execute(
        insert(console_memberships).values(user_id=user_id, org_id=org_id, dt_created=now)
    )


async def is_member(conn: AsyncConnection, user_id: str, org_id: str) -> bool:
    query = select(console_memberships.c.org_id).where(
        console_memberships.c.user_id == user_id, console_memberships.c.org_id == org_id
    )
    return (await conn.execute(query)).first() is not None


async def user_organizations(conn: AsyncConnection, user_id: str) -> list[OrganizationRow]:
    rows = await conn.execute(
        select(organizations)
        .join(console_memberships, console_memberships.c.org_id == organizations.c.id)
        .where(console_memberships.c.user_id == user_id)
        .order_by(organizations.c.name, organizations.c.id)
    )
    return [OrganizationRow(r.id, r.name, as_utc(r.dt_created)) for r in rows]


async def org_users(conn: AsyncConnection, org_id: str) -> list[UserRow]:
    rows = await conn.execute(
        select(console_users)
        .join(console_memberships, console_memberships.c.user_id == console_users.c.id)
        .where(console_memberships.c.org_id == org_id)
        .order_by(console_users.c.email)
    )
    return [_user(row) for row in rows]


async def insert_session(
    conn: AsyncConnection, token_hash: str, user_id: str, now: datetime, expires: datetime
) -> None:
    await conn.execute(
        insert(console_sessions).values(
            token_hash=token_hash, user_id=user_id, dt_created=now, dt_expires=expires
        )
    )


async def session_user(conn: AsyncConnection, token_hash: str, now: datetime) -> UserRow | None:
    """The user of the session with this token digest, unless it has expired."""
    row = (
        await conn.execute(
            select(console_users)
            .join(console_sessions, console_sessions.c.user_id == console_users.c.id)
            .where(console_sessions.c.token_hash == token_hash, console_sessions.c.dt_expires > now)
        )
    ).first()
    return _user(row) if row else None


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


async def delete_sessions_expired_before(
    conn: AsyncConnection, cutoff: datetime, limit: int
) -> int:
    """Delete up to `limit` sessions that expired before `cutoff`; how many went."""
    doomed = (
        select(console_sessions.c.token_hash)
        .where(console_sessions.c.dt_expires <= cutoff)
        .limit(limit)
    )
    result = await conn.execute(
        delete(console_sessions).where(console_sessions.c.token_hash.in_(doomed.scalar_subquery()))
    )
    return int(result.rowcount)
