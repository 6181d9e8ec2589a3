"""The entity catalog, checked against m3ter's published facts (m3ter-api.md §3.3, §3.4, §11)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from meterbell.domain.catalog import (
    FieldSpec,
    ListFilter,
    all_entities,
    entity_by_name,
    entity_by_path,
    event_types,
)

# m3ter's GET /events/types list (spec EventTypeResponse example), written out independently.
M3TER_ENTITY_WORDS = {
    "billing": [
        "balance",
        "balanceamount",
        "bill",
        "billconfig",
        "billjob",
        "charge",
        "counteradjustment",
        "scheduledbalancecharge",
        "scheduledbalancetransaction",
        "statementjob",
    ],
    "configuration": [
        "account",
        "accountplan",
        "aggregation",
        "alert",
        "commitment",
        "compoundaggregation",
        "contract",
        "counter",
        "counterpricing",
        "creditreason",
        "customfield",
        "meter",
        "metergroup",
        "organization",
        "organizationconfig",
        "plan",
        "plangroup",
        "plangrouplink",
        "plantemplate",
        "pricing",
        "pricingband",
        "product",
        "transactiontype",
    ],
}
ERROR_EVENT_TYPES = {
    "dataexport.job.failure",
    "ingest.validation.failure",
    "integration.authentication.error",
    "integration.disabled.error",
    "integration.missingaccountmapping.error",
    "integration.perform.error",
    "integration.validation.error",
}
M3TER_COLLECTION_PATHS = {
    "accounts": "account",
    "accountplans": "accountplan",
    "aggregations": "aggregation",
    "compoundaggregations": "compoundaggregation",
    "commitments": "commitment",
    "contracts": "contract",
    "counters": "counter",
    "counterpricings": "counterpricing",
    "counteradjustments": "counteradjustment",
    "meters": "meter",
    "plans": "plan",
    "plangroups": "plangroup",
    "plangrouplinks": "plangrouplink",
    "plantemplates": "plantemplate",
    "pricings": "pricing",
    "products": "product",
    "picklists/creditreasons": "creditreason",
    "picklists/transactiontypes": "transactiontype",
    "balances": "balance",
    "charges": "charge",
    "billjobs": "billjob",
    "bills": "bill",
}
SINGLETON_PATHS = {
    "organizationconfig": "organizationconfig",
    "billconfig": "billconfig",
    "customfields": "customfield",
}
REALISTIC_COMMITMENT: dict[str, Any] = {
    "accountId": "3f1b6a52-7c1e-4d3a-9a57-0c2d4e5f6a7b",
    "amount": 12000.0,
    "currency": "USD",
    "startDate": "2026-01-01",
    "endDate": "2027-01-01",
    "amountPrePaid": 1000,
    "billingInterval": 1,
    "billingOffset": 0,
    "commitmentFeeBillInAdvance": True,
    "productIds": ["9b2f4c1d-5e6a-4b7c-8d9e-0f1a2b3c4d5e"],
    "lineItemTypes": ["USAGE", "MINIMUM_SPEND"],
    "feeDates": [
        {
            "date": "2026-01-01",
            "amount": 6000,
            "servicePeriodStartDate": "2026-01-01T00:00:00Z",
            "servicePeriodEndDate": "2026-07-01T00:00:00Z",
        }
    ],
    "customFields": {"tier": "gold", "seats": 25},
}


def schema_keywords(schema: Mapping[str, Any]) -> Iterator[str]:
    """Every keyword used in a schema and its subschemas (property names are not keywords)."""
    for key, value in schema.items():
        yield key
        if key == "properties":
            subschemas = list(value.values())
        elif key == "anyOf":
            subschemas = value
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            subschemas = [value]
        else:
            subschemas = []
        for subschema in subschemas:
            yield from schema_keywords(subschema)


def commitment_errors(body: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(entity_by_name("commitment").schema)
    return [error.message for error in validator.iter_errors(body)]


def test_every_m3ter_entity_event_type_maps_to_an_entity() -> None:
    for category, words in M3TER_ENTITY_WORDS.items():
        for word in words:
            assert entity_by_name(word).category == category


def test_event_types_are_exactly_m3ters_list() -> None:
    expected = {
        f"{category}.{word}.{action}"
        for category, words in M3TER_ENTITY_WORDS.items()
        for word in words
        for action in ("created", "updated", "deleted")
    } | ERROR_EVENT_TYPES
    assert len(expected) == 106
    assert set(event_types()) == expected
    assert list(event_types()) == sorted(event_types())


def test_catalog_has_no_entity_beyond_m3ters_list() -> None:
    names = [entity.name for entity in all_entities()]
    assert sorted(names) == sorted(w for words in M3TER_ENTITY_WORDS.values() for w in words)
    assert names == sorted(names)


def test_titles_spell_the_event_word() -> None:
    assert entity_by_name("accountplan").title == "AccountPlan"
    assert entity_by_name("bill").title == "Bill"
    for entity in all_entities():
        assert entity.title.lower() == entity.name


@pytest.mark.parametrize(
    ("name", "required"),
    [
        ("commitment", {"accountId", "amount", "currency", "startDate", "endDate"}),
        ("account", {"name", "code", "emailAddress"}),
        ("meter", {"name", "code", "dataFields", "derivedFields"}),
        ("balance", {"code", "name", "accountId", "startDate", "endDate", "currency"}),
        ("plan", {"planTemplateId", "name", "code"}),
        ("product", {"name", "code"}),
        ("pricing", {"startDate", "pricingBands"}),
        ("bill", {"accountId", "startDate", "endDate"}),
        ("billconfig", set()),
        ("alert", set()),
    ],
)
def test_required_fields_match_m3ters_request_schemas(name: str, required: set[str]) -> None:
    entity = entity_by_name(name)
    assert set(entity.required) == required
    assert set(entity.schema.get("required", [])) == required


def test_version_is_never_required() -> None:
    for entity in all_entities():
        assert "version" not in entity.required
        assert "version" not in entity.schema.get("required", [])


@pytest.mark.parametrize("entity", all_entities(), ids=lambda e: e.name)
def test_schema_is_valid_draft_2020_12(entity: Any) -> None:
    Draft202012Validator.check_schema(entity.schema)
    assert entity.schema["type"] == "object"
    assert entity.schema.get("additionalProperties", True) is not False


def test_schemas_carry_no_openapi_or_java_leftovers() -> None:
    keywords = {word for entity in all_entities() for word in schema_keywords(entity.schema)}
    assert "pattern" not in keywords
    assert not keywords & {"$ref", "allOf", "nullable", "example", "description", "title"}
    assert not [word for word in keywords if word.startswith("x-")]


def test_commitment_schema_accepts_a_realistic_commitment() -> None:
    assert commitment_errors(REALISTIC_COMMITMENT) == []


def test_commitment_schema_keeps_unknown_fields() -> None:
    assert commitment_errors({**REALISTIC_COMMITMENT, "someFutureField": {"x": 1}}) == []


def test_commitment_schema_rejects_a_missing_amount() -> None:
    body = {key: value for key, value in REALISTIC_COMMITMENT.items() if key != "amount"}
    assert commitment_errors(body) == ["'amount' is a required property"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"amount": "12000"}, "is not of type 'number'"),
        ({"amount": 0}, "less than or equal to the minimum"),
        ({"billingInterval": 1.5}, "is not of type 'integer'"),
        ({"billingInterval": 366}, "greater than the maximum"),
        ({"lineItemTypes": ["TIP"]}, "is not one of"),
    ],
)
def test_commitment_schema_rejects_wrong_values(change: dict[str, Any], problem: str) -> None:
    errors = commitment_errors({**REALISTIC_COMMITMENT, **change})
    assert len(errors) == 1
    assert problem in errors[0]


def test_singletons_are_exactly_m3ters() -> None:
    singletons = {entity.name for entity in all_entities() if entity.singleton}
    assert singletons == {"organizationconfig", "billconfig", "customfield"}


@pytest.mark.parametrize(
    ("path", "name"), sorted({**M3TER_COLLECTION_PATHS, **SINGLETON_PATHS}.items())
)
def test_m3ter_paths_resolve_to_their_entity(path: str, name: str) -> None:
    entity = entity_by_path(path)
    assert entity is not None
    assert entity.name == name
    assert entity.path == path


def test_entities_without_m3ter_path_have_none() -> None:
    served = set(M3TER_COLLECTION_PATHS.values()) | set(SINGLETON_PATHS.values())
    pathless = {entity.name for entity in all_entities() if entity.path is None}
    assert pathless == {entity.name for entity in all_entities()} - served
    assert {"alert", "metergroup", "pricingband", "statementjob"} <= pathless


def test_unknown_lookups() -> None:
    assert entity_by_path("commitments/search") is None
    assert entity_by_path("notifications/configurations") is None
    with pytest.raises(KeyError):
        entity_by_name("commitments")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("amount", FieldSpec("amount", "double", None)),
        ("billingInterval", FieldSpec("billingInterval", "int", None)),
        ("customFields", FieldSpec("customFields", "map", None)),
        ("feeDates", FieldSpec("feeDates", "array", None)),
        ("accountId", FieldSpec("accountId", "string", None)),
        ("commitmentFeeBillInAdvance", FieldSpec("commitmentFeeBillInAdvance", "boolean", None)),
        ("startDate", FieldSpec("startDate", "string", "date")),
        ("amountSpent", FieldSpec("amountSpent", "double", None)),
        ("version", FieldSpec("version", "long", None)),
        ("dtCreated", FieldSpec("dtCreated", "string", "date-time")),
        ("id", FieldSpec("id", "string", "uuid")),
    ],
)
def test_commitment_field_types(field: str, expected: FieldSpec) -> None:
    assert entity_by_name("commitment").fields[field] == expected


def test_every_entity_has_the_audit_fields() -> None:
    audit = {"id", "version", "dtCreated", "dtLastModified", "createdBy", "lastModifiedBy"}
    for entity in all_entities():
        assert audit <= set(entity.fields)
        assert all(name == spec.name for name, spec in entity.fields.items())


def test_has_code_follows_the_code_field() -> None:
    assert entity_by_name("account").has_code
    assert not entity_by_name("commitment").has_code
    assert not entity_by_name("bill").has_code
    for entity in all_entities():
        assert entity.has_code == ("code" in entity.fields)


def test_commitment_list_filters() -> None:
    filters = set(entity_by_name("commitment").list_filters)
    assert ListFilter("accountId", "accountId", "eq") in filters
    assert ListFilter("endDateStart", "endDate", "gte") in filters
    assert ListFilter("endDateEnd", "endDate", "lt") in filters
    assert ListFilter("productId", "productIds", "contains") in filters


def test_code_lists_filter_with_in() -> None:
    assert ListFilter("codes", "code", "in") in entity_by_name("meter").list_filters
    assert ListFilter("productId", "productId", "in") in entity_by_name("meter").list_filters


def test_list_filters_name_real_fields_with_fitting_ops() -> None:
    for entity in all_entities():
        for flt in entity.list_filters:
            field = entity.fields[flt.field]
            assert flt.param not in {"pageSize", "nextToken", "ids"}
            assert (flt.op == "contains") == (field.type == "array")
            if flt.op in ("gte", "lt"):
                assert field.format in ("date", "date-time")
            assert field.type in ("string", "array")
