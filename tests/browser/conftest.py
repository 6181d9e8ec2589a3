"""Fixtures of the browser tests: Debian's chromium driven by playwright, against a real
`meterbell serve` process per module and store (the servers of tests/e2e/server.py)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import STORES, drop_database_url, new_database_url
from tests.e2e.server import MeterbellServer

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
# Expectations wait this long before failing (playwright's default is 5 s).
EXPECT_TIMEOUT_MS = 5_000
T = TypeVar("T")


@pytest.fixture(scope="session")
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
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
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


@pytest.fixture(scope="module")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeterbellServer]:
    with MeterbellServer(
        tmp_path_factory.mktemp("browser") / "data", database_url=database_url
    ) as running:
        yield running
