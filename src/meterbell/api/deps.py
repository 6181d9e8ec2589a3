"""Dependencies shared by the routers: application state, the caller's organization, bodies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from meterbell.api.state import AppState
from meterbell.domain.errors import Forbidden, InvalidRequest, Unauthorized
from meterbell.domain.pagination import page_size
from meterbell.domain.request_limits import parse_json_body


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.mb
    return state


StateDep = Annotated[AppState, Depends(get_state)]


@dataclass(frozen=True)
class OrgContext:
    """The organization a request acts on, and who acts (the credential's client id)."""

    org_id: str
    actor: str


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Send 'Authorization: Bearer <token>'; get a token from POST /oauth/token"
        )
    return token.strip()


async def current_org(request: Request, state: StateDep, orgId: str) -> OrgContext:
    claims = state.signer.verify(_bearer_token(request), now_s=time.time())
    await state.revoked.check(claims.client_id)
    if claims.org_id != orgId:
        raise Forbidden(f"This token is for organization {claims.org_id}, not {orgId}")
    return OrgContext(org_id=orgId, actor=claims.client_id)


CurrentOrg = Annotated[OrgContext, Depends(current_org)]


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidRequest("The request body is empty: send a JSON object")
    return parse_json_body(raw)


JsonBody = Annotated[Any, Depends(json_body)]


async def optional_json_body(request: Request) -> Any:
    """The JSON body, or `{}` when there is none."""
    raw = await request.body()
    return parse_json_body(raw) if raw.strip() else {}


OptionalJsonBody = Annotated[Any, Depends(optional_json_body)]


async def query_lists(request: Request) -> dict[str, list[str]]:
    """Every query parameter with all its values (`ids=a&ids=b` keeps both)."""
    lists: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        lists.setdefault(key, []).append(value)
    return lists


QueryLists = Annotated[dict[str, list[str]], Depends(query_lists)]


def requested_page_size(query: dict[str, list[str]], maximum: int) -> int:
    return page_size(query.get("pageSize", [None])[-1], maximum=maximum)
