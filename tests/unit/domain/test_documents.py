from meterbell.domain.catalog import all_entities
from meterbell.domain.documents import kind_problems

CATALOG = frozenset(spec.name for spec in all_entities())


def test_document_kinds_fit_the_catalog() -> None:
    assert kind_problems(CATALOG) == []


def test_a_kind_clashing_with_or_missing_from_the_catalog_is_named() -> None:
    assert kind_problems((CATALOG - {"meter"}) | {"webhook"}) == [
        "meter is not in the catalog",
        "webhook is also a catalog entity",
    ]
