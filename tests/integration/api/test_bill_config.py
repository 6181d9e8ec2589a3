"""Bill integration configurations (HttpJson, Stripe): inline credentials of each type, sealed
at rest and shown masked, kept on update when left out; bad input refused saying what to fix;
`secrets reencrypt` reseals them; another organization's are 404."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from meterbell.domain.documents import DocumentKind
from meterbell.domain.secrets_box import SecretBox
from meterbell.services.secrets import reencrypt_secrets
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi

CONFIGS = "integrationconfigs"
URL = "http://127.0.0.1:9/invoices"
OLD_KEY = "an-old-key-that-was-rotated-away-0123456789"
SECRETS = ("key-0123456789abcdef", "pa55word-value", "client-secret-value")


def bill_body(**changes: Any) -> dict[str, Any]:
    body = {
        "entityType": "Bill",
        "destination": "HttpJson",
        "configData": {"url": URL},
        "credentials": {"type": "STATIC_API_KEY", "apiKey": SECRETS[0]},
    }
    return {**body, **changes}


async def created(api: OrgApi, **changes: Any) -> dict[str, Any]:
    response = await api.post(CONFIGS, bill_body(**changes))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def new_account(api: OrgApi) -> dict[str, Any]:
    code = f"acct_{uuid.uuid4().hex[:8]}"
    response = await api.post("accounts", {"code": code, "name": code, "emailAddress": "a@b.c"})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("credentials", "shown"),
    [
        (
            {"type": "STATIC_API_KEY", "apiKey": SECRETS[0]},
            {"type": "STATIC_API_KEY", "apiKey": "********"},
        ),
        (
            {"type": "HTTP_BASIC", "username": "ar-user", "password": SECRETS[1]},
            {"type": "HTTP_BASIC", "username": "ar-user", "password": "********"},
        ),
        (
            {
                "type": "OAUTH_CLIENT_CREDENTIALS",
                "clientId": "cid",
                "clientSecret": SECRETS[2],
                "tokenUrl": "http://127.0.0.1:9/token",
            },
            {
                "type": "OAUTH_CLIENT_CREDENTIALS",
                "clientId": "cid",
                "clientSecret": "********",
                "tokenUrl": "http://127.0.0.1:9/token",
            },
        ),
    ],
)
async def test_credentials_are_sealed_and_shown_masked(
    api: OrgApi, db: Database, credentials: dict[str, Any], shown: dict[str, Any]
) -> None:
    config = await created(api, credentials=credentials)
    assert config["credentials"] == shown
    assert (config["entityType"], config["destination"], config["entityId"]) == (
        "Bill",
        "HttpJson",
        "",
    )
    fetched = await api.get(f"{CONFIGS}/{config['id']}")
    listed = await api.get(CONFIGS, params={"ids": config["id"]})
    for text in (fetched.text, listed.text):
        assert not any(secret in text for secret in SECRETS)
        assert "sealed" not in text
    async with db.read() as conn:
        stored = await document_store.get_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, config["id"]
        )
    assert stored is not None
    assert not any(secret in str(stored) for secret in SECRETS)
    opened = SecretBox(TEST_SECRET_KEY).open(stored["credentials"]["sealedCredentials"])
    assert all(str(value) in opened for value in credentials.values())


async def test_an_update_without_credentials_keeps_them(api: OrgApi, db: Database) -> None:
    config = await created(api)
    account = await new_account(api)
    body = bill_body(entityId=account["id"], version=config["version"])
    del body["credentials"]
    response = await api.put(f"{CONFIGS}/{config['id']}", body)
    assert response.status_code == 200, response.text
    assert response.json()["entityId"] == account["id"]
    assert response.json()["credentials"] == {"type": "STATIC_API_KEY", "apiKey": "********"}
    async with db.read() as conn:
        stored = await document_store.get_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, config["id"]
        )
    assert stored is not None
    assert SECRETS[0] in SecretBox(TEST_SECRET_KEY).open(stored["credentials"]["sealedCredentials"])


async def test_stripe_is_a_bill_destination(api: OrgApi) -> None:
    config = await created(api, destination="stripe", configData={})
    assert config["destination"] == "Stripe"
    assert config["credentials"] == {"type": "STATIC_API_KEY", "apiKey": "********"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"destination": "Xero"}, "'destination' Xero is not supported for Bill integrations"),
        ({"credentials": None}, "'credentials' is required for destination HttpJson"),
        ({"credentials": "k"}, "'credentials' must be an object"),
        ({"credentials": {"apiKey": "k"}}, "'credentials.type' is required"),
        (
            {"credentials": {"type": "SLACK_WEBHOOK", "url": URL}},
            "'credentials.type' must be one of STATIC_API_KEY, HTTP_BASIC",
        ),
        (
            {"destination": "Stripe", "credentials": {"type": "HTTP_BASIC"}},
            "'credentials.type' must be one of STATIC_API_KEY for destination Stripe",
        ),
        ({"credentials": {"type": "STATIC_API_KEY"}}, "'credentials.apiKey'"),
        (
            {"credentials": {"type": "HTTP_BASIC", "username": "u", "password": "********"}},
            "'credentials.password' is masked",
        ),
        (
            {"credentials": {"type": "OAUTH_CLIENT_CREDENTIALS", "clientId": "c"}},
            "'credentials.clientSecret'",
        ),
        (
            {
                "credentials": {
                    "type": "OAUTH_CLIENT_CREDENTIALS",
                    "clientId": "c",
                    "clientSecret": "s",
                    "tokenUrl": "ftp://example.com/token",
                }
            },
            "'credentials.tokenUrl'",
        ),
        ({"configData": {}}, "'configData.url' is required for destination HttpJson"),
        ({"configData": {"url": "not a url"}}, "'configData.url'"),
        (
            {"configData": {"url": URL, "apiKeyHeader": "Bad Header:"}},
            "'configData.apiKeyHeader' must be an HTTP header name",
        ),
        ({"entityId": "no-such-account"}, "'entityId' must be the id of an account"),
        ({"destinationId": str(uuid.uuid4())}, "'destinationId' is not used with destination"),
        ({"integrationCredentialsId": "c-1"}, "'integrationCredentialsId' is not supported"),
    ],
)
async def test_bad_input_is_refused_saying_what_to_fix(
    api: OrgApi, changes: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in bill_body(**changes).items() if v is not None}
    response = await api.post(CONFIGS, body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


async def test_another_organizations_configuration_is_404(api: OrgApi, other_api: OrgApi) -> None:
    config = await created(api)
    assert (await other_api.get(f"{CONFIGS}/{config['id']}")).status_code == 404
    body = bill_body(version=config["version"])
    assert (await other_api.put(f"{CONFIGS}/{config['id']}", body)).status_code == 404
    account = await new_account(api)
    foreign = await other_api.post(CONFIGS, bill_body(entityId=account["id"]))
    assert foreign.status_code == 400


async def test_reencrypt_reseals_bill_credentials(api: OrgApi, db: Database) -> None:
    config = await created(api)
    async with db.write() as conn:
        stored = await document_store.get_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, config["id"]
        )
        assert stored is not None
        old_box = SecretBox(OLD_KEY)
        stored["credentials"]["sealedCredentials"] = old_box.seal('{"apiKey": "rotated"}')
        await document_store.replace_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, stored, int(stored["version"])
        )
    box = SecretBox(TEST_SECRET_KEY, [OLD_KEY])
    outcome = await reencrypt_secrets(db, box)
    assert outcome.resealed >= 1
    async with db.read() as conn:
        resealed = await document_store.get_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, config["id"]
        )
    assert resealed is not None
    sealed = resealed["credentials"]["sealedCredentials"]
    assert box.is_current(sealed)
    assert SecretBox(TEST_SECRET_KEY).open(sealed) == '{"apiKey": "rotated"}'
