"""The console's calculation check and Test: the same compile as saving a rule (line, column
and caret of the checker's error; the event type's fields), and a calculation tried on the
organization's newest event of its type; on both stores."""

from __future__ import annotations

import pytest

from meterbell.domain.errors import InvalidRequest
from meterbell.services import notifications
from meterbell.store.db import Database
from tests.conftest import OrgApi

EVENT = "configuration.commitment.updated"
COMMITMENT = {
    "accountId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001",
    "amount": 100,
    "currency": "USD",
    "startDate": "2026-01-01",
    "endDate": "2027-01-01",
}


async def update_commitment(api: OrgApi, amount_spent: float) -> str:
    """A commitment updated through the API; the id of the event it recorded."""
    created = await api.post("commitments", COMMITMENT)
    assert created.status_code == 200, created.text
    commitment = created.json()
    updated = await api.put(
        f"commitments/{commitment['id']}", {**commitment, "amountSpent": amount_spent}
    )
    assert updated.status_code == 200, updated.text
    events = await api.get("events", params={"eventName": EVENT})
    return str(events.json()["data"][0]["id"])


async def test_a_calculation_that_compiles_is_ok_and_lists_the_event_fields(
    db: Database, api: OrgApi
) -> None:
    check = await notifications.check_calculation(
        db, api.org_id, EVENT, "new.amountSpent >= new.amount * 0.9"
    )
    assert check.error is None
    assert check.compiled is not None
    assert check.compiled.mode == "boolean"
    assert "new.amountSpent" in check.fields
    assert "old.amount" in check.fields


async def test_a_calculation_error_has_its_line_column_and_caret(db: Database, api: OrgApi) -> None:
    check = await notifications.check_calculation(
        db, api.org_id, EVENT, "new.amount > 1 and\n  new.nope > 2"
    )
    assert check.compiled is None
    assert check.error is not None
    assert (check.error.line, check.error.column) == (2, 3)
    assert "new.nope" in check.error.message
    assert check.error.render().endswith("^^^^^^^^")
    saved = {"name": "n", "code": "n", "eventName": EVENT, "calculation": "new.nope > 2"}
    with pytest.raises(InvalidRequest, match=r"new\.nope"):
        await notifications.create_rule(db, api.org_id, saved, "tester")


async def test_checking_for_an_unknown_event_type_names_it(db: Database, api: OrgApi) -> None:
    with pytest.raises(InvalidRequest, match=r"configuration\.nothing\.updated"):
        await notifications.check_calculation(
            db, api.org_id, "configuration.nothing.updated", "true"
        )


async def test_a_calculation_is_tried_on_the_newest_event_of_its_type(
    db: Database, api: OrgApi
) -> None:
    await update_commitment(api, 10)
    newest = await update_commitment(api, 95)
    fires = await notifications.evaluate_on_latest(
        db, api.org_id, EVENT, "new.amountSpent >= new.amount * 0.9"
    )
    assert fires is not None
    assert fires["event"]["id"] == newest
    assert fires["result"]["fires"] is True
    assert fires["result"]["value"] is True
    quiet = await notifications.evaluate_on_latest(db, api.org_id, EVENT, "new.amountSpent > 99")
    assert quiet is not None
    assert quiet["result"]["fires"] is False
    assert quiet["result"]["value"] is False
    failing = await notifications.evaluate_on_latest(
        db, api.org_id, EVENT, "new.amountSpent / (new.amount - 100) > 1"
    )
    assert failing is not None
    assert "zero" in failing["result"]["error"].lower()
    broken = await notifications.evaluate_on_latest(db, api.org_id, EVENT, "new.nope > 1")
    assert broken is not None
    assert broken["success"] is False
    assert "new.nope" in broken["errorMessage"]


async def test_without_an_event_of_the_type_there_is_nothing_to_try(
    db: Database, api: OrgApi, other_api: OrgApi
) -> None:
    await update_commitment(other_api, 95)
    assert await notifications.evaluate_on_latest(db, api.org_id, EVENT, "true") is None
