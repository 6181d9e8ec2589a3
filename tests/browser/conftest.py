"""Fixtures of the browser tests: Debian's chromium driven by playwright, against a real
`meterbell serve` process per module and store (the servers of tests/e2e/server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from meterbell.config import async_driver_url
from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.services import console_users, orgs
from meterbell.services.alerts import raise_alert
from meterbell.store.db import Database
from tests.conftest import STORES, drop_database_url, new_database_url
from tests.e2e.server import MeterbellServer, graceful_exit
from tests.factories import minimal_body
from tests.receiver import Receiver

# Debian's chromium (`make browser` installs it); its wrapper script prints a harmless shell
# error on some machines, so launch the binary behind it when it is there.
CHROMIUM = next(
    (
        path
        for path in ("/usr/lib/chromium/chromium", shutil.which("chromium"))
        if path and Path(path).exists()
    ),
    "/usr/bin/chromium",
)
# Actions and expectations wait this long before failing: generous, for a loaded machine
# (playwright's default is 5 s; a passing test never waits it out).
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)
T = TypeVar("T")


# Per module, not per session: while playwright's sync API is open, its loop runs in this
# thread, and the async fixtures of the modules that follow on this worker could not run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium is missing: run `make browser`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and its page, per test."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on a loop of its own, in another thread: playwright's
    sync API keeps a loop running in this one, where no other loop may run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module", params=STORES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    url = run_async(new_database_url(request.param))
    try:
        yield url
    finally:
        run_async(drop_database_url(url))


@contextlib.contextmanager
def running_server(
    database_url: str | None, folder: Path, **settings: str
) -> Iterator[MeterbellServer]:
    """A `meterbell serve` process on the store, with `settings` (MB_* variables) besides
    those every browser test needs; it must have lived through the tests and exit cleanly."""
    running = MeterbellServer(
        folder / "data",
        database_url=database_url,
        extra_env={"MB_WEBHOOK_ALLOW_PRIVATE": "true", **settings},  # local receivers
    ).start()
    try:
        yield running
    finally:
        alive = running.running
        code = running.stop()
    assert alive, f"the server died during the tests (exit {code}):\n{running.log_tail()}"
    assert graceful_exit(code), f"the server exited {code}:\n{running.log_tail()}"


@pytest.fixture(scope="module")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeterbellServer]:
    with running_server(database_url, tmp_path_factory.mktemp("browser")) as running:
        yield running


@dataclass(frozen=True)
class ConsoleUser:
    org_id: str
    email: str
    password: str


@pytest.fixture(scope="module")
def admin(server: MeterbellServer) -> ConsoleUser:
    """The console user the first start made, of the default organization."""
    email, password = server.initial_console_user()
    return ConsoleUser(server.initial_credentials().org_id, email, password)


def in_store(server: MeterbellServer, work: Callable[[Database], Awaitable[T]]) -> T:
    """`work` on a connection of the test's own to the server's store (as another meterbell
    process would do it: faster than a CLI command)."""

    async def run() -> T:
        db = Database(store_url(server))
        try:
            return await work(db)
        finally:
            await db.dispose()

    return run_async(run())


def new_org_user(server: MeterbellServer, name: str) -> ConsoleUser:
    """A new organization and a console user of it."""

    async def create(db: Database) -> ConsoleUser:
        org_id = (await orgs.create_organization(db, name)).org_id
        email, password = f"{uuid.uuid4().hex[:8]}@example.com", f"{name} password 1234"
        await console_users.create_user(db, org_id, email, password)
        return ConsoleUser(org_id, email, password)

    return in_store(server, create)


def sign_in(page: Page, server: MeterbellServer, user: ConsoleUser) -> None:
    page.goto(server.url("/console/sign-in"))
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()


def store_url(server: MeterbellServer) -> str:
    """The server's store, for a connection of the test's own."""
    if server.database_url:
        return async_driver_url(server.database_url)
    return f"sqlite+aiosqlite:///{server.data_dir / 'meterbell.db'}"


def raise_alerts(
    server: MeterbellServer, org_id: str, count: int = 1, severity: Severity = Severity.ERROR
) -> list[str]:
    """`count` alerts of distinct causes in the server's store, as a failing worker raises
    them; their ids."""

    async def raise_them(db: Database) -> list[str]:
        async with db.write() as conn:
            return [
                (await raise_alert(conn, occurrence(org_id, severity), utcnow())).id
                for _ in range(count)
            ]

    return in_store(server, raise_them)


def occurrence(org_id: str, severity: Severity) -> Occurrence:
    return Occurrence(
        org_id=org_id,
        type=AlertType.INTEGRATION_PERFORM_ERROR,
        severity=severity,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=str(uuid.uuid4()),
        description="Delivery to https://hooks.example.com failed: 502 Bad Gateway",
    )


def api_call(server: MeterbellServer, method: str, path: str, body: Any = None) -> httpx.Response:
    """Call an API path of the default organization with its first credential."""
    credentials = server.initial_credentials()
    token = server.token(credentials).json()["access_token"]
    return httpx.request(
        method,
        server.url(f"/organizations/{credentials.org_id}/{path}"),
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=10.0,
    )


def api_get(server: MeterbellServer, path: str) -> httpx.Response:
    return api_call(server, "GET", path)


def api_post(server: MeterbellServer, path: str, body: Any = None) -> dict[str, Any]:
    """POST to an API path of the default organization; the answer, which must be a 200."""
    response = api_call(server, "POST", path, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver, on an event loop of its own in another thread (playwright's
    sync API holds this one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="receiver", daemon=True)
    thread.start()
    running = Receiver()
    asyncio.run_coroutine_threadsafe(running.start(), loop).result(timeout=10)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def wire_rule(server: MeterbellServer, url: str, event_name: str) -> dict[str, dict[str, Any]]:
    """Through the API: a rule that fires on every `event_name`, a webhook at `url`, and the
    integration between them."""
    code = f"b{uuid.uuid4().hex[:8]}"
    rule = api_post(
        server,
        "notifications/configurations",
        {"name": f"Rule {code}", "code": code, "eventName": event_name, "alwaysFireEvent": True},
    )
    webhook = api_post(
        server,
        "integrationdestinations/webhooks",
        {
            "name": f"Hook {code}",
            "url": url,
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    config = api_post(
        server,
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule["id"],
            "destination": "Webhook",
            "destinationId": webhook["id"],
        },
    )
    return {"rule": rule, "webhook": webhook, "config": config}


def new_product(server: MeterbellServer) -> dict[str, Any]:
    return api_post(server, "products", minimal_body(entity_by_name("product")))


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """With MB_CONSOLE_SCREENSHOTS set to a folder (docs/console for the docs), keep a
    picture of `page` (all of it, or what the screen shows) there as `<name>.png`."""
    folder = os.environ.get("MB_CONSOLE_SCREENSHOTS")
    if folder:
        page.screenshot(path=Path(folder) / f"{name}.png", full_page=full_page)
