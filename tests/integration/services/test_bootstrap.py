"""The first start makes an organization, its credential and a console user in one
transaction: all of them, or none (and the next start tries again); never a second time."""

from __future__ import annotations

import pytest

from meterbell.domain.errors import Conflict
from meterbell.services import bootstrap, console_users, orgs
from meterbell.services.console_users import new_user_row
from meterbell.store import console_users as user_store
from meterbell.store.db import Database

EMAIL = "admin@localhost"


async def test_the_first_start_creates_all_three_once(own_db: Database) -> None:
    created = await bootstrap.create_default_organization(own_db, "Default", EMAIL)
    assert created is not None
    credential, user = created
    assert user.org_id == credential.org_id
    assert user.email == EMAIL
    assert [org.id for org in await orgs.list_organizations(own_db)] == [credential.org_id]
    assert [u.email for u in await console_users.list_users(own_db, credential.org_id)] == [EMAIL]
    assert [c.client_id for c in await orgs.list_credentials(own_db, credential.org_id)] == [
        credential.client_id
    ]

    assert await bootstrap.create_default_organization(own_db, "Default", EMAIL) is None
    assert len(await orgs.list_organizations(own_db)) == 1


async def test_a_first_start_that_fails_half_way_leaves_nothing(own_db: Database) -> None:
    taken, _password = await new_user_row(EMAIL, None)
    async with own_db.write() as conn:
        await user_store.insert_user(conn, taken)  # the console user cannot be created

    with pytest.raises(Conflict, match=EMAIL):
        await bootstrap.create_default_organization(own_db, "Default", EMAIL)
    assert await orgs.list_organizations(own_db) == []
    created = await bootstrap.create_default_organization(own_db, "Default", "other@localhost")
    assert created is not None
