"""What a webhook destination accepts beyond m3ter: STANDARD_WEBHOOKS credentials, static
headers, and (with MB_WEBHOOK_HTTPS_ONLY) https targets only. Each refusal is a 400 that says
what is wrong."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api

HOOKS = "integrationdestinations/webhooks"
M3TER = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"}


def whsec(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(size)).decode()


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "hook", "url": "https://127.0.0.1/hook", "credentials": M3TER, **fields}


async def created(api: OrgApi, **fields: Any) -> dict[str, Any]:
    response = await api.post(HOOKS, body(**fields))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("no-prefix", "must start with 'whsec_'"),
        ("whsec_not*base64!", "followed by base64"),
        (whsec(16), "24 to 64 bytes (it encodes 16)"),
        (whsec(65), "24 to 64 bytes (it encodes 65)"),
        ("whsec_", "24 to 64 bytes (it encodes 0)"),
    ],
)
async def test_a_standard_secret_of_the_wrong_shape_is_refused(
    api: OrgApi, secret: str, says: str
) -> None:
    credentials = {"type": "STANDARD_WEBHOOKS", "secret": secret}
    response = await api.post(HOOKS, body(credentials=credentials))
    assert response.status_code == 400
    assert response.json()["message"].startswith("'credentials.secret' ")
    assert says in response.json()["message"]


async def test_an_unknown_credentials_type_is_refused(api: OrgApi) -> None:
    response = await api.post(HOOKS, body(credentials={"type": "BASIC", "secret": "s"}))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "'credentials.type' must be one of: 'M3TER_SIGNED_REQUEST', 'STANDARD_WEBHOOKS'"
    )
    missing = await api.post(HOOKS, body(credentials={"apiKey": "k", "secret": "s"}))
    assert missing.json()["message"] == "'credentials.type' is required"
    no_key = await api.post(HOOKS, body(credentials={"type": "M3TER_SIGNED_REQUEST"}))
    assert no_key.json()["message"] == "'credentials.apiKey' is required"


async def test_switching_scheme_on_update(api: OrgApi) -> None:
    """To STANDARD_WEBHOOKS without a secret: one is generated and returned once; back to
    M3TER_SIGNED_REQUEST needs a secret; the same scheme without a secret keeps it."""
    webhook = await created(api)
    path = f"{HOOKS}/{webhook['id']}"
    switched = await api.put(
        path, {**body(credentials={"type": "STANDARD_WEBHOOKS"}), "version": 1}
    )
    assert switched.status_code == 200, switched.text
    secret = switched.json()["credentials"]["secret"]
    assert secret.startswith("whsec_")
    assert "apiKey" not in switched.json()["credentials"]
    kept = await api.put(path, {**body(credentials={"type": "STANDARD_WEBHOOKS"}), "version": 2})
    assert kept.status_code == 200, kept.text
    assert "secret" not in kept.json()["credentials"]
    back = await api.put(
        path, {**body(credentials={"type": "M3TER_SIGNED_REQUEST", "apiKey": "k"}), "version": 3}
    )
    assert back.status_code == 400
    assert back.json()["message"] == "'credentials.secret' is required"


async def test_a_read_echoed_back_on_update_keeps_the_rotation(api: OrgApi) -> None:
    """A client that PUTs what it read (with the rotation's read-only field) or resends the
    current secret keeps the overlap; a new secret ends it."""
    webhook = await created(api)
    path = f"{HOOKS}/{webhook['id']}"
    rotated = (await api.post(f"{path}/rotatesecret")).json()
    new_secret = rotated["credentials"]["secret"]
    read = (await api.get(path)).json()
    echoed = await api.put(path, read)
    assert echoed.status_code == 200, echoed.text
    [until] = read["credentials"]["previousSecretsValidUntil"]
    assert echoed.json()["credentials"]["previousSecretsValidUntil"] == [until]
    same = {**read["credentials"], "secret": new_secret}
    resent = await api.put(path, {**read, "credentials": same, "version": read["version"] + 1})
    assert resent.json()["credentials"]["previousSecretsValidUntil"] == [until]
    replaced = {**read["credentials"], "secret": "brand-new"}
    ended = await api.put(path, {**read, "credentials": replaced, "version": read["version"] + 2})
    assert ended.status_code == 200, ended.text
    assert "previousSecretsValidUntil" not in ended.json()["credentials"]


async def test_static_headers_are_stored_and_returned(api: OrgApi) -> None:
    headers = {"X-Tenant": "acme", "Authorization": "Bearer abc", "x-trace": "a b ~!"}
    webhook = await created(api, headers=headers)
    assert webhook["headers"] == headers
    read = (await api.get(f"{HOOKS}/{webhook['id']}")).json()
    assert read["headers"] == headers
    plain = await created(api)
    assert "headers" not in plain


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X-m3ter-signature": "x"}, "'X-m3ter-signature' cannot be set"),
        ({"x-m3ter-apikey": "x"}, "'x-m3ter-apikey' cannot be set"),
        ({"webhook-id": "x"}, "'webhook-id' cannot be set"),
        ({"Webhook-Signature": "x"}, "'Webhook-Signature' cannot be set"),
        ({"Content-Type": "text/plain"}, "'Content-Type' cannot be set"),
        ({"content-length": "1"}, "'content-length' cannot be set"),
        ({"Host": "evil.example"}, "'Host' cannot be set"),
        ({"Transfer-Encoding": "chunked"}, "'Transfer-Encoding' cannot be set"),
        ({"Bad Name": "x"}, "'Bad Name' is not a valid header name"),
        ({"": "x"}, "'' is not a valid header name"),
        ({"X-Long": "v" * 1001}, "the value of 'X-Long' must be at most 1000"),
        ({"X-Newline": "a\r\nInjected: yes"}, "the value of 'X-Newline' must be"),
        ({"X-Number": 5}, "the value of 'X-Number' must be a string"),
        ({"X-A": "1", "x-a": "2"}, "'x-a' is given twice"),
        ({f"X-{n}": "v" for n in range(21)}, "at most 20 headers"),
    ],
)
async def test_bad_static_headers_are_refused_naming_the_header(
    api: OrgApi, headers: dict[str, Any], says: str
) -> None:
    response = await api.post(HOOKS, body(headers=headers))
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("'headers': ")
    assert says in response.json()["message"]


async def test_headers_must_be_an_object(api: OrgApi) -> None:
    response = await api.post(HOOKS, body(headers=["X-A: 1"]))
    assert response.status_code == 400
    assert "'headers' must be an object" in response.json()["message"]


async def test_static_headers_are_checked_on_update(api: OrgApi) -> None:
    webhook = await created(api, headers={"X-A": "1"})
    response = await api.put(
        f"{HOOKS}/{webhook['id']}", {**webhook, "headers": {"Host": "x"}, "version": 1}
    )
    assert response.status_code == 400
    assert "'Host' cannot be set" in response.json()["message"]
    removed = await api.put(f"{HOOKS}/{webhook['id']}", {**body(), "version": 1})
    assert "headers" not in removed.json()


@pytest.fixture
async def https_only_api(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OrgApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("https-only"),
        secret_key=TEST_SECRET_KEY,
        webhook_allow_private=True,
        webhook_https_only=True,
    )
    app = create_app(settings, db=db, run_workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as client:
        yield await new_org_api(client, db, "https only")


async def test_https_only_refuses_plain_http_targets(https_only_api: OrgApi) -> None:
    api = https_only_api
    refused = await api.post(HOOKS, body(url="http://127.0.0.1/hook"))
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "'url' must be an https:// URL: this server refuses plain http webhook targets "
        "(MB_WEBHOOK_HTTPS_ONLY=true)"
    )
    webhook = await created(api, url="https://127.0.0.1/hook")
    update = await api.put(
        f"{HOOKS}/{webhook['id']}", {**body(url="http://127.0.0.1/other"), "version": 1}
    )
    assert update.status_code == 400
    assert "MB_WEBHOOK_HTTPS_ONLY" in update.json()["message"]


async def test_plain_http_is_accepted_when_https_only_is_off(api: OrgApi) -> None:
    assert (await created(api, url="http://127.0.0.1/hook"))["url"] == "http://127.0.0.1/hook"
