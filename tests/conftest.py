"""Shared fixtures: a real store per backend (SQLite file, and PostgreSQL when
MB_TEST_POSTGRES_URL is set), the app over ASGI, and a fresh organization per test."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings, async_driver_url
from meterbell.logs import configure_logging
from meterbell.services import orgs
from meterbell.store.db import Database
from meterbell.store.migrate import upgrade
from tests.logcapture import logging_to
from tests.s3server import S3Server, running_s3_server
from tests.stripe_standin import StripeStandin, running_stripe_standin

POSTGRES_URL = os.environ.get("MB_TEST_POSTGRES_URL", "")
STORES = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TEST_SECRET_KEY = "test-secret-key-for-meterbell"

configure_logging("warning")


def _plain_pg_url(database: str) -> str:
    base = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    return base.rsplit("/", 1)[0] + f"/{database}"


async def _create_pg_database() -> str:
    name = f"mb_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def new_database_url(kind: str) -> str | None:
    """A store for real `meterbell` processes (tests/e2e): None for SQLite (the process then
    uses `<MB_DATA_DIR>/meterbell.db`), or the plain URL of a new, empty PostgreSQL database
    (drop it with `drop_database_url`)."""
    return None if kind == "sqlite" else _plain_pg_url(await _create_pg_database())


async def drop_database_url(url: str | None) -> None:
    if url is not None:
        await _drop_pg_database(url.rsplit("/", 1)[1])


@asynccontextmanager
async def fresh_database_url(kind: str) -> AsyncIterator[str | None]:
    """`new_database_url`, dropped afterwards."""
    url = await new_database_url(kind)
    try:
        yield url
    finally:
        await drop_database_url(url)


@asynccontextmanager
async def fresh_store(kind: str, folder: Path) -> AsyncIterator[Database]:
    """A new, migrated, empty store of `kind`."""
    async with fresh_database_url(kind) as url:
        database = Database(
            async_driver_url(url) if url else f"sqlite+aiosqlite:///{folder / 'meterbell.db'}"
        )
        try:
            await upgrade(database)
            yield database
        finally:
            await database.dispose()


@pytest.fixture(params=STORES)
async def own_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A new, migrated, empty store of each kind for one test alone."""
    async with fresh_store(request.param, tmp_path) as database:
        yield database


@dataclass
class StoreInfo:
    kind: str
    url: str


@pytest.fixture(scope="session", params=STORES)
async def store_info(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StoreInfo]:
    """A migrated, empty store of each kind, shared by the tests of a session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "meterbell.db"
        yield StoreInfo("sqlite", f"sqlite+aiosqlite:///{path}")
        return
    name = await _create_pg_database()
    try:
        yield StoreInfo("postgres", async_driver_url(_plain_pg_url(name)))
    finally:
        await _drop_pg_database(name)


@pytest.fixture(scope="session")
async def db(store_info: StoreInfo) -> AsyncIterator[Database]:
    database = Database(store_info.url)
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Webhook targets in tests are loopback receivers; test_webhook_config checks the refusal.
    # Every test calls from one address: the limit on failed token requests is tested on an
    # app of its own (test_auth).
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key=TEST_SECRET_KEY,
        webhook_allow_private=True,
        token_failure_limit=1_000_000,
    )


@pytest.fixture(scope="session")
async def client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, run_workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as c:
        yield c


@dataclass
class OrgApi:
    """A fresh organization and an HTTP client authorised for it."""

    client: httpx.AsyncClient
    org_id: str
    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return f"/organizations/{self.org_id}/{path.lstrip('/')}"

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(self.url(path), headers=self.headers, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(self.url(path), json=json, headers=self.headers, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.client.put(self.url(path), json=json, headers=self.headers, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.delete(self.url(path), headers=self.headers, **kwargs)


async def new_org_api(client: httpx.AsyncClient, db: Database, name: str) -> OrgApi:
    credential = await orgs.create_organization(db, name)
    response = await client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(credential.client_id, credential.client_secret),
    )
    assert response.status_code == 200, response.text
    return OrgApi(
        client,
        credential.org_id,
        credential.client_id,
        credential.client_secret,
        response.json()["access_token"],
    )


@pytest.fixture
async def api(client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(client, db, "Test organization")


@pytest.fixture
async def other_api(client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(client, db, "Another organization")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """meterbell's log at `info` and above, as JSON lines (tests/logcapture.py's `json_lines`),
    for the test's length."""
    stream = io.StringIO()
    with logging_to(stream, "info", "json"):
        yield stream


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 (and STS) server on a free loopback port, for the whole session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The session's server, with its fake AWS credentials in the environment of this test."""
    s3_server.apply_env(monkeypatch)
    return s3_server


@pytest.fixture
def stripe_server() -> Iterator[StripeStandin]:
    """A fresh local Stripe-compatible server (tests/stripe_standin.py) for one test: its own
    state, faults and request counts."""
    with running_stripe_standin() as server:
        yield server
