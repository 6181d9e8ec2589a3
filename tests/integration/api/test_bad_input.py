"""Input that once crashed a handler (a 500, or on PostgreSQL only) is a 400 naming what to
fix, on both stores, and leaves the organization's lists readable."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.request_limits import MAX_JSON_DEPTH
from tests.conftest import OrgApi
from tests.factories import minimal_body
from tests.ingesting import measurement

EDGE_DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


def nested(levels: int) -> Any:
    """A value of `levels` nested arrays (1 level: `[]`)."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_json(levels: int) -> bytes:
    """`nested(levels)` as JSON (past 255 levels no encoder writes it)."""
    return b"[" * levels + b"]" * levels


def with_field(body: dict[str, Any], name: str, raw_value: bytes) -> bytes:
    """`body` as JSON with one more field whose value is the JSON `raw_value`."""
    return orjson.dumps(body)[:-1] + b',"' + name.encode() + b'":' + raw_value + b"}"


def product(**extra: Any) -> dict[str, Any]:
    return {**minimal_body(entity_by_name("product")), **extra}


async def post_raw(api: OrgApi, path: str, raw: bytes) -> httpx.Response:
    headers = {**api.headers, "Content-Type": "application/json"}
    return await api.client.post(api.url(path), content=raw, headers=headers)


def refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


# -- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [252, 300, 1023, 2000])
async def test_deeply_nested_bodies_are_refused_naming_the_limit(api: OrgApi, levels: int) -> None:
    # The body itself is one level: the extra field's value holds the rest.
    response = await post_raw(
        api, "products", with_field(product(), "extra", nested_json(levels - 1))
    )
    refused(response, f"{MAX_JSON_DEPTH} levels")
    assert (await api.get("products")).json()["data"] == []


async def test_a_deep_extra_field_is_refused_and_events_stay_readable(api: OrgApi) -> None:
    refused(await api.post("products", product(extra=nested(250))), f"{MAX_JSON_DEPTH} levels")
    assert (await api.get("events")).status_code == 200


async def test_a_body_at_the_depth_limit_is_stored_and_its_events_read(api: OrgApi) -> None:
    created = await api.post("products", product(extra=nested(MAX_JSON_DEPTH - 1)))
    assert created.status_code == 200, created.text
    assert created.json()["extra"] == nested(MAX_JSON_DEPTH - 1)
    events = await api.get("events")
    assert events.status_code == 200, events.text
    product_events = [
        e for e in events.json()["data"] if e["eventName"].endswith(".product.created")
    ]
    assert (
        product_events[0]["m3terEvent"]["eventData"]["newDto"]["extra"] == created.json()["extra"]
    )
    refused(await api.post("products", product(extra=nested(MAX_JSON_DEPTH))), "levels")


async def test_deep_nesting_inside_strings_does_not_count(api: OrgApi) -> None:
    name = '[{"\\' * 40
    created = await api.post("products", product(name=name, extra={"text": "]" * 50}))
    assert created.status_code == 200, created.text
    assert created.json()["name"] == name


async def test_deeply_nested_measurements_are_refused(api: OrgApi) -> None:
    body = {"measurements": [measurement(uid="deep", extra=nested(300))]}
    refused(await api.post("measurements", body), f"{MAX_JSON_DEPTH} levels")


async def test_deeply_nested_token_requests_are_refused(api: OrgApi) -> None:
    body = with_field({"grant_type": "client_credentials"}, "scope", nested_json(1000))
    response = await api.client.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/json"},
        auth=(api.client_id, api.client_secret),
    )
    refused(response, f"{MAX_JSON_DEPTH} levels")


# -- numbers and dates that overflow --------------------------------------------------------------


@pytest.mark.parametrize("position", [2**63, 2**64, 10**40])
@pytest.mark.parametrize("path", ["products", "events", "dataexports/jobs"])
async def test_next_token_beyond_64_bits_is_refused(api: OrgApi, path: str, position: int) -> None:
    token = "mb1." + base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")
    refused(await api.get(path, params={"nextToken": token}), "nextToken is not valid")


@pytest.mark.parametrize("date", EDGE_DATES)
@pytest.mark.parametrize("param", ["startDate", "endDate"])
async def test_run_lists_refuse_dates_outside_the_calendar(
    api: OrgApi, param: str, date: str
) -> None:
    response = await api.get("integrationruns/Account/some-account", params={param: date})
    refused(response, f"{param} must be an ISO-8601 date")


@pytest.mark.parametrize("date", EDGE_DATES)
@pytest.mark.parametrize("param", ["dateCreatedStart", "dateCreatedEnd"])
async def test_job_lists_refuse_dates_outside_the_calendar(
    api: OrgApi, param: str, date: str
) -> None:
    refused(await api.get("dataexports/jobs", params={param: date}), f"{param} must be a date")


@pytest.mark.parametrize("date", EDGE_DATES)
@pytest.mark.parametrize("field", ["startDate", "endDate"])
async def test_adhoc_exports_refuse_dates_outside_the_calendar(
    api: OrgApi, field: str, date: str
) -> None:
    body = {"sourceType": "USAGE", "startDate": "2026-01-01T00:00:00Z"}
    body["endDate"] = "2026-01-02T00:00:00Z"
    body[field] = date
    refused(await api.post("dataexports/adhoc", body), f"'{field}' {date}")
    assert (await api.get("dataexports/jobs")).json()["data"] == []


async def test_date_times_outside_the_calendar_in_utc_schedule_nothing(api: OrgApi) -> None:
    configuration = {
        "name": "scheduled.bill.edge",
        "entity": "Bill",
        "field": "endDateTimeUTC",
        "offset": 0,
    }
    assert (await api.post("scheduledevents/configurations", configuration)).status_code == 200
    for date in EDGE_DATES:
        bill = {**minimal_body(entity_by_name("bill")), "endDateTimeUTC": date}
        response = await api.post("bills", bill)
        assert response.status_code == 200, response.text


# -- NUL ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        product(name="gold\x00plan"),
        product(**{"odd\x00key": 1}),
        product(extra={"deep": ["x\x00"]}),
    ],
    ids=["string", "key", "nested"],
)
async def test_nul_in_a_body_is_refused(api: OrgApi, body: dict[str, Any]) -> None:
    refused(await api.post("products", body), "NUL character")
    assert (await api.get("products")).json()["data"] == []


async def test_an_escaped_backslash_before_u0000_is_not_nul(api: OrgApi) -> None:
    created = await api.post("products", product(name="C:\\u0000"))
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "C:\\u0000"


@pytest.mark.parametrize(
    "path", ["products/a%00b", "events/%00", "integrationruns/Account/%00/latest/x"]
)
async def test_nul_in_a_path_is_refused(api: OrgApi, path: str) -> None:
    refused(await api.get(path), "The URL must not contain the NUL character")


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("accounts", "codes"),
        ("products", "ids"),
        ("events", "eventName"),
        ("events/fields", "eventName"),
        ("integrationruns/Account/x", "status"),
        ("notifications/configurations", "eventName"),
    ],
)
async def test_nul_in_a_query_parameter_is_refused(api: OrgApi, path: str, param: str) -> None:
    refused(await api.get(path, params={param: "a\x00b"}), "The URL must not contain")


async def test_nul_in_token_requests_is_refused(api: OrgApi) -> None:
    basic = await api.client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(api.client_id + "\x00", api.client_secret),
    )
    refused(basic, "HTTP Basic credentials must not contain the NUL character")
    form = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "s"},
    )
    refused(form, "NUL character")
    json_body = await api.client.post(
        "/oauth/token",
        content=orjson.dumps({"grant_type": "client_credentials", "client_id": "a\x00"}),
        headers={"Content-Type": "application/json"},
    )
    refused(json_body, "NUL character")


# -- signed download links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "signature"),
    [("\u00b2", "0" * 64), ("9" * 4500, "0" * 64), ("1", "\u00e9")],
    ids=["superscript-digit", "4500-digits", "non-ascii-signature"],
)
@pytest.mark.parametrize(
    "path", ["failedIngest", "dataexports/00000000-0000-0000-0000-000000000000/export.csv.gz"]
)
async def test_malformed_download_links_are_refused(
    api: OrgApi, path: str, expires: str, signature: str
) -> None:
    query = {"file": "failedIngest/x.json", "expires": expires, "signature": signature}
    response = await api.client.get(f"/downloads/{api.org_id}/{path}", params=query)
    assert response.status_code == 403, response.text
    assert "This download link is not valid" in response.json()["message"]
