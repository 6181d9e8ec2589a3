"""`POST /measurements`: accepted fast and stored whole, or refused with nothing stored; the
failed-ingest download link: works, expires, cannot be forged or used for another
organization; meters: data and derived fields are checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.domain.download_links import LINK_LIFETIME, DownloadSigner
from meterbell.services import ingest
from meterbell.store.db import Database
from meterbell.store.wakeups import Wakeup
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api
from tests.ingesting import (
    accepted,
    failures,
    inbox_size,
    measurement,
    meter_body,
    new_meter,
    stored,
    submit,
    validate_all,
)


async def test_a_batch_of_1000_is_accepted_and_all_are_stored(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    items = [measurement(account=f"customer-{i % 7}") for i in range(1000)]
    await accepted(api, *items)
    assert await inbox_size(db, api.org_id) == 1
    await validate_all(db)
    rows = await stored(db, api.org_id)
    assert [row.uid for row in rows] == [item["uid"] for item in items]
    assert all(row.fields["bytesPerRequest"] == 250.0 for row in rows)
    assert await inbox_size(db, api.org_id) == 0
    assert await failures(api) == []


async def test_accepting_wakes_the_validator(db: Database, settings: Settings) -> None:
    app = create_app(settings, db=db, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as client:
        api = await new_org_api(client, db, "Wake-up test")
        woken = db.wakeups[Wakeup.MEASUREMENTS_RECEIVED]
        woken.clear()
        await accepted(api, measurement())
        assert woken.is_set()
    await validate_all(db)


async def post_raw(api: OrgApi, body: bytes) -> Any:
    headers = {**api.headers, "Content-Type": "application/json"}
    return await api.client.post(api.url("measurements"), content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "must be a JSON object"),
        (b'{"measurements": []}', 400, "1 to 1000 items (got 0)"),
        (b'{"items": [{}]}', 400, "'measurements' is required"),
        (orjson.dumps({"measurements": [measurement()] * 1001}), 400, "(got 1001)"),
        (orjson.dumps({"measurements": [measurement(), 5]}), 400, "measurements[1] must be"),
        (orjson.dumps({"measurements": [measurement(uid="a\x00b")]}), 400, "NUL character"),
    ],
)
async def test_malformed_requests_are_refused_and_nothing_is_stored(
    api: OrgApi, db: Database, body: bytes, status: int, message: str
) -> None:
    response = await post_raw(api, body)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]
    assert await inbox_size(db, api.org_id) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"meter": None}, "measurements[2].meter is required"),
        ({"account": ""}, "measurements[2].account is required"),
        ({"ts": None}, "measurements[2].ts must be an ISO-8601"),
        ({"ts": "yesterday"}, "measurements[2].ts must be an ISO-8601"),
        ({"ets": "2026-13-01T00:00:00Z"}, "measurements[2].ets must be an ISO-8601"),
        ({"ts": "0001-01-01T00:00:00+01:00"}, "measurements[2].ts must be an ISO-8601"),
        ({"uid": "u" * 51}, "measurements[2].uid must be a string of at most 50"),
        ({"measure": {"requests": "4"}}, "measurements[2].measure.requests must be a number"),
        ({"measure": {"requests": True}}, "measurements[2].measure.requests must be a number"),
        ({"who": {"user": 7}}, "measurements[2].who.user must be a string"),
        ({"who": ["ada"]}, "measurements[2].who must be an object"),
        ({"metadata": {"note": "x" * 257}}, "measurements[2].metadata.note must be at most 256"),
    ],
)
async def test_a_bad_measurement_is_named_by_index_and_field(
    api: OrgApi, db: Database, changes: dict[str, Any], message: str
) -> None:
    response = await submit(api, measurement(), measurement(), measurement(**changes))
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert await inbox_size(db, api.org_id) == 0


async def test_missing_timestamp_is_named(api: OrgApi, db: Database) -> None:
    item = measurement()
    del item["ts"]
    response = await submit(api, item)
    assert response.status_code == 400
    assert "measurements[0].ts is required" in response.json()["message"]


async def test_a_body_of_512000_bytes_or_more_is_too_large(api: OrgApi, db: Database) -> None:
    body = orjson.dumps({"measurements": [measurement()] * 1000})
    padded = body + b" " * (512_000 - len(body))  # JSON allows trailing whitespace
    response = await post_raw(api, padded)
    assert response.status_code == 413
    assert "is 512000 bytes; it must be under 512000 bytes" in response.json()["message"]
    assert await inbox_size(db, api.org_id) == 0
    assert (await post_raw(api, padded[:-1])).status_code == 200
    assert await inbox_size(db, api.org_id) == 1


async def test_measurements_need_the_organizations_token(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    response = await other_api.client.post(
        api.url("measurements"), json={"measurements": [measurement()]}, headers=other_api.headers
    )
    assert response.status_code == 403
    assert (await api.client.post(api.url("measurements"), json={})).status_code == 401
    assert await inbox_size(db, api.org_id) == 0


# -- failed-ingest downloads -----------------------------------------------------------------


async def failed_file(api: OrgApi, db: Database) -> str:
    await new_meter(api)
    await accepted(api, measurement(meter="nope", uid="lost"))
    await validate_all(db)
    [failure] = await failures(api)
    return str(failure["getDownloadUrl"])


async def test_download_url_returns_the_failed_measurement_and_reason(
    api: OrgApi, db: Database
) -> None:
    file = await failed_file(api, db)
    response = await api.get("measurements/failedIngest/getDownloadUrl", params={"file": file})
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith("http://meterbell.test/downloads/")
    download = await api.client.get(url)  # no token: the link is the credential
    assert download.status_code == 200, download.text
    body = download.json()
    assert body["type"] == "UndefinedMeter"
    assert "nope" in body["reason"]
    assert (body["measurement"]["uid"], body["measurement"]["meter"]) == ("lost", "nope")
    assert "attachment" in download.headers["content-disposition"]


async def test_download_link_expires_after_5_minutes(api: OrgApi, db: Database) -> None:
    file = await failed_file(api, db)
    signer = DownloadSigner(TEST_SECRET_KEY)
    issued = utcnow()
    link = await ingest.download_link(db, api.org_id, file, signer, issued)
    almost = issued + LINK_LIFETIME - timedelta(seconds=1)
    assert (await ingest.download(db, api.org_id, link, signer, almost))["type"] == "UndefinedMeter"
    stale = await ingest.download_link(db, api.org_id, file, signer, issued - LINK_LIFETIME)
    response = await api.client.get(f"/downloads/{api.org_id}/failedIngest", params=stale)
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


async def test_download_link_cannot_be_altered(api: OrgApi, db: Database) -> None:
    file = await failed_file(api, db)
    response = await api.get("measurements/failedIngest/getDownloadUrl", params={"file": file})
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.json()["url"]).query).items()}
    path = f"/downloads/{api.org_id}/failedIngest"
    assert (await api.client.get(path, params=query)).status_code == 200
    later = {**query, "expires": str(int(query["expires"]) + 3600)}
    forged = await api.client.get(path, params=later)
    assert forged.status_code == 403
    assert "not valid" in forged.json()["message"]
    assert (await api.client.get(path, params={"file": file})).status_code == 403


async def test_download_is_only_for_the_organizations_own_failures(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    file = await failed_file(api, db)
    theirs = await other_api.get("measurements/failedIngest/getDownloadUrl", params={"file": file})
    assert theirs.status_code == 404
    mine = await api.get("measurements/failedIngest/getDownloadUrl", params={"file": file})
    query = parse_qs(urlsplit(mine.json()["url"]).query)
    elsewhere = await api.client.get(f"/downloads/{other_api.org_id}/failedIngest", params=query)
    assert elsewhere.status_code == 403


@pytest.mark.parametrize(
    ("file", "status"),
    [("", 400), ("failedIngest/not-a-file.json", 404), ("../../etc/passwd", 404)],
)
async def test_download_url_of_an_unknown_file(api: OrgApi, file: str, status: int) -> None:
    response = await api.get("measurements/failedIngest/getDownloadUrl", params={"file": file})
    assert response.status_code == status
    assert response.json()["message"]


# -- meters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"dataFields": [{"category": "SIZE", "code": "x", "name": "X"}]},
            "'dataFields[0].category' must be one of: WHO, WHERE, WHAT",
        ),
        (
            {"dataFields": [{"category": "WHO", "code": "user-id", "name": "User"}]},
            "'dataFields[0].code' must start with a letter, _ or $ and contain only letters, "
            "digits, _ and $ (got 'user-id')",
        ),
        (
            {"dataFields": [{"category": "WHO", "code": "9lives", "name": "Lives"}]},
            "(got '9lives')",
        ),
        (
            {
                "derivedFields": [
                    {"category": "MEASURE", "code": "user", "name": "U", "calculation": "1"}
                ]
            },
            "'derivedFields[0].code' is 'user', already the code of dataFields[0].code",
        ),
        (
            {"derivedFields": [{"category": "MEASURE", "code": "d", "name": "D"}]},
            "'derivedFields[0].calculation' is required",
        ),
    ],
)
async def test_meter_fields_are_checked(api: OrgApi, changes: dict[str, Any], message: str) -> None:
    response = await api.post("meters", meter_body(**changes))
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


async def test_derived_calculation_errors_show_line_column_and_caret(api: OrgApi) -> None:
    derived = [
        {"category": "MEASURE", "code": "d", "name": "D", "calculation": "requests *\n bytse"}
    ]
    response = await api.post("meters", meter_body(derivedFields=derived))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "'derivedFields[0].calculation' does not compile: unknown field bytse; did you mean "
        "bytes? (line 2, column 2)\n   bytse\n   ^^^^^"
    )


async def test_derived_calculation_is_typed_by_category(api: OrgApi) -> None:
    derived = [{"category": "MEASURE", "code": "d", "name": "D", "calculation": "user * 2"}]
    response = await api.post("meters", meter_body(derivedFields=derived))
    assert response.status_code == 400
    assert "* needs numbers, but user is a string" in response.json()["message"]
    assert "^^^^" in response.json()["message"]


async def test_meter_update_is_checked_too(api: OrgApi) -> None:
    meter = await new_meter(api)
    broken = [{**meter["derivedFields"][0], "calculation": "bytes / "}]
    response = await api.put(f"meters/{meter['id']}", {**meter, "derivedFields": broken})
    assert response.status_code == 400
    assert "does not compile" in response.json()["message"]
    assert (await api.get(f"meters/{meter['id']}")).json()["version"] == 1


async def test_a_valid_meter_is_stored_as_sent(api: OrgApi) -> None:
    meter = await new_meter(api)
    assert meter["derivedFields"][0]["calculation"] == "bytes / requests"
    assert [f["code"] for f in meter["dataFields"]] == ["user", "requests", "bytes"]
