"""An error page keeps the console around the message: the navigation of the organization
the page belongs to when the user is one of its own, and never another's."""

from __future__ import annotations

import httpx

from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.console.conftest import signed_in_client


async def test_a_missing_page_of_ones_own_organization_keeps_its_navigation(
    api: OrgApi, other_api: OrgApi, transport: httpx.ASGITransport, db: Database
) -> None:
    browser = await signed_in_client(transport, db, api.org_id)
    try:
        missing = await browser.get(f"/console/orgs/{api.org_id}/no-such-page")
        assert missing.status_code == 404
        assert f"No console page /console/orgs/{api.org_id}/no-such-page" in missing.text
        assert 'nav aria-label="Console"' in missing.text
        assert f'href="/console/orgs/{api.org_id}/alerts"' in missing.text
        assert "Sign out" in missing.text

        elsewhere = await browser.get(f"/console/orgs/{other_api.org_id}/alerts")
        assert elsewhere.status_code == 404
        assert 'nav aria-label="Console"' not in elsewhere.text
        assert other_api.org_id not in elsewhere.text.replace(
            f"No organization with id {other_api.org_id} among yours", ""
        )
        assert "Sign out" in elsewhere.text
    finally:
        await browser.aclose()
