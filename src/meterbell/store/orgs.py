"""Queries on organizations and their service credentials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.store.tables import credentials, organizations


@dataclass(frozen=True)
class OrganizationRow:
    id: str
    name: str
    dt_created: datetime


@dataclass(frozen=True)
class CredentialRow:
    client_id: str
    org_id: str
    secret_salt: str
    secret_hash: str
    dt_revoked: datetime | None = None


@dataclass(frozen=True)
class CredentialInfo:
    """A credential as it may be shown: never its secret, nor the secret's hash."""

    client_id: str
    org_id: str
    dt_created: datetime
    dt_revoked: datetime | None


async def insert_organization(conn: AsyncConnection, org: OrganizationRow) -> None:
    await conn.execute(
        insert(organizations).values(id=org.id, name=org.name, dt_created=org.dt_created)
    )


async def insert_credential(conn: AsyncConnection, cred: CredentialRow, now: datetime) -> None:
    await conn.execute(
        insert(credentials).values(
            client_id=cred.client_id,
            org_id=cred.org_id,
            secret_salt=cred.secret_salt,
            secret_hash=cred.secret_hash,
            dt_created=now,
        )
    )


async def list_organizations(conn: AsyncConnection) -> list[OrganizationRow]:
    rows = await conn.execute(select(organizations).order_by(organizations.c.dt_created))
    return [OrganizationRow(r.id, r.name, r.dt_created) for r in rows]


async def get_organization(conn: AsyncConnection, org_id: str) -> OrganizationRow | None:
    row = (await conn.execute(select(organizations).where(organizations.c.id == org_id))).first()
    return OrganizationRow(row.id, row.name, row.dt_created) if row else None


async def count_organizations(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(organizations))).scalar_one())


async def get_credential(conn: AsyncConnection, client_id: str) -> CredentialRow | None:
    row = (
        await conn.execute(select(credentials).where(credentials.c.client_id == client_id))
    ).first()
    if row is None:
        return None
    return CredentialRow(
        row.client_id, row.org_id, row.secret_salt, row.secret_hash, _utc_or_none(row.dt_revoked)
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


async def list_credentials(conn: AsyncConnection, org_id: str) -> list[CredentialInfo]:
    rows = await conn.execute(
        select(
            credentials.c.client_id,
            credentials.c.org_id,
            credentials.c.dt_created,
            credentials.c.dt_revoked,
        )
        .where(credentials.c.org_id == org_id)
        .order_by(credentials.c.dt_created, credentials.c.client_id)
    )
    return [
        CredentialInfo(r.client_id, r.org_id, as_utc(r.dt_created), _utc_or_none(r.dt_revoked))
        for r in rows
    ]


async def revoke_credential(conn: AsyncConnection, client_id: str, now: datetime) -> None:
    """Mark the credential revoked now, unless it already was (the first time is kept)."""
    await conn.execute(
        update(credentials)
        .where(credentials.c.client_id == client_id, credentials.c.dt_revoked.is_(None))
        .values(dt_revoked=now)
    )


async def revoked_client_ids(conn: AsyncConnection) -> frozenset[str]:
    rows = await conn.execute(
        select(credentials.c.client_id).where(credentials.c.dt_revoked.is_not(None))
    )
    return frozenset(rows.scalars())
