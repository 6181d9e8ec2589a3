"""`dtActioned` is a person's mark: `POST /events/{id}/action` sets it, `DELETE` clears it, and
`includeActioned=false` lists only what still needs attention."""

from __future__ import annotations

import uuid

from meterbell.domain.clock import utcnow
from meterbell.domain.integrations import (
    INTEGRATION_CATEGORY,
    PERFORM_ERROR,
    integration_error_data,
)
from meterbell.store import events as event_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from tests.conftest import OrgApi


async def integration_error(api: OrgApi, db: Database) -> str:
    """An `integration.perform.error` event, as the deliverer writes one."""
    event = EventRow(
        id=str(uuid.uuid4()),
        org_id=api.org_id,
        event_name=PERFORM_ERROR,
        category=INTEGRATION_CATEGORY,
        event_time=utcnow(),
        m3ter_event=integration_error_data(
            config_id=str(uuid.uuid4()),
            entity_id=str(uuid.uuid4()),
            destination_id=str(uuid.uuid4()),
            run_id=str(uuid.uuid4()),
            url="https://hooks.example.com/in",
            attempts=4,
            status_code=500,
            reason="the receiver answered 500",
        ),
    )
    async with db.write() as conn:
        await event_store.insert_events(conn, [event])
    return event.id


async def needing_attention(api: OrgApi) -> list[str]:
    params = {"includeActioned": "false", "eventType": INTEGRATION_CATEGORY}
    return [e["id"] for e in (await api.get("events", params=params)).json()["data"]]


async def test_an_actioned_event_leaves_the_list_of_what_needs_attention_until_cleared(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    event_id = await integration_error(api, db)
    assert await needing_attention(api) == [event_id]

    actioned = await api.post(f"events/{event_id}/action")
    assert actioned.status_code == 200, actioned.text
    assert actioned.json()["id"] == event_id
    assert actioned.json()["dtActioned"] is not None
    assert await needing_attention(api) == []
    assert (await api.get(f"events/{event_id}")).json()["dtActioned"] is not None

    cleared = await api.delete(f"events/{event_id}/action")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["dtActioned"] is None
    assert await needing_attention(api) == [event_id]


async def test_another_organizations_event_cannot_be_actioned(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    event_id = await integration_error(api, db)
    for response in (
        await other_api.post(f"events/{event_id}/action"),
        await other_api.delete(f"events/{event_id}/action"),
        await api.post(f"events/{uuid.uuid4()}/action"),
    ):
        assert response.status_code == 404, response.text
        assert "No event" in response.json()["message"]
    assert (await api.get(f"events/{event_id}")).json()["dtActioned"] is None
