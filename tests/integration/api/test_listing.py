"""Lists: newest first, keyset pages, `ids` in both encodings, and per-entity filters."""

from __future__ import annotations

from typing import Any

from meterbell.domain.catalog import entity_by_name
from tests.conftest import OrgApi
from tests.factories import minimal_body


async def make_products(api: OrgApi, n: int) -> list[dict[str, Any]]:
    spec = entity_by_name("product")
    return [(await api.post("products", minimal_body(spec))).json() for _ in range(n)]


async def all_pages(api: OrgApi, path: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        query = {**params, **({"nextToken": token} if token else {})}
        body = (await api.get(path, params=query)).json()
        pages.append([item["id"] for item in body["data"]])
        token = body.get("nextToken")
        if not token:
            return pages


async def test_pages_cover_every_entity_once_newest_first(api: OrgApi) -> None:
    products = await make_products(api, 7)
    pages = await all_pages(api, "products", pageSize=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == [p["id"] for p in reversed(products)]


async def test_exact_multiple_of_page_size_has_no_empty_last_page(api: OrgApi) -> None:
    await make_products(api, 4)
    pages = await all_pages(api, "products", pageSize=2)
    assert [len(p) for p in pages] == [2, 2]


async def test_ids_comma_joined_or_repeated(api: OrgApi) -> None:
    a, b, c = await make_products(api, 3)
    joined = await api.get("products", params={"ids": f"{a['id']},{c['id']}"})
    assert {p["id"] for p in joined.json()["data"]} == {a["id"], c["id"]}
    repeated = await api.get("products", params=[("ids", a["id"]), ("ids", b["id"])])
    assert {p["id"] for p in repeated.json()["data"]} == {a["id"], b["id"]}


async def test_commitments_filter_by_account_product_and_end_date(api: OrgApi) -> None:
    account_a, account_b = (
        "a" * 8 + "-0000-4000-8000-" + "0" * 12,
        "b" * 8 + "-0000-4000-8000-" + "0" * 12,
    )
    base = minimal_body(entity_by_name("commitment"))
    first = (
        await api.post(
            "commitments",
            {**base, "accountId": account_a, "endDate": "2026-06-01", "productIds": ["p1", "p2"]},
        )
    ).json()
    second = (
        await api.post(
            "commitments",
            {**base, "accountId": account_b, "endDate": "2026-09-01", "productIds": ["p2"]},
        )
    ).json()

    async def ids(**params: str) -> set[str]:
        return {c["id"] for c in (await api.get("commitments", params=params)).json()["data"]}

    assert await ids(accountId=account_a) == {first["id"]}
    assert await ids(productId="p1") == {first["id"]}
    assert await ids(productId="p2") == {first["id"], second["id"]}
    assert await ids(endDateStart="2026-07-01") == {second["id"]}
    assert await ids(endDateEnd="2026-07-01") == {first["id"]}
    assert await ids(endDateStart="2026-06-01", endDateEnd="2026-09-01") == {first["id"]}


async def test_accounts_filter_by_codes(api: OrgApi) -> None:
    spec = entity_by_name("account")
    gold = (await api.post("accounts", {**minimal_body(spec), "code": "gold"})).json()
    await api.post("accounts", {**minimal_body(spec), "code": "silver"})
    listed = await api.get("accounts", params={"codes": "gold,bronze"})
    assert [a["id"] for a in listed.json()["data"]] == [gold["id"]]
