"""The entity and its event are written together or not at all (the transactional outbox)."""

from __future__ import annotations

from typing import Any

import pytest

from meterbell.domain.catalog import entity_by_name
from meterbell.services import versioned as versioned_service
from tests.conftest import OrgApi
from tests.factories import minimal_body


class InjectedFailure(Exception):
    pass


@pytest.fixture
def failing_event_write(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*_args: Any, **_kwargs: Any) -> None:
        raise InjectedFailure("the event write failed")

    monkeypatch.setattr(versioned_service, "insert_events", fail)


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

    async def fail(*_args: Any, **_kwargs: Any) -> None:
        raise InjectedFailure("the event write failed")

    monkeypatch.setattr(versioned_service, "insert_events", fail)
    updated = await api.put(f"commitments/{created['id']}", {**created, "amountSpent": 5})
    deleted = await api.delete(f"commitments/{created['id']}")
    monkeypatch.undo()
    assert (updated.status_code, deleted.status_code) == (500, 500)
    assert (await api.get(f"commitments/{created['id']}")).json() == created
    assert await event_count(api) == events_before
