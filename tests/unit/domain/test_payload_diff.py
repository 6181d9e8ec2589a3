"""The changed fields of an event's payloads, by dotted path."""

from __future__ import annotations

from meterbell.domain.payload_diff import FieldChange, field_changes


def changed(old: dict | None, new: dict | None) -> list[str]:  # type: ignore[type-arg]
    return [change.path for change in field_changes(old, new) if change.changed]


def test_nested_fields_are_compared_by_dotted_path() -> None:
    old = {"name": "A", "amount": 10, "customFields": {"tier": "gold", "seats": 3}}
    new = {"name": "A", "amount": 12, "customFields": {"tier": "gold", "seats": 3}}
    assert field_changes(old, new) == [
        FieldChange("amount", 10, 12, True),
        FieldChange("customFields.seats", 3, 3, False),
        FieldChange("customFields.tier", "gold", "gold", False),
        FieldChange("name", "A", "A", False),
    ]


def test_added_removed_and_null_fields_are_changes() -> None:
    assert changed({"a": 1, "gone": None}, {"a": 1, "added": None}) == ["added", "gone"]
    assert changed({"x": {"y": 1}}, {"x": {}}) == ["x", "x.y"]


def test_a_list_is_one_field_and_a_missing_payload_changes_everything() -> None:
    assert changed({"ids": [1, 2]}, {"ids": [2, 1]}) == ["ids"]
    assert changed(None, {"a": 1, "b": {"c": 2}}) == ["a", "b.c"]
    assert changed({"a": 1}, None) == ["a"]
    assert field_changes(None, None) == []
