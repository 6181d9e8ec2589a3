"""Entity routes are ordinary FastAPI routes: dependency overrides and a root path apply to
them as to every other route."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from meterbell.api.deps import OrgContext, current_org, get_state
from meterbell.api.state import AppState
from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.tokens import TokenClaims, TokenSigner
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.factories import minimal_body

ACCOUNT = entity_by_name("account")


@asynccontextmanager
async def client_of(
    app: FastAPI, base_url: str = "http://meterbell.test"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


async def test_an_override_of_current_org_applies_to_entity_routes(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    app = create_app(settings, db=db, run_workers=False)

    async def as_a_fixed_actor() -> OrgContext:
        return OrgContext(org_id=api.org_id, actor="overriding-actor")

    app.dependency_overrides[current_org] = as_a_fixed_actor
    async with client_of(app) as client:  # no token: the override decides who acts
        created = await client.post(api.url("accounts"), json=minimal_body(ACCOUNT))
        listed = await client.get(api.url("accounts"))
    assert created.status_code == 200, created.text
    assert created.json()["createdBy"] == "overriding-actor"
    assert [item["id"] for item in listed.json()["data"]] == [created.json()["id"]]


async def test_an_override_of_get_state_applies_to_entity_routes(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    app = create_app(settings, db=db, run_workers=False)
    other_signer = TokenSigner("another-secret-key-than-the-apps")
    state: AppState = app.state.mb
    overriding = dataclasses.replace(state, signer=other_signer)

    async def overriding_state() -> AppState:
        return overriding

    app.dependency_overrides[get_state] = overriding_state
    claims = TokenClaims(client_id=api.client_id, org_id=api.org_id)
    token = other_signer.issue(claims, now=utcnow(), ttl=timedelta(minutes=5))
    async with client_of(app) as client:
        with_other_key = await client.get(
            api.url("accounts"), headers={"Authorization": f"Bearer {token}"}
        )
        with_apps_key = await client.get(api.url("accounts"), headers=api.headers)
    assert with_other_key.status_code == 200, with_other_key.text
    assert with_apps_key.status_code == 401, with_apps_key.text


async def test_an_app_mounted_under_a_root_path_serves_entity_routes(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    outer = FastAPI()
    outer.mount("/api", create_app(settings, db=db, run_workers=False))
    async with client_of(outer) as client:
        created = await client.post(
            f"/api{api.url('accounts')}", json=minimal_body(ACCOUNT), headers=api.headers
        )
        assert created.status_code == 200, created.text
        got = await client.get(
            f"/api{api.url('accounts')}/{created.json()['id']}", headers=api.headers
        )
        unknown = await client.get(f"/api{api.url('nosuchthing')}", headers=api.headers)
        wrong_method = await client.delete(f"/api{api.url('accounts')}", headers=api.headers)
    assert got.status_code == 200, got.text
    assert got.json()["id"] == created.json()["id"]
    assert unknown.status_code == 404
    assert unknown.json()["message"] == f"No such endpoint: GET /api{api.url('nosuchthing')}"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"


async def test_an_unsupported_method_is_refused_before_the_token_is_checked(api: OrgApi) -> None:
    response = await api.client.delete(api.url("accounts"))
    assert response.status_code == 405
    assert response.json() == {"message": f"DELETE is not supported on {api.url('accounts')}"}


async def test_the_token_is_checked_before_the_body_is_read(api: OrgApi) -> None:
    response = await api.client.put(api.url("accounts/a-1"), content=b"{not json")
    assert response.status_code == 401, response.text
