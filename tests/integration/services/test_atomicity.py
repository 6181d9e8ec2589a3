"""The entity and its event are written together or not at all (the transactional outbox)."""

from __future__ import annotations

from typing import Any

import pytest

from meterbell.domain.catalog import entity_by_name
from meterbell.services import scheduled as scheduled_service
from meterbell.services import versioned as versioned_service
from tests.conftest import OrgApi
from tests.factories import minimal_body


class InjectedFailure(Exception):
    pass


async def fail_event_write(*_args: Any, **_kwargs: Any) -> None:
    raise InjectedFailure("the event write failed")


async def fail_scheduled_events(*_args: Any, **_kwargs: Any) -> None:
    raise InjectedFailure("recomputing scheduled events failed")


@pytest.fixture
def failing_event_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versioned_service, "insert_events", fail_event_write)


async def event_count(api: OrgApi) -> int:
    return len((await api.get("events", params={"pageSize": 100})).json()["data"])


async def test_failed_event_write_leaves_no_entity(api: OrgApi, failing_event_write: None) -> None:
    events_before = await event_count(api)
    response = await api.post("commitments", minimal_body(entity_by_name("commitment")))
    assert response.status_code == 500
    assert response.json() == {"message": "Internal error: the server log has the details"}
    assert (await api.get("commitments")).json()["data"] == []
    assert await event_count(api) == events_before


async def test_failed_event_write_leaves_update_and_delete_undone(
    api: OrgApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = (await api.post("commitments", minimal_body(entity_by_name("commitment")))).json()
    events_before = await event_count(api)

    monkeypatch.setattr(versioned_service, "insert_events", fail_event_write)
    updated = await api.put(f"commitments/{created['id']}", {**created, "amountSpent": 5})
    deleted = await api.delete(f"commitments/{created['id']}")
    monkeypatch.undo()
    assert (updated.status_code, deleted.status_code) == (500, 500)
    assert (await api.get(f"commitments/{created['id']}")).json() == created
    assert await event_count(api) == events_before


async def test_a_field_first_sent_in_a_rolled_back_write_is_learnt_when_it_is_sent_again(
    api: OrgApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**minimal_body(entity_by_name("commitment")), "riskScore": 0.7}
    # Fails after the new field was recorded, inside the same transaction.
    monkeypatch.setattr(scheduled_service, "entity_written", fail_scheduled_events)
    assert (await api.post("commitments", body)).status_code == 500
    monkeypatch.undo()
    assert (await api.post("commitments", body)).status_code == 200
    query = {"eventName": "configuration.commitment.created"}
    fields = (await api.get("events/fields", params=query)).json()["events"]
    assert fields[query["eventName"]]["new.riskScore"] == "double"
