"""The Notifications and Webhooks forms without JavaScript (plain posts, in-process, both
stores): a webhook's secret is never written back into a page, an empty secret on an edit
keeps the current one, every change needs its CSRF token, and a rule's calculation error is
shown beside its field with line, column and caret."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from meterbell.domain.integrations import SEALED_SECRET
from meterbell.domain.secrets_box import SecretBox
from meterbell.services import notifications, versioned, webhooks
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi
from tests.integration.console.conftest import CSRF, signed_in_client

SECRET = "form-secret-" + uuid.uuid4().hex


@pytest.fixture
async def browser(
    transport: httpx.ASGITransport, db: Database, api: OrgApi
) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in_client(transport, db, api.org_id)
    yield client
    await client.aclose()


async def csrf(browser: httpx.AsyncClient, path: str) -> str:
    match = CSRF.search((await browser.get(path)).text)
    assert match
    return match.group(1)


def webhook_form(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "Ops",
        "url": "http://127.0.0.1:9/ops",
        "apiKey": "key-1",
        "secret": SECRET,
        "active": "on",
    } | fields


async def test_a_webhook_secret_is_never_written_back_and_an_empty_one_is_kept(
    browser: httpx.AsyncClient, api: OrgApi, db: Database
) -> None:
    new = f"/console/orgs/{api.org_id}/webhooks/new"
    token = await csrf(browser, new)
    refused = await browser.post(new, data=webhook_form(token, url="ftp://x"))
    assert refused.status_code == 400
    assert 'id="url-problem"' in refused.text
    assert SECRET not in refused.text
    saved = await browser.post(new, data=webhook_form(token))
    assert saved.status_code == 303
    page = await browser.get(saved.headers["location"])
    assert SECRET not in page.text
    webhook_id = saved.headers["location"].rsplit("/", 1)[-1]
    renamed = await browser.post(
        saved.headers["location"], data=webhook_form(token, name="Renamed", secret="", version="1")
    )
    assert renamed.status_code == 303
    stored = await webhooks.get_webhook(db, api.org_id, webhook_id)
    assert stored["name"] == "Renamed"
    assert stored["version"] == 2
    document = await versioned.get(db, api.org_id, webhooks.WEBHOOK, webhook_id)
    assert SecretBox(TEST_SECRET_KEY).open(document["credentials"][SEALED_SECRET]) == SECRET


async def test_the_forms_refuse_a_post_without_its_csrf_token(
    browser: httpx.AsyncClient, api: OrgApi, db: Database
) -> None:
    base = f"/console/orgs/{api.org_id}"
    rule = {"name": "r", "code": "r", "eventName": "configuration.product.updated"}
    for path, form in (
        (f"{base}/webhooks/new", webhook_form("")),
        (f"{base}/notifications/new", rule | {"alwaysFireEvent": "on"}),
        (f"{base}/notifications/check", rule | {"calculation": "true"}),
        (f"{base}/notifications/test", rule | {"calculation": "true"}),
    ):
        answer = await browser.post(path, data=form)
        assert answer.status_code == 403, path
        assert "CSRF" in answer.text
    assert (await webhooks.list_webhooks(db, api.org_id, {}, page_size=10)).data == []
    assert (await notifications.list_rules(db, api.org_id, {}, page_size=10)).data == []


async def test_a_calculation_error_is_shown_beside_its_field(
    browser: httpx.AsyncClient, api: OrgApi
) -> None:
    new = f"/console/orgs/{api.org_id}/notifications/new"
    token = await csrf(browser, new)
    form = {
        "csrf_token": token,
        "name": "Spent",
        "code": "spent",
        "eventName": "configuration.commitment.updated",
        "calculation": "new.amountSpent > new.nope",
    }
    checked = await browser.post(f"/console/orgs/{api.org_id}/notifications/check", data=form)
    assert checked.status_code == 200
    assert "Line 1, column 19" in checked.text
    assert "^^^^^^^^" in checked.text
    assert "<code>new.amountSpent</code>" in checked.text
    refused = await browser.post(new, data=form)
    assert refused.status_code == 400
    assert 'id="calculation-problem"' in refused.text
    assert "does not compile" in refused.text


async def test_a_webhook_edit_sets_order_and_rate_and_keeps_headers_set_through_the_api(
    browser: httpx.AsyncClient, api: OrgApi, db: Database
) -> None:
    created = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": "Ops",
            "url": "http://127.0.0.1:9/ops",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key-1", "secret": SECRET},
            "headers": {"X-Tenant": "acme"},
        },
    )
    assert created.status_code == 200, created.text
    page = f"/console/orgs/{api.org_id}/webhooks/{created.json()['id']}"
    token = await csrf(browser, page)
    refused = await browser.post(
        page, data=webhook_form(token, secret="", version="1", maxRequestsPerSecond="fast")
    )
    assert refused.status_code == 400
    assert 'id="maxRequestsPerSecond-problem"' in refused.text
    saved = await browser.post(
        page,
        data=webhook_form(token, secret="", version="1", ordered="on", maxRequestsPerSecond="2.5"),
    )
    assert saved.status_code == 303, saved.text
    stored = await webhooks.get_webhook(db, api.org_id, created.json()["id"])
    assert stored["ordered"] is True
    assert stored["maxRequestsPerSecond"] == 2.5
    assert stored["headers"] == {"X-Tenant": "acme"}
    form = (await browser.get(page)).text
    assert 'id="ordered" name="ordered" checked' in form
    assert 'value="2.5"' in form
