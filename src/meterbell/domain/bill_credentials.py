"""The credentials of a Bill integration configuration (an accounts-receivable system), by
m3ter's credential types: what each holds, which of its fields are secret, and how a request
carries them.

- `STATIC_API_KEY` `{apiKey}`: sent in `configData.apiKeyHeader` (default `Authorization`,
  as `Bearer <apiKey>`; under any other header name, the key alone).
- `HTTP_BASIC` `{username, password}`: an `Authorization: Basic …` header.
- `OAUTH_CLIENT_CREDENTIALS` `{clientId, clientSecret, tokenUrl}`: a bearer token fetched from
  `tokenUrl` with the client credentials grant.

They are stored sealed whole; what the API shows keeps the type and the fields that are not
secret (`username`, `clientId`, `tokenUrl`), and shows each secret field as MASK."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.validation import validate_model

STATIC_API_KEY = "STATIC_API_KEY"
HTTP_BASIC = "HTTP_BASIC"
OAUTH_CLIENT_CREDENTIALS = "OAUTH_CLIENT_CREDENTIALS"
MASK = "********"
DEFAULT_API_KEY_HEADER = "Authorization"
API_KEY_HEADER_SETTING = "apiKeyHeader"


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str | None = Field(default=None, max_length=200)


class StaticApiKey(_Credentials):
    type: Literal["STATIC_API_KEY"]
    apiKey: str = Field(min_length=1, max_length=2000)  # noqa: N815


class HttpBasic(_Credentials):
    type: Literal["HTTP_BASIC"]
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=500)


class OAuthClientCredentials(_Credentials):
    type: Literal["OAUTH_CLIENT_CREDENTIALS"]
    clientId: str = Field(min_length=1, max_length=500)  # noqa: N815
    clientSecret: str = Field(min_length=1, max_length=2000)  # noqa: N815
    tokenUrl: str = Field(min_length=1, max_length=2000)  # noqa: N815


BillCredentials = StaticApiKey | HttpBasic | OAuthClientCredentials


# Bodies `{"credentials": ...}` by type, so that messages name `credentials.<field>`.
class _StaticBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    credentials: StaticApiKey


class _BasicBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    credentials: HttpBasic


class _OAuthBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    credentials: OAuthClientCredentials


_BODIES: Mapping[str, type[_StaticBody] | type[_BasicBody] | type[_OAuthBody]] = {
    STATIC_API_KEY: _StaticBody,
    HTTP_BASIC: _BasicBody,
    OAUTH_CLIENT_CREDENTIALS: _OAuthBody,
}
SHAPES = {
    STATIC_API_KEY: '{"type": "STATIC_API_KEY", "apiKey": "..."}',
    HTTP_BASIC: '{"type": "HTTP_BASIC", "username": "...", "password": "..."}',
    OAUTH_CLIENT_CREDENTIALS: (
        '{"type": "OAUTH_CLIENT_CREDENTIALS", "clientId": "...", "clientSecret": "...", '
        '"tokenUrl": "https://..."}'
    ),
}
SECRET_FIELDS = frozenset({"apiKey", "password", "clientSecret"})


def _shapes(types: tuple[str, ...]) -> str:
    return " or ".join(SHAPES[kind] for kind in types)


def parse_credentials(raw: object, types: tuple[str, ...], destination: str) -> BillCredentials:
    """`raw` as credentials of one of `types` (those `destination` takes); 400 otherwise."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"'credentials' must be an object: {_shapes(types)}")
    kind = raw.get("type")
    if kind is None:
        raise InvalidRequest(f"'credentials.type' is required: {_shapes(types)}")
    if kind not in types:
        raise InvalidRequest(
            f"'credentials.type' must be one of {', '.join(types)} for destination "
            f"{destination} (got {kind!r})"
        )
    masked = sorted(name for name in SECRET_FIELDS if raw.get(name) == MASK)
    if masked:
        raise InvalidRequest(
            f"'credentials.{masked[0]}' is masked (as meterbell shows it): send the full value, "
            "or leave 'credentials' out to keep the stored ones"
        )
    body = validate_model(_BODIES[str(kind)], {"credentials": raw})
    return body.credentials


def shown(credentials: BillCredentials) -> dict[str, Any]:
    """The credentials as the API shows them: secret fields masked."""
    dumped = credentials.model_dump(exclude_none=True)
    return {k: (MASK if k in SECRET_FIELDS else v) for k, v in dumped.items()}


def static_headers(
    credentials: Mapping[str, Any], config_data: Mapping[str, Any]
) -> dict[str, str]:
    """The header that carries STATIC_API_KEY or HTTP_BASIC credentials (none for OAuth:
    its token is fetched)."""
    kind = credentials["type"]
    if kind == STATIC_API_KEY:
        header = str(config_data.get(API_KEY_HEADER_SETTING) or DEFAULT_API_KEY_HEADER)
        key = str(credentials["apiKey"])
        return {header: f"Bearer {key}" if header.lower() == "authorization" else key}
    if kind == HTTP_BASIC:
        return {"Authorization": basic_auth(credentials["username"], credentials["password"])}
    return {}


def basic_auth(username: str, password: str) -> str:
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode()
