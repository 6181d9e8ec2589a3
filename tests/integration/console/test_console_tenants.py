"""Every console page of an organization is walled off: a user of another organization gets
404 on each, and a change posted there changes nothing (checked on both stores, in-process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from meterbell.console.rendering import SECTIONS
from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import utcnow
from meterbell.services import alerts
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.console.conftest import CSRF, signed_in_client


@pytest.fixture
async def intruder(
    transport: httpx.ASGITransport, db: Database, other_api: OrgApi
) -> AsyncIterator[httpx.AsyncClient]:
    browser = await signed_in_client(transport, db, other_api.org_id)
    yield browser
    await browser.aclose()


async def test_no_page_of_another_organization_opens(
    api: OrgApi, intruder: httpx.AsyncClient
) -> None:
    for section in SECTIONS:
        answer = await intruder.get(f"/console/orgs/{api.org_id}/{section.slug}")
        assert answer.status_code == 404, section.slug
        assert f"No organization with id {api.org_id} among yours" in answer.text
    switched = await intruder.get("/console/switch", params={"org": api.org_id})
    assert switched.status_code == 404


async def test_no_alert_of_another_organization_moves(
    api: OrgApi, other_api: OrgApi, db: Database, intruder: httpx.AsyncClient
) -> None:
    occurrence = Occurrence(
        api.org_id,
        AlertType.DATA_EXPORT,
        Severity.ERROR,
        ResourceType.EXPORT_JOB,
        str(uuid.uuid4()),
        "An export failed",
    )
    async with db.write() as conn:
        alert = await alerts.raise_alert(conn, occurrence, utcnow())
    own_page = await intruder.get(f"/console/orgs/{other_api.org_id}/alerts")
    assert alert.id not in own_page.text
    match = CSRF.search(own_page.text)
    assert match
    for org_id in (api.org_id, other_api.org_id):
        moved = await intruder.post(
            f"/console/orgs/{org_id}/alerts/{alert.id}/status",
            data={"csrf_token": match.group(1), "status": "RESOLVED", "version": "1"},
        )
        assert moved.status_code == 404, org_id
    assert (await alerts.get_alert(db, api.org_id, alert.id))["status"] == "NEW"


async def test_a_signed_out_visitor_is_sent_to_sign_in(
    client: httpx.AsyncClient, api: OrgApi
) -> None:
    for path in ("/console", f"/console/orgs/{api.org_id}/alerts"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/sign-in?next=")
    posted = await client.post(f"/console/orgs/{api.org_id}/alerts/x/status", data={})
    assert posted.status_code == 303
    assert posted.headers["location"] == "/console/sign-in"


async def test_a_sign_in_page_over_https_sets_a_secure_cookie(
    transport: httpx.ASGITransport,
) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="https://meterbell.test") as secure:
        form = await secure.get("/console/sign-in")
        assert "; secure" in form.headers["set-cookie"].lower()
    assert form.headers["x-frame-options"] == "DENY"
    assert form.headers["cache-control"] == "no-store"


async def test_the_lists_show_the_organizations_own_records_only(
    api: OrgApi, other_api: OrgApi, transport: httpx.ASGITransport, db: Database
) -> None:
    name = f"hook-{uuid.uuid4().hex[:8]}"
    created = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": name,
            "url": "http://127.0.0.1:9/hook",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    assert created.status_code == 200, created.text
    owner = await signed_in_client(transport, db, api.org_id)
    intruder = await signed_in_client(transport, db, other_api.org_id)
    try:
        mine = await owner.get(f"/console/orgs/{api.org_id}/webhooks")
        theirs = await intruder.get(f"/console/orgs/{other_api.org_id}/webhooks")
        events = await owner.get(f"/console/orgs/{api.org_id}/events")
    finally:
        await owner.aclose()
        await intruder.aclose()
    assert name in mine.text
    assert "http://127.0.0.1:9/hook" in mine.text
    assert name not in theirs.text
    assert "No webhooks yet: create one" in theirs.text
    assert "configuration.organization.created" in events.text


async def test_an_alert_links_to_its_resource(
    api: OrgApi, transport: httpx.ASGITransport, db: Database
) -> None:
    rules = []
    for code in ("linked", "unlinked"):
        created = await api.post(
            "notifications/configurations",
            {
                "name": code,
                "code": code,
                "eventName": "configuration.product.updated",
                "alwaysFireEvent": True,
            },
        )
        assert created.status_code == 200, created.text
        rules.append(created.json()["id"])
    occurrence = Occurrence(
        api.org_id,
        AlertType.NOTIFICATION_EVALUATION_ERROR,
        Severity.WARN,
        ResourceType.NOTIFICATION_RULE,
        rules[0],
        "The rule failed to evaluate",
    )
    async with db.write() as conn:
        await alerts.raise_alert(conn, occurrence, utcnow())
    owner = await signed_in_client(transport, db, api.org_id)
    try:
        listed = await owner.get(f"/console/orgs/{api.org_id}/alerts")
        link = f"/console/orgs/{api.org_id}/notifications/{rules[0]}"
        assert f'href="{link}"' in listed.text
        resource = await owner.get(link)
        only = await owner.get(f"/console/orgs/{api.org_id}/notifications?ids={rules[0]}")
        gone = await owner.get(f"/console/orgs/{api.org_id}/notifications?ids={uuid.uuid4()}")
    finally:
        await owner.aclose()
    assert resource.status_code == 200
    assert "<h1>linked</h1>" in resource.text
    assert "unlinked" not in resource.text
    assert f"Showing only <code>{rules[0]}</code>" in only.text
    assert "unlinked" not in only.text
    assert "has no such record" in gone.text
