"""How a webhook request is signed: m3ter's M3TER_SIGNED_REQUEST, or Standard Webhooks.

M3TER_SIGNED_REQUEST:

    signature = lowercase hex HMAC-SHA256(key = secret, message =
        url + "|" + queryString + "|" + apiKey + "|" + timestamp + "|" + body)

`url` is the destination URL without its query string, `queryString` the part after `?`
(empty when there is none), `timestamp` Unix time in milliseconds as decimal text, `body` the
exact request body; all UTF-8.

STANDARD_WEBHOOKS (an extension beyond m3ter, https://www.standardwebhooks.com):

    webhook-signature = "v1," + base64(HMAC-SHA256(key = base64-decoded secret after "whsec_",
        message = id + "." + timestamp + "." + body))

`id` is the run id (the same on every attempt), `timestamp` Unix time in seconds.

While a rotated secret's overlap lasts, the old secrets sign too: their Standard Webhooks
signatures follow the current one in `webhook-signature`, space-separated; their m3ter
signatures go in `X-m3ter-signature-previous`, space-separated, newest first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

APIKEY_HEADER = "X-m3ter-apikey"
TIMESTAMP_HEADER = "X-m3ter-timestamp"
SIGNATURE_HEADER = "X-m3ter-signature"
PREVIOUS_SIGNATURE_HEADER = "X-m3ter-signature-previous"
DELIVERY_ID_HEADER = "X-m3ter-delivery-id"

WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"

# Headers whose values attempt logs never show: signatures, and credentials a destination's
# static headers may carry.
REDACTED_HEADERS = frozenset(
    name.lower()
    for name in (
        SIGNATURE_HEADER,
        PREVIOUS_SIGNATURE_HEADER,
        WEBHOOK_SIGNATURE_HEADER,
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
    )
)

STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_SECRET_MIN_BYTES = 24
STANDARD_SECRET_MAX_BYTES = 64
GENERATED_SECRET_BYTES = 32


class Scheme(StrEnum):
    """`credentials.type` of a webhook destination: how its requests are signed."""

    M3TER_SIGNED_REQUEST = "M3TER_SIGNED_REQUEST"
    STANDARD_WEBHOOKS = "STANDARD_WEBHOOKS"


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` as an attempt log shows them."""
    return {k: ("[redacted]" if k.lower() in REDACTED_HEADERS else v) for k, v in headers.items()}


def split_url(url: str) -> tuple[str, str]:
    """(the URL without its query string and fragment, the query string)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), parts.query


def signing_message(url: str, api_key: str, timestamp: str, body: bytes) -> bytes:
    base, query = split_url(url)
    return f"{base}|{query}|{api_key}|{timestamp}|".encode() + body


def sign(url: str, api_key: str, secret: str, timestamp: str, body: bytes) -> str:
    message = signing_message(url, api_key, timestamp, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    url: str,
    api_key: str,
    secret: str,
    timestamp_ms: int,
    body: bytes,
    delivery_id: str,
    previous: Sequence[str] = (),
) -> dict[str, str]:
    """M3TER_SIGNED_REQUEST headers; `previous` secrets (in their overlap) sign too."""
    timestamp = str(timestamp_ms)
    headers = {
        "Content-Type": "application/json",
        APIKEY_HEADER: api_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(url, api_key, secret, timestamp, body),
        DELIVERY_ID_HEADER: delivery_id,
    }
    if previous:
        headers[PREVIOUS_SIGNATURE_HEADER] = " ".join(
            sign(url, api_key, old, timestamp, body) for old in previous
        )
    return headers


# ---- Standard Webhooks ----------------------------------------------------------------------


def standard_secret_problem(secret: str) -> str | None:
    """Why `secret` is not a Standard Webhooks secret ("whsec_" + base64 of 24 to 64 bytes)."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        return f"must start with '{STANDARD_SECRET_PREFIX}'"
    try:
        key = standard_secret_key(secret)
    except ValueError:
        return f"must be '{STANDARD_SECRET_PREFIX}' followed by base64"
    if not STANDARD_SECRET_MIN_BYTES <= len(key) <= STANDARD_SECRET_MAX_BYTES:
        return (
            f"must encode {STANDARD_SECRET_MIN_BYTES} to {STANDARD_SECRET_MAX_BYTES} bytes "
            f"(it encodes {len(key)})"
        )
    return None


def standard_secret_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_..." secret (base64, padding optional); ValueError if none."""
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def new_standard_secret() -> str:
    return STANDARD_SECRET_PREFIX + base64.b64encode(
        secrets.token_bytes(GENERATED_SECRET_BYTES)
    ).decode("ascii")


def new_m3ter_secret() -> str:
    return secrets.token_urlsafe(GENERATED_SECRET_BYTES)


def standard_signature(key: bytes, msg_id: str, timestamp_s: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    message = f"{msg_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def standard_headers(
    keys: Iterable[bytes], timestamp_s: int, body: bytes, msg_id: str
) -> dict[str, str]:
    """Standard Webhooks headers, signed by each key (the current one first)."""
    return {
        "Content-Type": "application/json",
        WEBHOOK_ID_HEADER: msg_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp_s),
        WEBHOOK_SIGNATURE_HEADER: " ".join(
            standard_signature(key, msg_id, timestamp_s, body) for key in keys
        ),
    }


# ---- static headers -------------------------------------------------------------------------

MAX_STATIC_HEADERS = 20
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 1000
# Set by meterbell or by HTTP itself: a destination's own headers cannot replace them.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "host",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
    }
)
RESERVED_PREFIXES = ("x-m3ter-", "webhook-")
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def static_headers_problem(headers: Mapping[str, object]) -> str | None:
    """Why `headers` cannot be a destination's static headers, naming the header at fault."""
    if len(headers) > MAX_STATIC_HEADERS:
        return f"at most {MAX_STATIC_HEADERS} headers are allowed (got {len(headers)})"
    seen: set[str] = set()
    for name, value in headers.items():
        shown = name[:MAX_HEADER_NAME]
        if not name or len(name) > MAX_HEADER_NAME or not set(name) <= _TOKEN_CHARS:
            return (
                f"'{shown}' is not a valid header name (1 to {MAX_HEADER_NAME} letters, digits "
                "or !#$%&'*+-.^_`|~)"
            )
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
            return (
                f"'{name}' cannot be set: meterbell sets it (signature headers X-m3ter-* and "
                "webhook-*, Content-Type, Content-Length, Host and HTTP's own headers)"
            )
        if lowered in seen:
            return f"'{name}' is given twice (header names ignore case)"
        seen.add(lowered)
        if not isinstance(value, str):
            return f"the value of '{name}' must be a string"
        if len(value) > MAX_HEADER_VALUE or not all(" " <= c <= "~" for c in value):
            return (
                f"the value of '{name}' must be at most {MAX_HEADER_VALUE} printable ASCII "
                "characters"
            )
    return None
