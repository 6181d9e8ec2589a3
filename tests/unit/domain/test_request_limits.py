"""The request limits: the byte-level depth check agrees with the depth of the parsed value,
whatever the strings hold; NUL is found only where it really is."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.request_limits import MAX_JSON_DEPTH, nested_too_deep, parse_json_body

# Text full of the characters that could fool a byte-level reading of JSON.
TRICKY_TEXT = st.text(alphabet='[]{}"\\:,u0 a\n', max_size=12)
LEAVES = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TRICKY_TEXT


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def wrapped(value: Any, levels: list[tuple[bool, str]]) -> Any:
    """`value` inside one more array or object (keyed by the text) per level."""
    for as_object, key in levels:
        value = {key: value} if as_object else [value, key]
    return value


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=12,
)
NEAR_THE_LIMIT = st.builds(
    wrapped,
    VALUES,
    st.lists(st.tuples(st.booleans(), TRICKY_TEXT), min_size=MAX_JSON_DEPTH - 6, max_size=40),
)


@given(VALUES | NEAR_THE_LIMIT)
def test_the_depth_check_agrees_with_the_parsed_depth(value: Any) -> None:
    assert nested_too_deep(orjson.dumps(value)) == (depth(value) > MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    ("raw", "holds_nul"),
    [
        (b'{"a": "x\\u0000"}', True),
        (b'{"a\\u0000": 1}', True),
        (b'[[["\\u0000"]]]', True),
        (b'{"a": "C:\\\\u0000"}', False),  # a backslash, then the text u0000
    ],
)
def test_nul_is_refused_only_where_it_is(raw: bytes, holds_nul: bool) -> None:
    if holds_nul:
        with pytest.raises(InvalidRequest, match="NUL character"):
            parse_json_body(raw)
    else:
        assert parse_json_body(raw) == orjson.loads(raw)
