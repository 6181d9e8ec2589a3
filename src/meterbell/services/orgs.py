"""Organizations, their service credentials, and access tokens."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.credentials import issue_credential, secret_matches
from meterbell.domain.defaults import SINGLETON_DEFAULTS
from meterbell.domain.documents import SYSTEM_ACTOR
from meterbell.domain.errors import InvalidRequest, NotFound, Unauthorized
from meterbell.domain.ratelimit import FailedTokenRequests
from meterbell.domain.tokens import SCOPE, TokenClaims, TokenSigner
from meterbell.services.entities import create_singleton
from meterbell.store import orgs as org_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow, insert_events

# How stale a process's view of the revoked credentials may get: a revoked credential's
# tokens stop working within this (plus one read of the store) in every process.
REVOCATION_REFRESH_S = 2.0


@dataclass(frozen=True)
class NewCredential:
    org_id: str
    client_id: str
    client_secret: str

    def to_json(self) -> dict[str, str]:
        return {
            "orgId": self.org_id,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
        }


def _organization_created_event(org: org_store.OrganizationRow) -> EventRow:
    dto = {"id": org.id, "name": org.name, "dtCreated": isoformat(org.dt_created), "orgId": org.id}
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=org.id,
        event_name="configuration.organization.created",
        category="Configuration",
        event_time=org.dt_created,
        m3ter_event={"eventData": {"newDto": dto}},
        resource_id=org.id,
    )


async def insert_organization(conn: AsyncConnection, name: str) -> NewCredential:
    """In the caller's transaction: a new organization with its default settings and a first
    service credential."""
    if not name.strip() or len(name) > 200:
        raise InvalidRequest("The organization name must be 1 to 200 characters")
    org = org_store.OrganizationRow(id=str(uuid.uuid4()), name=name.strip(), dt_created=utcnow())
    await org_store.insert_organization(conn, org)
    await insert_events(conn, [_organization_created_event(org)])
    for entity_name, defaults in SINGLETON_DEFAULTS.items():
        await create_singleton(conn, org.id, entity_by_name(entity_name), defaults, SYSTEM_ACTOR)
    return await _insert_credential(conn, org.id)


async def create_organization(db: Database, name: str) -> NewCredential:
    """A new organization with its default settings and a first service credential."""
    async with db.write() as conn:
        return await insert_organization(conn, name)


async def _insert_credential(conn: AsyncConnection, org_id: str) -> NewCredential:
    issued = issue_credential()
    row = org_store.CredentialRow(issued.client_id, org_id, issued.salt, issued.secret_hash)
    await org_store.insert_credential(conn, row, utcnow())
    return NewCredential(org_id, issued.client_id, issued.client_secret)


async def create_credential(db: Database, org_id: str) -> NewCredential:
    async with db.write() as conn:
        if await org_store.get_organization(conn, org_id) is None:
            raise NotFound(f"No organization with id {org_id}")
        return await _insert_credential(conn, org_id)


async def list_credentials(db: Database, org_id: str) -> list[org_store.CredentialInfo]:
    async with db.read() as conn:
        if await org_store.get_organization(conn, org_id) is None:
            raise NotFound(f"No organization with id {org_id}")
        return await org_store.list_credentials(conn, org_id)


async def revoke_credential(db: Database, client_id: str) -> datetime:
    """Revoke a credential; revoking it again changes nothing. When it was revoked."""
    async with db.write() as conn:
        credential = await org_store.get_credential(conn, client_id)
        if credential is None:
            raise NotFound(f"No credential with client id {client_id}")
        if credential.dt_revoked is not None:
            return credential.dt_revoked
        now = utcnow()
        await org_store.revoke_credential(conn, client_id, now)
    return now


class RevokedCredentials:
    """The revoked client ids as this process last read them from the store.

    The first check after `refresh_s` reads them again (concurrent checks wait for that one
    read), so a credential revoked by any process is refused here soon after, in cluster mode
    too, at the cost of a set lookup per request and one small query every `refresh_s`.
    """

    def __init__(self, db: Database, refresh_s: float = REVOCATION_REFRESH_S) -> None:
        self._db = db
        self._refresh_s = refresh_s
        self._revoked: frozenset[str] = frozenset()
        self._read_at = -math.inf
        self._reading = asyncio.Lock()

    def _stale(self) -> bool:
        return time.monotonic() - self._read_at >= self._refresh_s

    async def check(self, client_id: str) -> None:
        """Unauthorized if the credential `client_id` has been revoked."""
        if self._stale():
            await self._read()
        if client_id in self._revoked:
            raise Unauthorized(
                "The credential this token was issued to has been revoked: use another one"
            )

    async def _read(self) -> None:
        async with self._reading:
            if not self._stale():
                return
            async with self._db.read() as conn:
                self._revoked = await org_store.revoked_client_ids(conn)
            self._read_at = time.monotonic()


async def list_organizations(db: Database) -> list[org_store.OrganizationRow]:
    async with db.read() as conn:
        return await org_store.list_organizations(conn)


async def _authenticated(db: Database, client_id: str, client_secret: str) -> TokenClaims:
    async with db.read() as conn:
        credential = await org_store.get_credential(conn, client_id)
    if credential is None or not secret_matches(
        client_secret, credential.secret_salt, credential.secret_hash
    ):
        raise Unauthorized("Unknown client id or wrong client secret")
    if credential.dt_revoked is not None:
        raise Unauthorized(
            f"The credential {client_id} was revoked at {isoformat(credential.dt_revoked)}: "
            "use another one (meterbell credentials create makes one)"
        )
    return TokenClaims(client_id=client_id, org_id=credential.org_id)


async def issue_token(
    db: Database,
    signer: TokenSigner,
    failures: FailedTokenRequests,
    client_id: str,
    client_secret: str,
    *,
    address: str,
    ttl_s: int,
) -> dict[str, Any]:
    """Exchange a client id and secret for a bearer token (OAuth2 client credentials).

    Failures are counted per client id and per address (`address`, the caller's); after too
    many, requests are refused for a while without looking at the secret."""
    now_s = time.monotonic()
    failures.check(client_id, address, now_s)
    try:
        claims = await _authenticated(db, client_id, client_secret)
    except Unauthorized:
        failures.record(client_id, address, now_s)
        raise
    token = signer.issue(claims, now=utcnow(), ttl=timedelta(seconds=ttl_s))
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl_s, "scope": SCOPE}
