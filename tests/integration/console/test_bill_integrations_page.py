"""The console's Integrations page shows a Bill configuration by its account and its system's
URL, never its credentials."""

from __future__ import annotations

import html

import httpx

from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.api.test_bill_config import SECRETS, URL, created, new_account
from tests.integration.console.conftest import signed_in_client


async def test_the_console_lists_a_bill_configuration(
    api: OrgApi, db: Database, transport: httpx.ASGITransport
) -> None:
    account = await new_account(api)
    config = await created(api, entityId=account["id"])
    browser = await signed_in_client(transport, db, api.org_id)
    try:
        page = await browser.get(f"/console/orgs/{api.org_id}/integrations")
    finally:
        await browser.aclose()
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert f"Bills of account <code>{account['id']}</code>" in text
    assert f"HttpJson <code>{URL}</code>" in text
    assert f"integrations/runs?destinationId={config['id']}" in text
    assert SECRETS[0] not in text
