"""Helpers for usage-ingest tests: a meter, measurements, submitting them, running the
validator to the end, and reading what it stored and raised."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from meterbell.domain.clock import utcnow
from meterbell.domain.measurements import INGEST_FAILURE
from meterbell.services import entities
from meterbell.store.db import Database
from meterbell.store.tables import measurement_inbox, measurements
from meterbell.workers.ingest import IngestValidator
from tests.conftest import OrgApi

METER_CODE = "api_calls"


def meter_body(**changes: Any) -> dict[str, Any]:
    """A meter with a string field, two numbers and a derived field dividing them."""
    return {
        "name": "API calls",
        "code": METER_CODE,
        "dataFields": [
            {"category": "WHO", "code": "user", "name": "User"},
            {"category": "MEASURE", "code": "requests", "name": "Requests", "unit": "count"},
            {"category": "MEASURE", "code": "bytes", "name": "Bytes", "unit": "By"},
        ],
        "derivedFields": [
            {
                "category": "MEASURE",
                "code": "bytesPerRequest",
                "name": "Bytes per request",
                "calculation": "bytes / requests",
            }
        ],
        **changes,
    }


async def new_meter(api: OrgApi, **changes: Any) -> dict[str, Any]:
    response = await api.post("meters", meter_body(**changes))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def new_account(api: OrgApi, code: str) -> dict[str, Any]:
    body = {"name": code, "code": code, "emailAddress": "billing@example.com"}
    response = await api.post("accounts", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def measurement(**fields: Any) -> dict[str, Any]:
    """A valid measurement of `meter_body()`'s meter; `fields` replace or add keys."""
    return {
        "uid": str(uuid.uuid4()),
        "meter": METER_CODE,
        "account": "acme",
        "ts": "2026-11-20T10:00:00Z",
        "who": {"user": "ada"},
        "measure": {"requests": 4, "bytes": 1000},
        **fields,
    }


async def submit(api: OrgApi, *items: dict[str, Any]) -> httpx.Response:
    return await api.post("measurements", {"measurements": list(items)})


async def accepted(api: OrgApi, *items: dict[str, Any]) -> None:
    response = await submit(api, *items)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "accepted"}


def validator(db: Database, now: datetime | None = None) -> IngestValidator:
    clock = (lambda: now) if now is not None else utcnow
    return IngestValidator(db, entities.create_in, now=clock)


async def validate_all(db: Database, now: datetime | None = None) -> int:
    """Run a validator until the inbox is empty; how many batches it took."""
    engine, batches = validator(db, now), 0
    while await engine.step():
        batches += 1
    return batches


async def stored(db: Database, org_id: str) -> list[Any]:
    """The organization's measurements, in the order they were stored."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(measurements).where(measurements.c.org_id == org_id).order_by(measurements.c.seq)
        )
        return list(rows)


async def inbox_size(db: Database, org_id: str) -> int:
    async with db.read() as conn:
        count = await conn.scalar(select(func.count()).where(measurement_inbox.c.org_id == org_id))
    return int(count or 0)


async def failures(api: OrgApi) -> list[dict[str, Any]]:
    """`newDto` of the organization's ingest failure events, oldest first."""
    response = await api.get("events", params={"eventName": INGEST_FAILURE, "pageSize": 100})
    assert response.status_code == 200, response.text
    return [event["m3terEvent"]["eventData"]["newDto"] for event in response.json()["data"]][::-1]


async def events_named(api: OrgApi, name: str) -> list[dict[str, Any]]:
    response = await api.get("events", params={"eventName": name, "pageSize": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])
