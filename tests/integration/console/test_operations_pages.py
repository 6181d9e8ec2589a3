"""The Scheduled events form, in-process on both stores: it creates through the same service
as the API (createdBy the console user), and another organization's user creates nothing
there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from meterbell.services import console_users, scheduled
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.console.conftest import CSRF, signed_in_client

BODY = {"name": "scheduled.bill.dueSoon", "entity": "Bill", "field": "endDate", "offset": "-3"}


@pytest.fixture
async def browser(
    transport: httpx.ASGITransport, db: Database, api: OrgApi
) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in_client(transport, db, api.org_id)
    yield client
    await client.aclose()


async def _post(client: httpx.AsyncClient, org_id: str, own_org_id: str) -> httpx.Response:
    page = await client.get(f"/console/orgs/{own_org_id}/scheduled-events")
    match = CSRF.search(page.text)
    assert match, page.text
    return await client.post(
        f"/console/orgs/{org_id}/scheduled-events", data={**BODY, "csrf_token": match.group(1)}
    )


async def test_the_form_creates_through_the_service(
    api: OrgApi, db: Database, browser: httpx.AsyncClient
) -> None:
    created = await _post(browser, api.org_id, api.org_id)
    assert created.status_code == 303
    page = await scheduled.list_configurations(db, api.org_id, {}, page_size=10)
    [configuration] = page.data
    assert configuration["offset"] == -3
    users = await console_users.list_users(db, api.org_id)
    assert configuration["createdBy"] in {user.id for user in users}
    listed = await browser.get(created.headers["location"])
    assert "scheduled.bill.dueSoon" in listed.text


async def test_another_organizations_user_creates_nothing_here(
    api: OrgApi, other_api: OrgApi, db: Database, transport: httpx.ASGITransport
) -> None:
    intruder = await signed_in_client(transport, db, other_api.org_id)
    try:
        answer = await _post(intruder, api.org_id, other_api.org_id)
    finally:
        await intruder.aclose()
    assert answer.status_code == 404
    page = await scheduled.list_configurations(db, api.org_id, {}, page_size=10)
    assert page.data == []
