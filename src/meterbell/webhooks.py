"""Receiver-side helpers: check that a webhook request really comes from meterbell.

A destination whose credentials are M3TER_SIGNED_REQUEST (m3ter's scheme):

    from meterbell.webhooks import verify

    ok = verify(
        url="https://example.com/hooks/m3ter?tenant=7",   # the URL the request was sent to
        headers=request.headers,                           # any str -> str mapping
        body=request.body,                                 # the raw bytes, before JSON parsing
        api_key="my-api-key",
        secret="my-secret",
        tolerance_s=300,                                    # reject replays older than 5 minutes
    )

A destination whose credentials are STANDARD_WEBHOOKS (an extension beyond m3ter):

    from meterbell.webhooks import verify_standard

    ok = verify_standard(headers=request.headers, body=request.body, secret="whsec_...")

`verify_request(scheme=..., ...)` checks either, by the destination's `credentials.type`.
While a rotated secret's overlap lasts, requests carry signatures by the new secret and by the
old one: each helper accepts the request if the secret it is given made any of them.

See docs/webhooks.md for both schemes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping

from meterbell.domain.signing import (
    APIKEY_HEADER,
    PREVIOUS_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    Scheme,
    sign,
    standard_secret_key,
    standard_signature,
)

__all__ = ["sign", "verify", "verify_request", "verify_standard"]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _fresh(sent_s: float, tolerance_s: float | None, now_s: float | None) -> bool:
    if tolerance_s is None:
        return True
    current = time.time() if now_s is None else now_s
    return abs(current - sent_s) <= tolerance_s


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
    """M3TER_SIGNED_REQUEST: True when `secret` made `X-m3ter-signature` (or, during a
    rotation's overlap, one of `X-m3ter-signature-previous`) and the timestamp is within
    `tolerance_s` of now."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if timestamp is None or signature is None or _header(headers, APIKEY_HEADER) != api_key:
        return False
    try:
        sent_s = int(timestamp) / 1000
    except ValueError:
        return False
    if not _fresh(sent_s, tolerance_s, now_s):
        return False
    expected = sign(url, api_key, secret, timestamp, body).encode()
    candidates = [signature, *(_header(headers, PREVIOUS_SIGNATURE_HEADER) or "").split()]
    # Every candidate is compared, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected, c.lower().encode()) for c in candidates]
    return any(matches)


def verify_standard(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    tolerance_s: float | None = 300,
    now_s: float | None = None,
) -> bool:
    """STANDARD_WEBHOOKS: True when `secret` ("whsec_...") made one of the `v1,` signatures
    in `webhook-signature` over `webhook-id`, `webhook-timestamp` (Unix seconds) and the
    body, and the timestamp is within `tolerance_s` of now."""
    msg_id = _header(headers, WEBHOOK_ID_HEADER)
    timestamp = _header(headers, WEBHOOK_TIMESTAMP_HEADER)
    signatures = _header(headers, WEBHOOK_SIGNATURE_HEADER)
    if not (msg_id and timestamp and signatures):
        return False
    try:
        sent_s = int(timestamp)
        key = standard_secret_key(secret)
    except ValueError:
        return False
    if not _fresh(sent_s, tolerance_s, now_s):
        return False
    expected = base64.b64decode(standard_signature(key, msg_id, sent_s, body).partition(",")[2])
    matches = []
    for versioned in signatures.split():
        version, _, encoded = versioned.partition(",")
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        matches.append(version == "v1" and hmac.compare_digest(expected, candidate))
    return any(matches)


def verify_request(
    *,
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    url: str | None = None,
    api_key: str | None = None,
    tolerance_s: float | None = 300,
    now_s: float | None = None,
) -> bool:
    """Either scheme, named as the destination's `credentials.type` names it:
    "M3TER_SIGNED_REQUEST" (needs `url` and `api_key`) or "STANDARD_WEBHOOKS"."""
    if scheme == Scheme.STANDARD_WEBHOOKS:
        return verify_standard(
            headers=headers, body=body, secret=secret, tolerance_s=tolerance_s, now_s=now_s
        )
    if scheme != Scheme.M3TER_SIGNED_REQUEST:
        raise ValueError(f"unknown scheme {scheme!r}: M3TER_SIGNED_REQUEST or STANDARD_WEBHOOKS")
    if url is None or api_key is None:
        raise ValueError("M3TER_SIGNED_REQUEST needs the destination's url and api_key")
    return verify(
        url=url,
        headers=headers,
        body=body,
        api_key=api_key,
        secret=secret,
        tolerance_s=tolerance_s,
        now_s=now_s,
    )
