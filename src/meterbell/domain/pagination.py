"""Opaque `nextToken`s for keyset pagination: a position in an ordered list (newest first,
or, for run lists with `order=ASC`, oldest first); the next page continues after it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meterbell.domain.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 10
TOKEN_PREFIX = "mb1."
BAD_TOKEN = "nextToken is not valid: pass back the nextToken of a previous page"
# Positions are 64-bit signed integers in both stores: a larger one cannot be a bound parameter.
MAX_POSITION = 2**63 - 1


def encode_next_token(last_seq: int) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(str(last_seq).encode()).decode().rstrip("=")


def decode_next_token(token: str) -> int:
    """The position to continue after; a token we did not issue is a 400, not a crash."""
    if not token.startswith(TOKEN_PREFIX):
        raise InvalidRequest(BAD_TOKEN)
    body = token[len(TOKEN_PREFIX) :]
    try:
        seq = int(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(BAD_TOKEN) from exc
    if not 0 <= seq <= MAX_POSITION:
        raise InvalidRequest(BAD_TOKEN)
    return seq


def continue_before(query: Mapping[str, Sequence[str]]) -> int | None:
    """The position a list request continues from (its `nextToken`), or None for page one."""
    token = query.get("nextToken", [""])[-1]
    return decode_next_token(token) if token else None


def page_size(value: str | None, *, maximum: int) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError as exc:
        raise InvalidRequest(f"pageSize must be a whole number from 1 to {maximum}") from exc
    if not 1 <= size <= maximum:
        raise InvalidRequest(f"pageSize must be from 1 to {maximum} (got {size})")
    return size


@dataclass(frozen=True)
class Page:
    """One page of a list: `{"data": [...], "nextToken": "..."}` on the wire."""

    data: list[dict[str, Any]]
    next_token: str | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"data": self.data}
        if self.next_token:
            body["nextToken"] = self.next_token
        return body


def page_from_rows(rows: Sequence[tuple[int, dict[str, Any]]], size: int) -> Page:
    """Rows fetched with `limit=size + 1`: the extra row only says another page exists."""
    shown = rows[:size]
    has_more = len(rows) > size
    return Page([item for _, item in shown], encode_next_token(shown[-1][0]) if has_more else None)
