"""M3TER_SIGNED_REQUEST: how a webhook request is signed.

signature = lowercase hex HMAC-SHA256(key = secret, message =
    url + "|" + queryString + "|" + apiKey + "|" + timestamp + "|" + body)

`url` is the destination URL without its query string, `queryString` the part after `?`
(empty when there is none), `timestamp` Unix time in milliseconds as decimal text, `body` the
exact request body; all UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

APIKEY_HEADER = "X-m3ter-apikey"
TIMESTAMP_HEADER = "X-m3ter-timestamp"
SIGNATURE_HEADER = "X-m3ter-signature"
DELIVERY_ID_HEADER = "X-m3ter-delivery-id"


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
    url: str, api_key: str, secret: str, timestamp_ms: int, body: bytes, delivery_id: str
) -> dict[str, str]:
    timestamp = str(timestamp_ms)
    return {
        "Content-Type": "application/json",
        APIKEY_HEADER: api_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(url, api_key, secret, timestamp, body),
        DELIVERY_ID_HEADER: delivery_id,
    }
