"""Reading integration runs: the newest run of many entities, both orders with pagination,
and every RunStatus of the spec as a filter."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from m3ter.types import IntegrationConfigurationResponse

from meterbell.domain.integrations import RunStatus
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integrating import fire, wired_rule

# The SDK's copy of the spec's RunStatus enum (the SDK is generated from the spec).
SPEC_RUN_STATUSES = get_args(IntegrationConfigurationResponse.model_fields["status"].annotation)


async def runs_of(api: OrgApi, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def walk(api: OrgApi, path: str, **params: Any) -> list[list[str]]:
    """Every page of a run list, as lists of run ids, following nextToken."""
    pages: list[list[str]] = []
    token = None
    while True:
        query = {**params, **({"nextToken": token} if token else {})}
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        pages.append([run["id"] for run in response.json()["data"]])
        token = response.json().get("nextToken")
        if not token:
            return pages


async def test_latest_with_ids_answers_the_newest_run_of_those_entities(
    api: OrgApi, db: Database
) -> None:
    first = await wired_rule(api)
    second = await wired_rule(api)
    unrelated = await wired_rule(api)
    await fire(api, db, times=2)
    newest_of = {
        wired.rule["id"]: (await runs_of(api, f"integrationruns/Notification/{wired.rule['id']}"))[
            0
        ]
        for wired in (first, second, unrelated)
    }
    ids = [first.rule["id"], second.rule["id"]]
    expected = max((newest_of[i] for i in ids), key=lambda run: run["dtCreated"])

    for params in ({"ids": ",".join(ids)}, {"ids": ids}):
        response = await api.get("integrationruns/Notification/latest", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["id"] in {newest_of[i]["id"] for i in ids}
        assert response.json()["dtCreated"] == expected["dtCreated"]
        assert response.json()["entityId"] in ids

    one = await api.get("integrationruns/Notification/latest", params={"ids": unrelated.rule["id"]})
    assert one.json() == newest_of[unrelated.rule["id"]]
    single = await api.get(f"integrationruns/Notification/latest/{unrelated.rule['id']}")
    assert single.json() == one.json()

    unknown = await api.get("integrationruns/Notification/latest", params={"ids": "nope"})
    assert unknown.status_code == 404
    no_ids = await api.get("integrationruns/Notification/latest")
    assert no_ids.status_code == 400
    assert "ids" in no_ids.json()["message"]


@pytest.mark.parametrize("by", ["entity", "destination"])
async def test_order_asc_and_desc_both_page_through_every_run(
    api: OrgApi, db: Database, by: str
) -> None:
    wired = await wired_rule(api)
    await fire(api, db, times=5)
    path = (
        f"integrationruns/Notification/{wired.rule['id']}"
        if by == "entity"
        else f"integrationruns/destinations/{wired.webhook['id']}"
    )
    newest_first = [run["id"] for run in await runs_of(api, path, pageSize=10)]
    assert len(newest_first) == 5

    assert await walk(api, path, pageSize=2, order="DESC") == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    oldest_first = newest_first[::-1]
    assert await walk(api, path, pageSize=2, order="ASC") == [
        oldest_first[0:2],
        oldest_first[2:4],
        oldest_first[4:],
    ]
    assert [r["id"] for r in await runs_of(api, path, order="asc")] == oldest_first

    bad = await api.get(path, params={"order": "NEWEST"})
    assert bad.status_code == 400
    assert "order must be ASC or DESC" in bad.json()["message"]


def test_run_statuses_are_the_specs() -> None:
    assert tuple(RunStatus) == SPEC_RUN_STATUSES


@pytest.mark.parametrize("status", SPEC_RUN_STATUSES)
async def test_every_spec_run_status_is_a_filter(api: OrgApi, db: Database, status: str) -> None:
    wired = await wired_rule(api)
    await fire(api, db)
    path = f"integrationruns/Notification/{wired.rule['id']}"
    matching = await runs_of(api, path, status=status)
    assert [run["status"] for run in matching] == (["WAITING"] if status == "WAITING" else [])
