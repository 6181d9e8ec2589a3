"""Entity bodies: the compiled validator that accepts valid bodies fast agrees with the one
that explains what is wrong, on every entity's schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbell.domain.catalog import all_entities, entity_by_name
from meterbell.domain.validation import _fast_validator, _validator, schema_errors

ENTITY_NAMES = sorted(spec.name for spec in all_entities())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "2026-02-28",
            "2026-02-30",
            "2026-02-28T10:00:00Z",
            "2026-02-28T25:00:00Z",
            "20260228",
            "USD",
            "",
            "x" * 300,
            "ACTIVE",
        ]
    ),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def property_names(name: str) -> list[str]:
    return [*sorted(entity_by_name(name).schema.get("properties", {})), "somethingElse"]


@st.composite
def bodies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(property_names(name)), max_size=8, unique=True))
    return {key: draw(values) for key in keys}


@pytest.mark.parametrize("name", ENTITY_NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_both_validators_agree(name: str, data: st.DataObject) -> None:
    body = data.draw(bodies(name))
    explained = list(_validator(name).iter_errors(body))
    assert _fast_validator(name).is_valid(body) == (not explained), explained
    assert sorted(e.message for e in schema_errors(name, body)) == sorted(
        e.message for e in explained
    )
