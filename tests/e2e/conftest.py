"""Fixtures of the end-to-end tests: per module and store, a real `meterbell serve` process
on a fresh database, and the official m3ter SDK pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import m3ter
import pytest

from tests.conftest import STORES, fresh_database_url
from tests.e2e.server import MeterbellServer


@pytest.fixture(scope="module", params=STORES)
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    async with fresh_database_url(request.param) as url:
        yield url


@pytest.fixture(scope="module")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeterbellServer]:
    with MeterbellServer(
        tmp_path_factory.mktemp("e2e") / "data", database_url=database_url
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: MeterbellServer) -> Iterator[m3ter.M3ter]:
    """The SDK for the server's first organization (this replaces, in tests/e2e, the
    in-process HTTP client of tests/conftest.py). Strict: every response must fit the SDK's
    models, as in the strict variant of test_sdk.py."""
    credentials = server.initial_credentials()
    sdk = m3ter.M3ter(
        api_key=credentials.client_id,
        api_secret=credentials.client_secret,
        org_id=credentials.org_id,
        base_url=server.base_url,
        _strict_response_validation=True,
    )
    try:
        yield sdk
    finally:
        sdk.close()
