"""The first start: an organization a user can try at once, with a service credential for the
API and a console user, made in one transaction (all of them, or none and the next start
tries again)."""

from __future__ import annotations

from meterbell.services import console_users, orgs
from meterbell.store import orgs as org_store
from meterbell.store.db import Database


async def create_default_organization(
    db: Database, name: str, console_email: str
) -> tuple[orgs.NewCredential, console_users.NewUser] | None:
    """The organization, its credential and console user; None when the store has an
    organization already."""
    user, password = await console_users.new_user_row(console_email, None)
    async with db.write() as conn:
        if await org_store.count_organizations(conn) > 0:
            return None
        credential = await orgs.insert_organization(conn, name)
        console_user = await console_users.insert_user(conn, credential.org_id, user, password)
    return credential, console_user
