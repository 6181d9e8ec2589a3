"""`POST /oauth/token`: OAuth2 client credentials, JSON or form body, HTTP Basic client auth."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import StateDep
from meterbell.api.responses import JSONResponse
from meterbell.domain.errors import InvalidRequest, Unauthorized
from meterbell.domain.request_limits import (
    NUL_REFUSED,
    parse_json_body,
    refuse_nul,
    urlencoded_holds_nul,
)
from meterbell.services import orgs

router = APIRouter(tags=["Auth"])
UNKNOWN_ADDRESS = "unknown"


def _token_request_fields(raw: bytes, content_type: str) -> dict[str, str]:
    if content_type.startswith("application/json"):
        body: Any = parse_json_body(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object")
        return {key: str(value) for key, value in body.items()}
    if urlencoded_holds_nul(raw):
        raise InvalidRequest(f"The request body {NUL_REFUSED}")
    form = parse_qs(raw.decode("utf-8", errors="replace"))
    return {key: values[-1] for key, values in form.items()}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    refuse_nul(client_id + secret, "The HTTP Basic credentials")
    return (client_id, secret) if sep else None


@router.post("/oauth/token", summary="Get a bearer token (client credentials)")
async def get_token(request: Request, state: StateDep) -> Response:
    fields = _token_request_fields(await request.body(), request.headers.get("content-type", ""))
    if fields.get("grant_type") != "client_credentials":
        raise InvalidRequest("grant_type must be 'client_credentials'")
    credentials = _basic_credentials(request.headers.get("authorization", ""))
    if credentials is None and "client_id" in fields:
        credentials = (fields["client_id"], fields.get("client_secret", ""))
    if credentials is None:
        raise Unauthorized(
            "Authenticate with HTTP Basic: base64 of '<clientId>:<clientSecret>'",
            headers={"WWW-Authenticate": 'Basic realm="meterbell"'},
        )
    token = await orgs.issue_token(
        state.db,
        state.signer,
        state.failed_token_requests,
        *credentials,
        address=request.client.host if request.client else UNKNOWN_ADDRESS,
        ttl_s=state.settings.token_ttl_s,
    )
    return JSONResponse(token, headers={"Cache-Control": "no-store"})
