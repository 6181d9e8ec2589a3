"""Receiver-side helper: check that a webhook request really comes from meterbell.

    from meterbell.webhooks import verify

    ok = verify(
        url="https://example.com/hooks/m3ter?tenant=7",   # the URL the request was sent to
        headers=request.headers,                           # any str -> str mapping
        body=request.body,                                 # the raw bytes, before JSON parsing
        api_key="my-api-key",
        secret="my-secret",
        tolerance_s=300,                                    # reject replays older than 5 minutes
    )

See docs/webhooks.md for the scheme.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from meterbell.domain.signing import APIKEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

__all__ = ["sign", "verify"]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify(
    *,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    api_key: str,
    secret: str,
    tolerance_s: float | None = 300,
    now_s: float | None = None,
) -> bool:
    """True when the signature matches and the timestamp is within `tolerance_s` of now."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if timestamp is None or signature is None or _header(headers, APIKEY_HEADER) != api_key:
        return False
    if tolerance_s is not None:
        try:
            sent_s = int(timestamp) / 1000
        except ValueError:
            return False
        current = time.time() if now_s is None else now_s
        if abs(current - sent_s) > tolerance_s:
            return False
    expected = sign(url, api_key, secret, timestamp, body)
    return hmac.compare_digest(expected, signature.lower())
