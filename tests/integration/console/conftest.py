"""The console app in-process, and clients that sign in to it as a browser would."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.services import console_users
from meterbell.store.db import Database

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture(scope="module")
def transport(db: Database, settings: Settings) -> httpx.ASGITransport:
    """The app, for clients that keep their own cookies (a browser each)."""
    return httpx.ASGITransport(app=create_app(settings, db=db, run_workers=False))


async def signed_in_client(
    transport: httpx.ASGITransport, db: Database, org_id: str
) -> httpx.AsyncClient:
    """A client of its own, signed in as a new user of `org_id`."""
    email, password = f"{uuid.uuid4().hex[:8]}@example.com", "a password of twelve+"
    await console_users.create_user(db, org_id, email, password)
    browser = httpx.AsyncClient(transport=transport, base_url="http://meterbell.test")
    form = await browser.get("/console/sign-in")
    match = CSRF.search(form.text)
    assert match, form.text
    signed = await browser.post(
        "/console/sign-in",
        data={"csrf_token": match.group(1), "email": email, "password": password},
    )
    assert signed.status_code == 303, signed.text
    return browser


async def page_text(transport: httpx.ASGITransport, db: Database, org_id: str, path: str) -> str:
    """The page at `path` as a new user of `org_id` sees it (HTML entities unescaped)."""
    browser = await signed_in_client(transport, db, org_id)
    try:
        page = await browser.get(path)
    finally:
        await browser.aclose()
    assert page.status_code == 200, page.text
    return html.unescape(page.text)
