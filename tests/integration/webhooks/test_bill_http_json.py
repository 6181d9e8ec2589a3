"""Bill integrations to an HttpJson system through a live engine and a real accounts-receivable
stand-in (tests/ar_server.py): approving or locking a bill starts a run that POSTs the bill
with the account's customer id and the configuration's credentials; the run ends COMPLETE
with the invoice's id and URL, or with each failure's status, error event and alert."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from meterbell.store.db import Database
from tests.ar_server import CLIENT_ID, CLIENT_SECRET, ArServer
from tests.conftest import OrgApi, new_org_api
from tests.integration.api.test_alerts import listed
from tests.integration.webhooks.conftest import FAST_DELIVERY, live_engine
from tests.integration.webhooks.test_delivery import events_named, poll

ATTEMPTS = FAST_DELIVERY["delivery_attempts"]
AUTO_DISABLE_AFTER = FAST_DELIVERY["auto_disable_after"]
FINAL = ("COMPLETE", "ERROR", "AUTH_FAILED", "DISABLED")
API_KEY = "ar-api-key-0123456789"
LINE_ITEM = {
    "averageUnitPrice": 0.01,
    "conversionRate": 1.0,
    "convertedSubtotal": 12.0,
    "currency": "USD",
    "lineItemType": "USAGE",
    "unit": "call",
    "units": 1.0,
}
LINE_ITEMS = [
    {**LINE_ITEM, "id": "li-1", "description": "API calls", "quantity": 1200, "subtotal": 12.0},
    {**LINE_ITEM, "id": "li-2", "description": "Storage", "quantity": 3, "subtotal": 30.5},
]


@pytest.fixture(scope="module")
async def bills_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(db, tmp_path_factory.mktemp("bills")) as client:
        yield client


@pytest.fixture
async def live(bills_client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(bills_client, db, "Bills organization")


@pytest.fixture
async def ar() -> AsyncIterator[ArServer]:
    server = ArServer()
    await server.start()
    yield server
    await server.stop()


async def created(api: OrgApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def new_account(api: OrgApi) -> dict[str, Any]:
    code = f"acme_{uuid.uuid4().hex[:8]}"
    return await created(
        api, "accounts", {"code": code, "name": code, "emailAddress": "ap@acme.example"}
    )


def bill_body(account_id: str, **fields: Any) -> dict[str, Any]:
    """A pending bill of the account, with LINE_ITEMS."""
    return {
        "accountId": account_id,
        "startDate": "2026-11-01",
        "endDate": "2026-12-01",
        "currency": "USD",
        "status": "PENDING",
        "lineItems": LINE_ITEMS,
        **fields,
    }


async def new_bill(api: OrgApi, account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return await created(api, "bills", bill_body(account["id"], **fields))


async def map_account(
    api: OrgApi, account: dict[str, Any], customer: str, system: str = "HttpJson"
) -> None:
    await created(
        api,
        "externalmappings",
        {
            "m3terEntity": "Account",
            "m3terId": account["id"],
            "externalSystem": system,
            "externalTable": "Customer",
            "externalId": customer,
        },
    )


async def http_json_config(
    api: OrgApi, ar: ArServer, credentials: dict[str, Any], **config_data: Any
) -> dict[str, Any]:
    return await created(
        api,
        "integrationconfigs",
        {
            "entityType": "Bill",
            "destination": "HttpJson",
            "configData": {"url": ar.url("/invoices"), **config_data},
            "credentials": credentials,
        },
    )


async def approve(api: OrgApi, bill: dict[str, Any]) -> dict[str, Any]:
    response = await api.put(f"bills/{bill['id']}/status", {"status": "APPROVED"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def bill_runs(api: OrgApi, bill: dict[str, Any], count: int = 1) -> list[dict[str, Any]]:
    """The bill's runs, once `count` of them are final."""

    async def check() -> list[dict[str, Any]] | None:
        response = await api.get(f"integrationruns/Bill/{bill['id']}", params={"pageSize": 100})
        runs = list(response.json()["data"])
        return runs if len([r for r in runs if r["status"] in FINAL]) >= count else None

    return list(await poll(check))


async def attempts_of(api: OrgApi, run: dict[str, Any]) -> list[dict[str, Any]]:
    payload = (await api.get(f"integrationruns/logs/{run['id']}")).json()["Payload"]
    return list(orjson.loads(base64.b64decode(payload))["attempts"])


async def sent_bill(
    api: OrgApi, ar: ArServer, credentials: dict[str, Any], **config_data: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A mapped account's bill approved with this configuration: (config, bill, its run)."""
    config = await http_json_config(api, ar, credentials, **config_data)
    account = await new_account(api)
    await map_account(api, account, "cus_42")
    bill = await approve(api, await new_bill(api, account))
    (run,) = await bill_runs(api, bill)
    return config, bill, run


async def test_an_approved_bill_is_posted_and_its_run_records_the_invoice(
    live: OrgApi, ar: ArServer
) -> None:
    ar.expected = {"Authorization": f"Bearer {API_KEY}"}
    config, bill, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    assert run["status"] == "COMPLETE", run
    assert run["externalId"] == "inv_1"
    assert run["url"] == ar.url("/i/inv_1")
    assert (run["entityType"], run["entityId"]) == ("Bill", bill["id"])
    assert (run["destination"], run["integrationConfigId"]) == ("HttpJson", config["id"])
    (request,) = ar.at("/invoices")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"].startswith("meterbell-")
    assert request.body["externalCustomerId"] == "cus_42"
    assert request.body["bill"]["id"] == bill["id"]
    assert request.body["bill"]["status"] == "APPROVED"
    assert request.body["bill"]["lineItems"] == LINE_ITEMS
    (attempt,) = await attempts_of(live, run)
    assert attempt["error"] is None
    latest = await live.get(f"integrationruns/Bill/latest/{bill['id']}")
    assert latest.json()["externalId"] == "inv_1"


@pytest.mark.parametrize(
    ("credentials", "config_data", "header", "value"),
    [
        (
            {"type": "HTTP_BASIC", "username": "meterbell", "password": "pa55"},
            {},
            "Authorization",
            "Basic " + base64.b64encode(b"meterbell:pa55").decode(),
        ),
        (
            {"type": "STATIC_API_KEY", "apiKey": API_KEY},
            {"apiKeyHeader": "X-Api-Key"},
            "X-Api-Key",
            API_KEY,
        ),
    ],
)
async def test_basic_and_header_api_key_credentials_are_sent(
    live: OrgApi,
    ar: ArServer,
    credentials: dict[str, Any],
    config_data: dict[str, Any],
    header: str,
    value: str,
) -> None:
    ar.expected = {header: value}
    _, _, run = await sent_bill(live, ar, credentials, **config_data)
    assert run["status"] == "COMPLETE", run
    (request,) = ar.at("/invoices")
    assert request.headers[header] == value


async def test_an_oauth_token_is_fetched_once_for_two_runs(live: OrgApi, ar: ArServer) -> None:
    ar.expected = {"Authorization": "Bearer token-1"}
    credentials = {
        "type": "OAUTH_CLIENT_CREDENTIALS",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "tokenUrl": ar.url("/token"),
    }
    await sent_bill(live, ar, credentials)
    account = await new_account(live)
    await map_account(live, account, "cus_43")
    (run,) = await bill_runs(live, await approve(live, await new_bill(live, account)))
    assert run["status"] == "COMPLETE", run
    assert ar.tokens_given == ["token-1"]
    assert [r.body["externalCustomerId"] for r in ar.at("/invoices")] == ["cus_42", "cus_43"]


async def test_a_refused_oauth_token_is_fetched_again_once(live: OrgApi, ar: ArServer) -> None:
    ar.expected = {"Authorization": "Bearer token-2"}  # the first token is refused
    credentials = {
        "type": "OAUTH_CLIENT_CREDENTIALS",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "tokenUrl": ar.url("/token"),
    }
    _, _, run = await sent_bill(live, ar, credentials)
    assert run["status"] == "COMPLETE", run
    assert ar.tokens_given == ["token-1", "token-2"]
    assert len(ar.at("/invoices")) == 2


async def test_no_external_mapping_ends_error_with_its_event_and_an_alert_naming_the_account(
    live: OrgApi, ar: ArServer
) -> None:
    config = await http_json_config(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    account = await new_account(live)
    await map_account(live, account, "cus_9", system="Stripe")  # another system's
    bill = await approve(live, await new_bill(live, account))
    (run,) = await bill_runs(live, bill)
    assert run["status"] == "ERROR"
    assert f"account {account['id']} has no external mapping to HttpJson" in run["error"]
    assert "externalId" not in run
    assert ar.requests == []
    (event,) = await events_named(live, "integration.missingaccountmapping.error")
    details = event["m3terEvent"]["eventData"]["newDto"]
    assert (details["entityType"], details["entityId"]) == ("Bill", bill["id"])
    assert details["integrationRunId"] == run["id"]
    (alert,) = await listed(
        live, type="INTEGRATION_MISSING_ACCOUNT_MAPPING", resourceId=config["id"]
    )
    assert f"account {account['id']} has no external mapping to HttpJson" in alert["description"]
    assert alert["eventIds"] == [event["id"]]


async def test_refused_credentials_end_auth_failed(live: OrgApi, ar: ArServer) -> None:
    ar.expected = {"Authorization": "Bearer the-right-key"}
    config, _, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    assert run["status"] == "AUTH_FAILED"
    assert "HTTP 401: bad credentials" in run["error"]
    assert len(ar.at("/invoices")) == 1  # not retried
    (event,) = await events_named(live, "integration.authentication.error")
    assert "HTTP 401: bad credentials" in event["m3terEvent"]["eventData"]["newDto"]["reason"]
    (alert,) = await listed(live, type="INTEGRATION_AUTHENTICATION_ERROR", resourceId=config["id"])
    assert "HttpJson refused the credentials" in alert["description"]


async def test_rejected_bill_data_ends_error_with_the_systems_message(
    live: OrgApi, ar: ArServer
) -> None:
    ar.answer((422, "currency XTS is not supported"))
    config, _, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    assert run["status"] == "ERROR"
    assert "HTTP 422: currency XTS is not supported" in run["error"]
    assert len(ar.at("/invoices")) == 1
    (event,) = await events_named(live, "integration.validation.error")
    reason = event["m3terEvent"]["eventData"]["newDto"]["reason"]
    assert "currency XTS is not supported" in reason
    (alert,) = await listed(live, type="INTEGRATION_VALIDATION_ERROR", resourceId=config["id"])
    assert "currency XTS is not supported" in alert["description"]


async def test_a_system_down_is_retried_with_the_same_idempotency_key(
    live: OrgApi, ar: ArServer
) -> None:
    ar.answer((503, "maintenance"), (500, "oops"))
    _, _, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    assert run["status"] == "COMPLETE", run
    assert run["attempts"] == 3
    keys = {r.headers["Idempotency-Key"] for r in ar.at("/invoices")}
    assert len(keys) == 1
    assert ar.invoices == {keys.pop(): "inv_1"}


async def test_a_resent_run_carries_its_keys_so_the_bill_version_makes_one_invoice(
    live: OrgApi, ar: ArServer
) -> None:
    _, bill, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    resent = await live.post(f"integrationruns/{run['id']}/resend")
    assert resent.status_code == 200, resent.text
    runs = await bill_runs(live, bill, 2)
    assert [(r["status"], r["externalId"]) for r in runs] == [("COMPLETE", "inv_1")] * 2
    assert runs[0]["parentIntegrationRunId"] == run["id"]
    (first, second) = ar.at("/invoices")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert len(ar.invoices) == 1


async def test_an_answer_lost_after_the_invoice_was_made_makes_no_second_invoice(
    live: OrgApi, ar: ArServer
) -> None:
    ar.late_answers.append(FAST_DELIVERY["delivery_timeout_s"] + 0.5)
    _, _, run = await sent_bill(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    assert run["status"] == "COMPLETE", run
    assert run["attempts"] == 2
    (first, second) = await attempts_of(live, run)
    assert "timed out" in first["error"]
    assert second["error"] is None
    assert list(ar.invoices.values()) == ["inv_1"]
    assert run["externalId"] == "inv_1"


async def test_a_system_down_for_good_fails_runs_then_disables_the_integration(
    live: OrgApi, ar: ArServer
) -> None:
    ar.answer(*[(503, "down")] * (ATTEMPTS * AUTO_DISABLE_AFTER))
    config = await http_json_config(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    account = await new_account(live)
    await map_account(live, account, "cus_1")
    for done in range(1, AUTO_DISABLE_AFTER + 1):
        (run,) = await bill_runs(live, await approve(live, await new_bill(live, account)))
        assert run["status"] == "ERROR"
        assert run["attempts"] == ATTEMPTS
        assert "HTTP 503: down" in run["error"]
        assert len(await events_named(live, "integration.perform.error")) == done
    (alert,) = await listed(live, type="INTEGRATION_PERFORM_ERROR", resourceId=config["id"])
    assert alert["count"] == AUTO_DISABLE_AFTER
    disabled = (await live.get(f"integrationconfigs/{config['id']}")).json()
    assert disabled["enabled"] is False
    assert len(await events_named(live, "integration.disabled.error")) == 1
    later = await approve(live, await new_bill(live, account))
    listed_runs = await live.get(f"integrationruns/Bill/{later['id']}")
    assert listed_runs.json()["data"] == []  # a disabled configuration starts no runs


async def test_a_delivery_resolves_the_integrations_bill_alerts(live: OrgApi, ar: ArServer) -> None:
    config = await http_json_config(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    account = await new_account(live)
    (failed,) = await bill_runs(live, await approve(live, await new_bill(live, account)))
    assert failed["status"] == "ERROR"
    await map_account(live, account, "cus_7")
    (run,) = await bill_runs(live, await approve(live, await new_bill(live, account)))
    assert run["status"] == "COMPLETE"

    async def resolved() -> list[dict[str, Any]]:
        alerts = await listed(
            live, type="INTEGRATION_MISSING_ACCOUNT_MAPPING", resourceId=config["id"]
        )
        return [a for a in alerts if a["status"] == "RESOLVED"]

    assert await poll(resolved)


async def test_locking_an_approved_bill_sends_it_to_configurations_that_have_not(
    live: OrgApi, ar: ArServer
) -> None:
    account = await new_account(live)
    await map_account(live, account, "cus_5")
    bill = await approve(live, await new_bill(live, account))  # no configuration yet
    config = await http_json_config(live, ar, {"type": "STATIC_API_KEY", "apiKey": API_KEY})
    locked = await live.put(f"bills/{bill['id']}/lock")
    assert locked.status_code == 200, locked.text
    assert locked.json()["locked"] is True
    assert locked.json()["version"] == bill["version"] + 1
    (run,) = await bill_runs(live, bill)
    assert (run["status"], run["integrationConfigId"]) == ("COMPLETE", config["id"])
    again = await live.put(f"bills/{bill['id']}/lock")
    assert again.json()["version"] == locked.json()["version"]
    assert len(await bill_runs(live, bill)) == 1
    pending = await live.put(f"bills/{bill['id']}/status", {"status": "PENDING"})
    assert pending.status_code == 409
    assert "is locked" in pending.json()["message"]


async def test_a_pending_bill_cannot_be_locked(live: OrgApi) -> None:
    bill = await new_bill(live, await new_account(live))
    response = await live.put(f"bills/{bill['id']}/lock")
    assert response.status_code == 409
    assert "approve it before locking it" in response.json()["message"]


async def test_bulk_approval_starts_a_run_per_bill_of_a_matching_configuration(
    live: OrgApi, ar: ArServer
) -> None:
    first, second = await new_account(live), await new_account(live)
    for account in (first, second):
        await map_account(live, account, f"cus_{account['code']}")
    await created(
        live,
        "integrationconfigs",
        {
            "entityType": "Bill",
            "entityId": first["id"],
            "destination": "HttpJson",
            "configData": {"url": ar.url("/invoices/first-only")},
            "credentials": {"type": "STATIC_API_KEY", "apiKey": API_KEY},
        },
    )
    bills = [await new_bill(live, first), await new_bill(live, second)]
    already = await approve(live, await new_bill(live, second))
    response = await live.post("bills/approve", {"billIds": [b["id"] for b in [*bills, already]]})
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Approved 2 bills; 1 was approved already"}
    (run,) = await bill_runs(live, bills[0])
    assert run["status"] == "COMPLETE"
    assert (await live.get(f"bills/{bills[1]['id']}")).json()["status"] == "APPROVED"
    assert (await live.get(f"integrationruns/Bill/{bills[1]['id']}")).json()["data"] == []
    assert [r.body["externalCustomerId"] for r in ar.at("/invoices/first-only")] == [
        f"cus_{first['code']}"
    ]


async def test_bulk_approval_with_an_unknown_bill_approves_none(live: OrgApi) -> None:
    bill = await new_bill(live, await new_account(live))
    response = await live.post("bills/approve", {"billIds": [bill["id"], str(uuid.uuid4())]})
    assert response.status_code == 404
    assert "No Bill with id" in response.json()["message"]
    assert (await live.get(f"bills/{bill['id']}")).json()["status"] == "PENDING"


async def test_another_organization_cannot_approve_or_lock_a_bill(
    live: OrgApi, bills_client: httpx.AsyncClient, db: Database
) -> None:
    bill = await new_bill(live, await new_account(live))
    other = await new_org_api(bills_client, db, "Other organization")
    for response in (
        await other.put(f"bills/{bill['id']}/status", {"status": "APPROVED"}),
        await other.put(f"bills/{bill['id']}/lock"),
        await other.post("bills/approve", {"billIds": [bill["id"]]}),
    ):
        assert response.status_code == 404, response.text
    assert (await live.get(f"bills/{bill['id']}")).json()["status"] == "PENDING"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("status", {"status": "PAID"}, "status"),
        ("status", {}, "status"),
        ("status", [], ""),
        ("approve", {"billIds": []}, "billIds"),
        ("approve", {"billIds": "abc"}, "billIds"),
        ("approve", {}, "billIds"),
    ],
)
async def test_bad_bodies_are_400(live: OrgApi, path: str, body: Any, message: str) -> None:
    bill = await new_bill(live, await new_account(live))
    where = "bills/approve" if path == "approve" else f"bills/{bill['id']}/status"
    response = await (live.post(where, body) if path == "approve" else live.put(where, body))
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
