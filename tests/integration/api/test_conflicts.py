"""Every 409 tells the m3ter SDK not to retry (`x-should-retry: false`): sending the same
request again cannot succeed, and the SDK retries each 409 twice otherwise."""

from __future__ import annotations

import httpx

from meterbell.domain.catalog import entity_by_name
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.exporting import created, local_destination, operational_schedule
from tests.factories import minimal_body
from tests.integrating import fire, wired_rule
from tests.scheduling import END_DATE_EVENT, new_configuration


def assert_not_to_be_retried(response: httpx.Response, message: str) -> None:
    assert response.status_code == 409, response.text
    assert message in response.json()["message"]
    assert response.headers["x-should-retry"] == "false"


async def test_code_clash(api: OrgApi) -> None:
    body = minimal_body(entity_by_name("product"))
    assert (await api.post("products", body)).status_code == 200
    assert_not_to_be_retried(await api.post("products", body), "already exists")


async def test_deleting_a_webhook_an_integration_uses(api: OrgApi) -> None:
    wired = await wired_rule(api)
    response = await api.delete(f"integrationdestinations/webhooks/{wired.webhook['id']}")
    assert_not_to_be_retried(response, wired.config["id"])


async def test_deleting_an_export_destination_a_schedule_uses(api: OrgApi) -> None:
    destination = await created(api, "dataexports/destinations", local_destination())
    await created(
        api, "dataexports/schedules", operational_schedule(destinationIds=[destination["id"]])
    )
    response = await api.delete(f"dataexports/destinations/{destination['id']}")
    assert_not_to_be_retried(response, "is used by export schedules")


async def test_resending_an_unfinished_run(api: OrgApi, db: Database) -> None:
    wired = await wired_rule(api)
    await fire(api, db)
    (run,) = (await api.get(f"integrationruns/Notification/{wired.rule['id']}")).json()["data"]
    assert run["status"] == "WAITING"
    response = await api.post(f"integrationruns/{run['id']}/resend")
    assert_not_to_be_retried(response, "only finished runs can be resent")


async def test_downloading_an_unfinished_export(api: OrgApi) -> None:
    job = await api.post(
        "dataexports/adhoc", {"sourceType": "OPERATIONAL", "operationalDataTypes": ["BILLS"]}
    )
    response = await api.get(f"dataexports/jobs/{job.json()['jobId']}/getdownloadurl")
    assert_not_to_be_retried(response, "can be downloaded once it has SUCCEEDED")


async def test_scheduled_event_name_clash(api: OrgApi) -> None:
    await new_configuration(api)
    response = await api.post(
        "scheduledevents/configurations",
        {"name": END_DATE_EVENT, "entity": "Bill", "field": "endDate", "offset": 1},
    )
    assert_not_to_be_retried(response, "names are unique per organization")
