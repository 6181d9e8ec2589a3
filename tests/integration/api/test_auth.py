"""`POST /oauth/token` and bearer tokens: who may call what."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.domain.tokens import TokenClaims, TokenSigner
from meterbell.services import orgs
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, StoreInfo
from tests.integration.webhooks.test_delivery import poll

REVOKED_WITHIN_S = 5.0


async def test_token_with_json_body(api: OrgApi) -> None:
    response = await api.client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(api.client_id, api.client_secret),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 18000
    assert "scope" in body
    assert (
        await api.client.get(
            api.url("events"), headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    ).status_code == 200


async def test_token_with_form_body(api: OrgApi) -> None:
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(api.client_id, api.client_secret),
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_token_with_client_credentials_in_the_form(api: OrgApi) -> None:
    response = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": api.client_id,
            "client_secret": api.client_secret,
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("auth", "body", "status", "message"),
    [
        (("id", "secret"), {"grant_type": "client_credentials"}, 401, "Unknown client id"),
        (None, {"grant_type": "client_credentials"}, 401, "HTTP Basic"),
        ("right-id-wrong-secret", {"grant_type": "client_credentials"}, 401, "wrong client secret"),
        ("right", {"grant_type": "password"}, 400, "grant_type must be 'client_credentials'"),
        ("right", {}, 400, "grant_type must be 'client_credentials'"),
    ],
)
async def test_token_refusals(
    api: OrgApi, auth: object, body: dict[str, str], status: int, message: str
) -> None:
    if auth == "right":
        auth = (api.client_id, api.client_secret)
    elif auth == "right-id-wrong-secret":
        auth = (api.client_id, api.client_secret + "x")
    response = await api.client.post("/oauth/token", json=body, auth=auth)  # type: ignore[arg-type]
    assert response.status_code == status
    assert message in response.json()["message"]


async def test_token_with_malformed_json(api: OrgApi) -> None:
    response = await api.client.post(
        "/oauth/token",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
        auth=(api.client_id, api.client_secret),
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-token", "Basic abc", "Bearer eyJhbGciOiJub25lIn0.e30."],
)
async def test_missing_or_invalid_token_is_401(api: OrgApi, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.client.get(api.url("commitments"), headers=headers)
    assert response.status_code == 401
    assert response.json()["message"]


async def test_expired_token_is_401(api: OrgApi) -> None:
    expired = TokenSigner(TEST_SECRET_KEY).issue(
        TokenClaims(api.client_id, api.org_id),
        now=utcnow() - timedelta(hours=6),
        ttl=timedelta(hours=5),
    )
    response = await api.client.get(
        api.url("commitments"), headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


async def test_token_signed_with_another_key_is_401(api: OrgApi) -> None:
    forged = TokenSigner("some-other-key").issue(
        TokenClaims(api.client_id, api.org_id), now=utcnow(), ttl=timedelta(hours=1)
    )
    response = await api.client.get(
        api.url("commitments"), headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_token_of_another_org_is_403(api: OrgApi, other_api: OrgApi) -> None:
    response = await api.client.get(other_api.url("commitments"), headers=api.headers)
    assert response.status_code == 403
    assert other_api.org_id in response.json()["message"]


async def test_health_ready_and_docs_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ready"}
    spec = (await client.get("/openapi.json")).json()
    assert "/organizations/{orgId}/commitments/{id}" in spec["paths"]
    assert "/oauth/token" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_a_revoked_credential_gets_no_token(api: OrgApi, db: Database) -> None:
    await orgs.revoke_credential(db, api.client_id)
    response = await api.client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(api.client_id, api.client_secret),
    )
    assert response.status_code == 401
    assert f"The credential {api.client_id} was revoked at" in response.json()["message"]


async def test_tokens_of_a_credential_revoked_elsewhere_stop_working_within_seconds(
    api: OrgApi, db: Database, store_info: StoreInfo
) -> None:
    """Revoked through another Database object (as another process would): the app, which
    accepted the token before, refuses it within 5 s; the org's other credential still works."""
    another = await orgs.create_credential(db, api.org_id)
    another_token = await api.client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        auth=(another.client_id, another.client_secret),
    )
    assert (await api.get("commitments")).status_code == 200
    elsewhere = Database(store_info.url)
    try:
        await orgs.revoke_credential(elsewhere, api.client_id)
    finally:
        await elsewhere.dispose()
    revoked_at = time.monotonic()

    async def refused() -> httpx.Response | None:
        response = await api.get("commitments")
        return response if response.status_code == 401 else None

    response = await poll(refused, timeout_s=REVOKED_WITHIN_S)
    assert time.monotonic() - revoked_at < REVOKED_WITHIN_S
    assert "revoked" in response.json()["message"]
    still = await api.client.get(
        api.url("commitments"),
        headers={"Authorization": f"Bearer {another_token.json()['access_token']}"},
    )
    assert still.status_code == 200, still.text


async def test_credentials_are_listed_without_secrets(api: OrgApi, db: Database) -> None:
    another = await orgs.create_credential(db, api.org_id)
    revoked_at = await orgs.revoke_credential(db, another.client_id)
    assert await orgs.revoke_credential(db, another.client_id) == revoked_at  # idempotent
    listed = await orgs.list_credentials(db, api.org_id)
    assert [(c.client_id, c.dt_revoked) for c in listed] == [
        (api.client_id, None),
        (another.client_id, revoked_at),
    ]


async def test_failed_token_requests_are_limited_per_client_id_and_per_address(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    limited = Settings(
        data_dir=tmp_path_factory.mktemp("limited"),
        secret_key=TEST_SECRET_KEY,
        token_failure_limit=3,
    )
    app = create_app(limited, db=db, run_workers=False)
    target = await orgs.create_organization(db, "Target")
    bystander = await orgs.create_organization(db, "Bystander")

    async def token(address: str, client_id: str, secret: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mb.test") as http:
            return await http.post(
                "/oauth/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )

    for _ in range(3):
        assert (await token("10.0.0.1", target.client_id, "wrong")).status_code == 401
    # The right secret, after 3 failures: refused without looking, from anywhere.
    for address in ("10.0.0.1", "10.0.0.2"):
        refused = await token(address, target.client_id, target.client_secret)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "Too many failed token requests" in refused.json()["message"]
    # Another client id from the second address is not limited, and successes never are.
    for _ in range(10):
        ok = await token("10.0.0.2", bystander.client_id, bystander.client_secret)
        assert ok.status_code == 200, ok.text
    # Failures for several client ids from one address limit that address.
    for client_id in ("a", "b", "c"):
        assert (await token("10.0.0.3", client_id, "wrong")).status_code == 401
    from_there = await token("10.0.0.3", bystander.client_id, bystander.client_secret)
    assert from_there.status_code == 429
