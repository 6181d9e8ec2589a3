"""The console's Integrations page shows a Slack configuration by its masked URL, and its
runs link finds the runs to it (a Slack configuration is its own destination)."""

from __future__ import annotations

import httpx

from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.api.test_slack_config import MASKED, created
from tests.integration.console.conftest import page_text


async def test_a_slack_configuration_is_shown_masked(
    api: OrgApi, db: Database, transport: httpx.ASGITransport
) -> None:
    config = await created(api)
    text = await page_text(transport, db, api.org_id, f"/console/orgs/{api.org_id}/integrations")
    assert f"Slack <code>{MASKED}</code>" in text
    assert f"integrations/runs?destinationId={config['id']}" in text
    assert "Xx9secretToken" not in text
