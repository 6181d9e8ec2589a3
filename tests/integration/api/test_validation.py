"""Bad input gets a 400/409/413 with a message naming what to fix, and changes nothing."""

from __future__ import annotations

import pytest

from meterbell.domain.catalog import entity_by_name
from tests.conftest import OrgApi
from tests.factories import minimal_body

COMMITMENT = {
    "accountId": "3f1c0c1e-8d4b-4f44-9a57-000000000001",
    "amount": 1000,
    "currency": "USD",
    "startDate": "2026-01-01",
    "endDate": "2027-01-01",
}


async def count(api: OrgApi, path: str) -> int:
    return len((await api.get(path, params={"pageSize": 100})).json()["data"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount": None}, "'amount' must be a number"),
        ({"amount": "lots"}, "'amount' must be a number"),
        ({"startDate": "01/02/2026"}, "'startDate' must be a date in the form YYYY-MM-DD"),
        ({"startDate": "2026-02-30"}, "'startDate' must be a date"),
        ({"billingInterval": 1.5}, "'billingInterval' must be a whole number"),
        ({"amount": 0}, "'amount' must be greater than 0"),
        ({"currency": ""}, "'currency' must be at least 1 characters long"),
        ({"childBillingMode": "SOMETIMES"}, "'childBillingMode' must be one of: "),
    ],
)
async def test_wrong_types_are_named(api: OrgApi, change: dict[str, object], expected: str) -> None:
    response = await api.post("commitments", {**COMMITMENT, **change})
    assert response.status_code == 400
    assert expected in response.json()["message"]
    assert await count(api, "commitments") == 0


@pytest.mark.parametrize("field", sorted(COMMITMENT))
async def test_missing_required_field_is_named(api: OrgApi, field: str) -> None:
    body = {k: v for k, v in COMMITMENT.items() if k != field}
    response = await api.post("commitments", body)
    assert response.status_code == 400
    assert f"'{field}' is required" in response.json()["message"]


async def test_every_missing_field_is_reported_at_once(api: OrgApi) -> None:
    response = await api.post("commitments", {"currency": "USD"})
    message = response.json()["message"]
    assert all(f"'{f}' is required" in message for f in ("accountId", "amount", "startDate"))


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (" lead", "must not start or end with whitespace"),
        ("trail ", "must not start or end with whitespace"),
        ("tab\there", "must not contain control characters"),
        ("x" * 81, "'code' must be at most 80 characters long"),
    ],
)
async def test_code_rule(api: OrgApi, code: str, problem: str) -> None:
    body = {**minimal_body(entity_by_name("product")), "code": code}
    response = await api.post("products", body)
    assert response.status_code == 400
    assert problem in response.json()["message"]


async def test_codes_with_inner_spaces_are_fine(api: OrgApi) -> None:
    body = {**minimal_body(entity_by_name("product")), "code": "gold plan 2026"}
    assert (await api.post("products", body)).status_code == 200


async def test_duplicate_code_is_a_409_and_other_orgs_may_reuse_it(
    api: OrgApi, other_api: OrgApi
) -> None:
    body = {**minimal_body(entity_by_name("product")), "code": "shared-code"}
    assert (await api.post("products", body)).status_code == 200
    clash = await api.post("products", {**body, "name": "Another"})
    assert clash.status_code == 409
    assert "'shared-code' already exists" in clash.json()["message"]
    assert await count(api, "products") == 1
    assert (await other_api.post("products", body)).status_code == 200


async def test_changing_code_to_a_taken_one_is_a_409(api: OrgApi) -> None:
    spec = entity_by_name("product")
    first = (await api.post("products", {**minimal_body(spec), "code": "one"})).json()
    second = (await api.post("products", {**minimal_body(spec), "code": "two"})).json()
    clash = await api.put(f"products/{second['id']}", {**second, "code": "one"})
    assert clash.status_code == 409
    assert (await api.get(f"products/{second['id']}")).json()["version"] == 1
    assert first["code"] == "one"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
    ],
)
async def test_malformed_bodies(api: OrgApi, raw: bytes, expected: str) -> None:
    response = await api.client.post(
        api.url("products"),
        content=raw,
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert expected in response.json()["message"]
    assert await count(api, "products") == 0


async def test_oversize_body_is_413(api: OrgApi) -> None:
    big = {**minimal_body(entity_by_name("product")), "blob": "x" * (1024 * 1024 + 1)}
    response = await api.post("products", big)
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.json()["message"]
    assert await count(api, "products") == 0


async def test_oversize_streamed_body_without_length_is_413(api: OrgApi) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    response = await api.client.post(api.url("products"), content=chunks(), headers=api.headers)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pageSize": "0"}, "pageSize must be from 1 to 200"),
        ({"pageSize": "201"}, "pageSize must be from 1 to 200"),
        ({"pageSize": "ten"}, "pageSize must be a whole number"),
        ({"nextToken": "garbage"}, "nextToken is not valid"),
        ({"nextToken": "mb1.!!!"}, "nextToken is not valid"),
    ],
)
async def test_bad_list_parameters(api: OrgApi, params: dict[str, str], expected: str) -> None:
    response = await api.get("products", params=params)
    assert response.status_code == 400
    assert expected in response.json()["message"]


async def test_unknown_route_and_method(api: OrgApi) -> None:
    missing = await api.get("nothing-here")
    assert missing.status_code == 404
    assert "No such endpoint" in missing.json()["message"]
    wrong = await api.client.patch(api.url("products"), headers=api.headers)
    assert wrong.status_code == 405
    assert "PATCH is not supported" in wrong.json()["message"]
