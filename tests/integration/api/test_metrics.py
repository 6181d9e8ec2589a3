"""`GET /metrics`: the Prometheus exposition parses with prometheus_client's parser, every
counter rises by exactly what a test did (deliveries to a real receiver, events, rule
evaluations, ingest, exports), the gauges read the store, and MB_METRICS_TOKEN guards it.

Counters belong to the process, so each test compares two scrapes around what it does, on
stores of this module's own (no other test's events, runs or jobs in them): `quiet` has no
workers (tests run them by hand), `live` runs them all and delivers to a real receiver."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.integrations import INTEGRATION_CATEGORY
from meterbell.domain.measurements import INGEST_FAILURE_CATEGORY
from meterbell.domain.notifications import NOTIFICATION_CATEGORY
from meterbell.services import alerts
from meterbell.store import events as event_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import TEST_SECRET_KEY, OrgApi, StoreInfo, fresh_store, new_org_api
from tests.exporting import created, exporter, gcs_destination, run_jobs
from tests.factories import minimal_body
from tests.ingesting import accepted, measurement, new_meter, validate_all
from tests.integrating import fire, wired_rule
from tests.integration.webhooks.conftest import (
    FAST_DELIVERY,
    live_engine,
    new_commitment,
    spend,
    wire,
)
from tests.receiver import Receiver
from tests.scraping import Samples, parsed, rise

DELIVERIES = "meterbell_deliveries_total"
EVENTS = "meterbell_events_total"
EVALUATIONS = "meterbell_rule_evaluations_total"
PRODUCT_CREATED = "configuration.product.created"
METRICS_TOKEN = "scrape-me-please"


def product() -> dict[str, Any]:
    return {**minimal_body(entity_by_name("product")), "code": uuid.uuid4().hex[:12]}


WITHIN_S = 10.0
BACKOFF_S = FAST_DELIVERY["delivery_backoff_s"]


@pytest.fixture(scope="module")
async def quiet_db(
    store_info: StoreInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with fresh_store(store_info.kind, tmp_path_factory.mktemp("quiet")) as database:
        yield database


@pytest.fixture(scope="module")
async def quiet_client(quiet_db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=quiet_db, run_workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as c:
        yield c


@pytest.fixture
async def quiet(quiet_client: httpx.AsyncClient, quiet_db: Database) -> OrgApi:
    return await new_org_api(quiet_client, quiet_db, "Quiet organization")


@pytest.fixture(scope="module")
async def live_db(
    store_info: StoreInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with fresh_store(store_info.kind, tmp_path_factory.mktemp("live-store")) as database:
        yield database


@pytest.fixture(scope="module")
async def live_client(
    live_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(live_db, tmp_path_factory.mktemp("live")) as client:
        yield client


@pytest.fixture
async def live(live_client: httpx.AsyncClient, live_db: Database) -> OrgApi:
    return await new_org_api(live_client, live_db, "Live organization")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parsed(response.text)


async def polled(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not await check():
        assert time.monotonic() < deadline, f"{what} not within {WITHIN_S} s"
        await asyncio.sleep(0.02)


async def runs_settled(api: OrgApi, rule_id: str, count: int) -> list[dict[str, Any]]:
    """The rule's runs, once `count` of them have finished."""
    found: list[dict[str, Any]] = []

    async def settled() -> bool:
        response = await api.get(f"integrationruns/Notification/{rule_id}")
        found[:] = response.json()["data"]
        return sum(run["status"] in ("COMPLETE", "ERROR") for run in found) >= count

    await polled(settled, f"{count} finished runs")
    return found


async def dispatch_all(db: Database) -> None:
    while await Dispatcher(db).step():
        pass


# ---- counters -----------------------------------------------------------------------------


async def test_deliveries_count_each_successful_request_with_its_timings(
    live: OrgApi, receiver: Receiver
) -> None:
    wiring = await wire(live, receiver, "/counted", calculation=None, always=True)
    commitment = await new_commitment(live)
    before = await scrape(live.client)
    for spent in (10, 20, 30):
        commitment = await spend(live, commitment, spent)
    runs = await runs_settled(live, wiring.rule["id"], 3)
    after = await scrape(live.client)

    assert [run["status"] for run in runs] == ["COMPLETE"] * 3
    assert len(receiver.at("/counted")) == 3
    assert rise(before, after, DELIVERIES, outcome="success") == 3
    assert rise(before, after, DELIVERIES, outcome="failure") == 0
    assert rise(before, after, "meterbell_attempt_seconds_count") == 3
    assert rise(before, after, "meterbell_delivery_seconds_count") == 3
    # From each update's event to its receiver's answer: more than nothing, less than the test.
    assert 0 < rise(before, after, "meterbell_delivery_seconds_sum") < 3 * WITHIN_S
    assert rise(before, after, "meterbell_delivery_seconds_bucket", le="+Inf") == 3
    assert rise(before, after, EVALUATIONS, result="fired") == 3
    assert rise(before, after, EVENTS, category="Configuration") == 3
    assert rise(before, after, EVENTS, category=NOTIFICATION_CATEGORY) == 3


async def test_a_failing_receiver_counts_every_failed_attempt(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/failing", then=500)
    wiring = await wire(live, receiver, "/failing", calculation=None, always=True)
    commitment = await new_commitment(live)
    before = await scrape(live.client)
    await spend(live, commitment, 10)
    [run] = await runs_settled(live, wiring.rule["id"], 1)
    after = await scrape(live.client)

    assert run["status"] == "ERROR"
    attempts = len(receiver.at("/failing"))
    assert attempts == 4  # FAST_DELIVERY's delivery_attempts
    assert rise(before, after, DELIVERIES, outcome="failure") == attempts
    assert rise(before, after, DELIVERIES, outcome="success") == 0
    assert rise(before, after, "meterbell_attempt_seconds_count") == attempts
    assert rise(before, after, "meterbell_delivery_seconds_count") == 0
    assert rise(before, after, EVENTS, category=INTEGRATION_CATEGORY) == 1  # perform error


async def test_a_delivery_after_a_retry_counts_from_its_event(
    live: OrgApi, receiver: Receiver
) -> None:
    """The retry is claimed from the store: its event's time comes along with it."""
    receiver.answer("/retried", 500, then=200)
    wiring = await wire(live, receiver, "/retried", calculation=None, always=True)
    commitment = await new_commitment(live)
    before = await scrape(live.client)
    await spend(live, commitment, 10)
    [run] = await runs_settled(live, wiring.rule["id"], 1)
    after = await scrape(live.client)

    assert (run["status"], run["attempts"]) == ("COMPLETE", 2)
    assert rise(before, after, DELIVERIES, outcome="failure") == 1
    assert rise(before, after, DELIVERIES, outcome="success") == 1
    assert rise(before, after, "meterbell_delivery_seconds_count") == 1
    # The first attempt, then the backoff before the second, are part of it.
    assert rise(before, after, "meterbell_delivery_seconds_sum") >= BACKOFF_S


async def test_events_are_counted_by_category_once_committed(
    quiet: OrgApi, quiet_db: Database
) -> None:
    before = await scrape(quiet.client)
    for _ in range(2):
        await created(quiet, "products", product())
    with pytest.raises(RolledBack):
        await _written_then_rolled_back(quiet_db, _billing_event(quiet.org_id))
    async with quiet_db.write() as conn:
        await event_store.insert_events(conn, [_billing_event(quiet.org_id)])
    after = await scrape(quiet.client)

    assert rise(before, after, EVENTS, category="Configuration") == 2
    assert rise(before, after, EVENTS, category="Billing") == 1


class RolledBack(Exception):
    pass


async def _written_then_rolled_back(db: Database, event: EventRow) -> None:
    async with db.write() as conn:
        await event_store.insert_events(conn, [event])
        raise RolledBack


def _billing_event(org_id: str) -> EventRow:
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=org_id,
        event_name="billing.bill.created",
        category="Billing",
        event_time=utcnow(),
        m3ter_event={},
    )


async def test_rule_evaluations_count_fired_not_fired_and_errors(
    quiet: OrgApi, quiet_db: Database
) -> None:
    calculations = {
        "always": None,
        "never": 'new.name == "never this name"',
        "broken": "new.version / (new.version - new.version) > 0",  # division by zero
    }
    for code, calculation in calculations.items():
        rule = {"name": code, "code": code, "eventName": PRODUCT_CREATED}
        rule |= {"calculation": calculation} if calculation else {"alwaysFireEvent": True}
        await created(quiet, "notifications/configurations", rule)
    await dispatch_all(quiet_db)
    before = await scrape(quiet.client)
    for _ in range(2):
        await created(quiet, "products", product())
    await dispatch_all(quiet_db)
    after = await scrape(quiet.client)

    assert rise(before, after, EVALUATIONS, result="fired") == 2
    assert rise(before, after, EVALUATIONS, result="not_fired") == 2
    assert rise(before, after, EVALUATIONS, result="error") == 2
    assert rise(before, after, EVENTS, category=NOTIFICATION_CATEGORY) == 2


async def test_ingest_counts_measurements_ingested_and_failed(
    quiet: OrgApi, quiet_db: Database
) -> None:
    await new_meter(quiet)
    before = await scrape(quiet.client)
    await accepted(quiet, measurement(), measurement(), measurement(meter="no-such-meter"))
    await validate_all(quiet_db)
    after = await scrape(quiet.client)

    ingest = "meterbell_ingest_measurements_total"
    assert rise(before, after, ingest, result="ingested") == 2
    assert rise(before, after, ingest, result="failed") == 1
    assert rise(before, after, EVENTS, category=INGEST_FAILURE_CATEGORY) == 1


async def test_export_jobs_count_by_how_they_ended(
    quiet: OrgApi, quiet_db: Database, settings: Settings
) -> None:
    unsupported = await created(quiet, "dataexports/destinations", gcs_destination())
    accounts = {"sourceType": "OPERATIONAL", "operationalDataTypes": ["ACCOUNTS"]}
    before = await scrape(quiet.client)
    await created(quiet, "dataexports/adhoc", accounts)
    await created(quiet, "dataexports/adhoc", accounts)
    await created(quiet, "dataexports/adhoc", {**accounts, "destinationIds": [unsupported["id"]]})
    assert await run_jobs(exporter(quiet_db, settings)) == 3
    after = await scrape(quiet.client)

    jobs = "meterbell_export_jobs_total"
    assert rise(before, after, jobs, status="SUCCEEDED") == 2
    assert rise(before, after, jobs, status="FAILED") == 1


# ---- gauges -------------------------------------------------------------------------------


async def test_unfinished_runs_by_status(quiet: OrgApi, quiet_db: Database) -> None:
    await wired_rule(quiet)
    await dispatch_all(quiet_db)
    before = await scrape(quiet.client)
    await fire(quiet, quiet_db, times=2)  # no deliverer here: the runs wait
    after = await scrape(quiet.client)

    assert rise(before, after, "meterbell_runs", status="WAITING") == 2
    assert rise(before, after, "meterbell_runs", status="STARTED") == 0


async def test_dispatch_lag_is_the_age_of_the_oldest_waiting_event(
    quiet: OrgApi, quiet_db: Database
) -> None:
    await dispatch_all(quiet_db)
    assert (await scrape(quiet.client))[("meterbell_dispatch_lag_seconds", frozenset())] == 0
    started = time.monotonic()
    await created(quiet, "products", product())
    await created(quiet, "products", product())
    lag = (await scrape(quiet.client))[("meterbell_dispatch_lag_seconds", frozenset())]
    assert 0 < lag <= time.monotonic() - started + 0.05
    await dispatch_all(quiet_db)
    assert (await scrape(quiet.client))[("meterbell_dispatch_lag_seconds", frozenset())] == 0


async def test_open_alerts_by_severity(quiet: OrgApi, quiet_db: Database) -> None:
    before = await scrape(quiet.client)
    for resource in ("first", "second", "second"):  # the repeat bumps the open alert
        async with quiet_db.write() as conn:
            await alerts.raise_alert(conn, _occurrence(quiet.org_id, resource), utcnow())
    after = await scrape(quiet.client)

    assert rise(before, after, "meterbell_alerts_open", severity="ERROR") == 2
    assert rise(before, after, "meterbell_alerts_open", severity="WARN") == 0


def _occurrence(org_id: str, resource_id: str) -> Occurrence:
    return Occurrence(
        org_id=org_id,
        type=AlertType.INTEGRATION_PERFORM_ERROR,
        severity=Severity.ERROR,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=resource_id,
        description="Run failed: the receiver answered 500.",
    )


# ---- access -------------------------------------------------------------------------------


async def test_a_metrics_token_is_required_when_set(
    quiet_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("token"),
        secret_key=TEST_SECRET_KEY,
        metrics_token=METRICS_TOKEN,
    )
    app = create_app(settings, db=quiet_db, run_workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as client:
        for headers in (
            {},
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
        ):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert "MB_METRICS_TOKEN" in refused.json()["message"]
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200, allowed.text
    assert ("meterbell_dispatch_lag_seconds", frozenset()) in parsed(allowed.text)
