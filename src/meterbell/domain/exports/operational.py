"""Operational data exports: which stored entities each of m3ter's `operationalDataTypes`
exports, and the columns of its file.

Each type reads the current documents of one entity of the catalog (`meterbell.domain.catalog`)
and writes one file whose path says `type=<file type>`, the lower-case entity word (m3ter's
example: `account`). Two types are lists held inside other entities, one row per item, with
the id of the holder added as a column:

- `BILL_LINE_ITEMS`: the items of each bill's `lineItems`, plus `billId` (file type
  `billlineitem`).
- `PRICING_BANDS`: the items of each pricing's `pricingBands`, plus `pricingId` (file type
  `pricingband`). That is where m3ter's API keeps the bands; the `pricingband` entities a
  billing system may push on the extension path are not included.

`BALANCE_TRANSACTIONS`: m3ter's balance transactions (`/balances/{id}/transactions`) are not
in meterbell's catalog, so no posted transaction can be exported. The only balance
transactions meterbell holds are the scheduled ones (`scheduledbalancetransaction`, pushed on
the extension path), and this type exports those, under their own file type
`scheduledbalancetransaction`, so that no reader takes them for posted transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meterbell.domain.catalog import entity_by_name


@dataclass(frozen=True)
class OperationalSource:
    """Where the rows of one operational data type come from: the documents of `entity`
    (each one row), or, with `nested_field`, the items of that list field of each document,
    with the document's id added as `parent_column`. `file_type` is the `type=` word of the
    file's path."""

    entity: str
    file_type: str
    nested_field: str | None = None
    parent_column: str | None = None


def _entity(name: str) -> OperationalSource:
    return OperationalSource(entity=name, file_type=name)


OPERATIONAL_DATA_TYPES: dict[str, OperationalSource] = {
    "BILLS": _entity("bill"),
    "COMMITMENTS": _entity("commitment"),
    "ACCOUNTS": _entity("account"),
    "BALANCES": _entity("balance"),
    "CONTRACTS": _entity("contract"),
    "ACCOUNT_PLANS": _entity("accountplan"),
    "AGGREGATIONS": _entity("aggregation"),
    "PLANS": _entity("plan"),
    "PRICING": _entity("pricing"),
    "PRICING_BANDS": OperationalSource("pricing", "pricingband", "pricingBands", "pricingId"),
    "BILL_LINE_ITEMS": OperationalSource("bill", "billlineitem", "lineItems", "billId"),
    "METERS": _entity("meter"),
    "PRODUCTS": _entity("product"),
    "COMPOUND_AGGREGATIONS": _entity("compoundaggregation"),
    "PLAN_GROUPS": _entity("plangroup"),
    "PLAN_GROUP_LINKS": _entity("plangrouplink"),
    "PLAN_TEMPLATES": _entity("plantemplate"),
    "BALANCE_TRANSACTIONS": _entity("scheduledbalancetransaction"),
    "TRANSACTION_TYPES": _entity("transactiontype"),
    "CHARGES": _entity("charge"),
}


def operational_columns(entity: str, documents_keys: Iterable[str]) -> list[str]:
    """The CSV columns of an entity's documents: the catalog's fields in catalog order, then
    any other key seen in the documents (`documents_keys`), sorted."""
    return _columns(list(entity_by_name(entity).fields), documents_keys)


def source_columns(source: OperationalSource, row_keys: Iterable[str]) -> list[str]:
    """The columns of a source's rows (`row_keys`: the keys seen in them): for an entity,
    `operational_columns`; for list items, the holder's id, then the fields the catalog
    declares for the items, then any other key seen, sorted."""
    if source.nested_field is None:
        return operational_columns(source.entity, row_keys)
    return _columns([str(source.parent_column), *_item_fields(source)], row_keys)


def source_rows(source: OperationalSource, document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The rows one stored document gives: itself, or each item of its list with the
    document's id (which wins over an item key of the same name)."""
    if source.nested_field is None:
        yield dict(document)
        return
    for item in document.get(source.nested_field) or []:
        if isinstance(item, Mapping):
            yield {**item, str(source.parent_column): document.get("id")}


def _item_fields(source: OperationalSource) -> list[str]:
    schema = entity_by_name(source.entity).schema["properties"][source.nested_field]
    return list(schema["items"]["properties"])


def _columns(declared: list[str], seen: Iterable[str]) -> list[str]:
    known = set(declared)
    return declared + sorted(set(seen) - known)
