"""The console's Integrations page shows a Bill configuration by its account and its system's
URL, never its credentials; a Bill run's page shows its bill and its invoice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from meterbell.domain.integrations import RunStatus
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.api.test_bill_config import SECRETS, URL, created, new_account
from tests.integration.console.conftest import page_text


async def test_the_console_lists_a_bill_configuration(
    api: OrgApi, db: Database, transport: httpx.ASGITransport
) -> None:
    account = await new_account(api)
    config = await created(api, entityId=account["id"])
    text = await page_text(transport, db, api.org_id, f"/console/orgs/{api.org_id}/integrations")
    assert f"Bills of account <code>{account['id']}</code>" in text
    assert f"HttpJson <code>{URL}</code>" in text
    assert f"integrations/runs?destinationId={config['id']}" in text
    assert SECRETS[0] not in text


async def test_a_bill_runs_page_shows_its_bill_and_invoice(
    api: OrgApi, db: Database, transport: httpx.ASGITransport
) -> None:
    config = await created(api)
    run = run_store.RunRow(
        id=str(uuid.uuid4()),
        org_id=api.org_id,
        config_id=config["id"],
        entity_type="Bill",
        entity_id=str(uuid.uuid4()),
        destination="HttpJson",
        destination_id=config["id"],
        event_id=str(uuid.uuid4()),
        status=RunStatus.COMPLETE,
        body="{}",
        dt_created=datetime.now(UTC),
        url="https://ledger.example.com/i/INV-7",
        external_id="INV-7",
    )
    async with db.write() as conn:
        await run_store.insert_runs(conn, [run])
    text = await page_text(
        transport, db, api.org_id, f"/console/orgs/{api.org_id}/integrations/runs/{run.id}"
    )
    runs_of_bill = f"/console/orgs/{api.org_id}/integrations/runs?entityId={run.entity_id}"
    assert f'<dt>Bill</dt><dd><a href="{runs_of_bill}">' in text
    assert "<code>INV-7</code> at <code>https://ledger.example.com/i/INV-7</code>" in text
