"""Operational data types: their sources in the entity catalog, columns and rows."""

from __future__ import annotations

import pytest

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.exports.operational import (
    OPERATIONAL_DATA_TYPES,
    OperationalSource,
    operational_columns,
    source_columns,
    source_rows,
)

# m3ter's OperationalDataType enum, in the spec's order.
M3TER_TYPES = [
    "BILLS",
    "COMMITMENTS",
    "ACCOUNTS",
    "BALANCES",
    "CONTRACTS",
    "ACCOUNT_PLANS",
    "AGGREGATIONS",
    "PLANS",
    "PRICING",
    "PRICING_BANDS",
    "BILL_LINE_ITEMS",
    "METERS",
    "PRODUCTS",
    "COMPOUND_AGGREGATIONS",
    "PLAN_GROUPS",
    "PLAN_GROUP_LINKS",
    "PLAN_TEMPLATES",
    "BALANCE_TRANSACTIONS",
    "TRANSACTION_TYPES",
    "CHARGES",
]


def test_every_m3ter_type_has_a_source() -> None:
    assert list(OPERATIONAL_DATA_TYPES) == M3TER_TYPES


@pytest.mark.parametrize(("data_type", "source"), OPERATIONAL_DATA_TYPES.items())
def test_every_source_is_a_catalog_entity(data_type: str, source: OperationalSource) -> None:
    spec = entity_by_name(source.entity)
    if source.nested_field is None:
        assert source.file_type == source.entity
        assert source.parent_column is None
    else:
        assert spec.fields[source.nested_field].type == "array"
        assert source.parent_column is not None


@pytest.mark.parametrize(
    ("data_type", "entity", "file_type"),
    [
        ("ACCOUNTS", "account", "account"),
        ("ACCOUNT_PLANS", "accountplan", "accountplan"),
        ("PRICING", "pricing", "pricing"),
        ("TRANSACTION_TYPES", "transactiontype", "transactiontype"),
        ("CHARGES", "charge", "charge"),
        ("BALANCE_TRANSACTIONS", "scheduledbalancetransaction", "scheduledbalancetransaction"),
    ],
)
def test_entity_sources(data_type: str, entity: str, file_type: str) -> None:
    assert OPERATIONAL_DATA_TYPES[data_type] == OperationalSource(entity, file_type)


def test_nested_sources() -> None:
    assert OPERATIONAL_DATA_TYPES["BILL_LINE_ITEMS"] == OperationalSource(
        "bill", "billlineitem", "lineItems", "billId"
    )
    assert OPERATIONAL_DATA_TYPES["PRICING_BANDS"] == OperationalSource(
        "pricing", "pricingband", "pricingBands", "pricingId"
    )


def test_operational_columns_are_declared_fields_then_other_keys_sorted() -> None:
    declared = list(entity_by_name("account").fields)
    columns = operational_columns("account", ["zeta", "id", "alpha", "name", "zeta"])
    assert columns == [*declared, "alpha", "zeta"]
    assert operational_columns("account", []) == declared
    assert columns[: len(declared)] == declared


def test_entity_source_columns_are_the_entity_columns() -> None:
    source = OPERATIONAL_DATA_TYPES["CHARGES"]
    assert source_columns(source, ["extra"]) == operational_columns("charge", ["extra"])


def test_nested_source_columns() -> None:
    assert source_columns(OPERATIONAL_DATA_TYPES["PRICING_BANDS"], ["note", "pricingId"]) == [
        "pricingId",
        "creditTypeId",
        "fixedPrice",
        "id",
        "lowerLimit",
        "unitPrice",
        "note",
    ]
    line_items = source_columns(OPERATIONAL_DATA_TYPES["BILL_LINE_ITEMS"], [])
    assert line_items[0] == "billId"
    assert {"id", "lineItemType", "subtotal", "quantity", "meterId"} <= set(line_items)


def test_entity_rows_are_the_documents() -> None:
    document = {"id": "a1", "name": "Acme", "customFields": {"tier": "gold"}}
    assert list(source_rows(OPERATIONAL_DATA_TYPES["ACCOUNTS"], document)) == [document]


def test_nested_rows_are_the_items_with_their_holder_id() -> None:
    bill = {
        "id": "b1",
        "lineItems": [
            {"id": "li1", "subtotal": 10.0},
            {"id": "li2", "subtotal": 2.5, "billId": "stale"},
            "not an object",
        ],
    }
    assert list(source_rows(OPERATIONAL_DATA_TYPES["BILL_LINE_ITEMS"], bill)) == [
        {"id": "li1", "subtotal": 10.0, "billId": "b1"},
        {"id": "li2", "subtotal": 2.5, "billId": "b1"},
    ]


@pytest.mark.parametrize("pricing", [{"id": "p1"}, {"id": "p1", "pricingBands": None}])
def test_a_holder_without_items_gives_no_rows(pricing: dict[str, object]) -> None:
    assert list(source_rows(OPERATIONAL_DATA_TYPES["PRICING_BANDS"], pricing)) == []
