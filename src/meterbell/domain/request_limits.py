"""What every request must keep to, on both stores: JSON nested at most `MAX_JSON_DEPTH`
levels, and no NUL character in any text (PostgreSQL's text and jsonb cannot hold it, so
SQLite refuses it too).

The depth limit sits far inside what we can store and serialize: orjson writes at most 255
levels, and an event wraps an entity (`m3terEvent.eventData.newDto`) and a notification or
webhook payload wraps the event a few levels more.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from meterbell.domain.errors import InvalidRequest

MAX_JSON_DEPTH = 32
TOO_DEEP = (
    f"The request body is nested more than {MAX_JSON_DEPTH} levels deep: "
    f"keep objects and arrays within {MAX_JSON_DEPTH} levels"
)
NUL_REFUSED = "must not contain the NUL character (\\u0000)"
# JSON can carry NUL only as this escape (a raw NUL byte is not valid JSON).
_NUL_ESCAPE = b"\\u0000"
_ORJSON_TOO_DEEP = "depth limit exceeded"  # orjson stops at 1,024 levels

# The depth check reads the body's skeleton: its brackets, with strings taken out.
_OPENERS_AND_CLOSERS = bytes.maketrans(b"{}", b"[]")
_NOT_SKELETON = bytes(set(range(256)) - set(b'"[]{}'))
_STRING = re.compile(rb'"[^"]*"')


def parse_json_body(raw: bytes) -> Any:
    """A JSON request body, parsed; InvalidRequest when it is not JSON, is nested too deep or
    holds a NUL character."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _ORJSON_TOO_DEEP in str(exc):
            raise InvalidRequest(TOO_DEEP) from exc
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from exc
    if nested_too_deep(raw):
        raise InvalidRequest(TOO_DEEP)
    if _NUL_ESCAPE in raw and _holds_nul(value):
        raise InvalidRequest(f"The request body {NUL_REFUSED}")
    return value


def nested_too_deep(raw: bytes) -> bool:
    """Whether valid JSON `raw` nests objects and arrays more than MAX_JSON_DEPTH levels.

    Works on the bytes, not the parsed value: a 1,000-measurement body takes a fraction of the
    time a walk over its values would. Each pass takes out the innermost empty pairs, so the
    skeleton is empty after as many passes as the body has levels."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    if b"\\" in raw:  # escaped backslashes and quotes would confuse where strings end
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Strings reduced to the brackets they hold: '""' for most, taken out at once.
    skeleton = raw.translate(_OPENERS_AND_CLOSERS, _NOT_SKELETON).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)
    for _ in range(MAX_JSON_DEPTH):
        if not skeleton:
            return False
        skeleton = skeleton.replace(b"[]", b"")
    return bool(skeleton)


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            if any("\x00" in key for key in item):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_nul(text: str, what: str) -> str:
    """`text` (a value from the URL or a header), or InvalidRequest if it holds NUL."""
    if "\x00" in text:
        raise InvalidRequest(f"{what} {NUL_REFUSED}")
    return text


def urlencoded_holds_nul(raw: bytes) -> bool:
    """Whether a query string or form body decodes to text holding NUL."""
    return b"%00" in raw or b"\x00" in raw
