"""Requests generated from the app's own OpenAPI document (schemathesis), authorised for a
real organization so that they reach the handlers, on each store: none may get a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, StoreInfo, new_org_api

EXAMPLES_PER_OPERATION = 5
# The coverage phase (every boundary of every schema) sends ~10,000 requests per store: too
# slow for `make test`; the examples and the generated cases stay.
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})

# The document only (its app never connects): the requests go to `store_app`.
schema = schemathesis.openapi.from_dict(
    create_app(
        Settings(database_url="sqlite+aiosqlite://", secret_key=TEST_SECRET_KEY), run_workers=False
    ).openapi(),
    config=CONFIG,
)


@pytest.fixture(scope="module")
def store_app(settings: Settings, store_info: StoreInfo) -> Iterator[FastAPI]:
    """An app with its own connections to the test store: schemathesis calls it from its own
    event loop thread."""
    yield create_app(
        settings.model_copy(update={"database_url": store_info.url}), run_workers=False
    )
    shutdown_lifespans()


@pytest.fixture(scope="module")
async def fuzzed(client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(client, db, "Fuzzed organization")


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, store_app: FastAPI, fuzzed: OrgApi
) -> None:
    if case.path_parameters and "orgId" in case.path_parameters:
        case.path_parameters["orgId"] = fuzzed.org_id
    response = case.call(app=store_app, headers=fuzzed.headers)
    case.validate_response(response, checks=[not_a_server_error])
