"""`secrets reencrypt` walks the whole store in batches, on a store of its own (it changes the
key every stored secret is sealed with)."""

from __future__ import annotations

from meterbell.domain.documents import DocumentKind
from meterbell.domain.integrations import SEALED_SECRET, SEALED_URL
from meterbell.domain.secrets_box import SecretBox
from meterbell.services import integrations, notifications, orgs, webhooks
from meterbell.services.secrets import reencrypt_secrets
from meterbell.services.slack import Sealing
from meterbell.store import documents as document_store
from meterbell.store.db import Database

KEY_A, KEY_B = "reencrypt-key-a", "reencrypt-key-b"
WEBHOOKS = 5


async def stored_secrets(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await document_store.documents_after(conn, DocumentKind.WEBHOOK, 0, 1000)
    return [document["credentials"][SEALED_SECRET] for _seq, _org, document in rows]


async def test_every_secret_of_every_org_is_resealed_once(own_db: Database) -> None:
    for n in range(WEBHOOKS):
        org = await orgs.create_organization(own_db, f"Org {n}")
        body = {
            "name": "hook",
            "url": "https://example.com/hook",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": f"s{n}"},
        }
        await webhooks.create_webhook(
            own_db, SecretBox(KEY_A), org.org_id, body, "test", allow_private=True
        )
    rotated = SecretBox(KEY_B, [KEY_A])
    first = await reencrypt_secrets(own_db, rotated, batch_size=2)
    assert (first.resealed, first.already_current, first.unreadable) == (WEBHOOKS, 0, [])
    again = await reencrypt_secrets(own_db, rotated, batch_size=2)
    assert (again.resealed, again.already_current) == (0, WEBHOOKS)
    only_b = SecretBox(KEY_B)
    assert sorted(only_b.open(s) for s in await stored_secrets(own_db)) == [
        f"s{n}" for n in range(WEBHOOKS)
    ]


async def stored_slack_urls(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await document_store.documents_after(conn, DocumentKind.INTEGRATION, 0, 1000)
    return [document["credentials"][SEALED_URL] for _seq, _org, document in rows]


async def test_slack_urls_are_resealed_and_unreadable_ones_named(own_db: Database) -> None:
    org = await orgs.create_organization(own_db, "Slack org")
    rule = await notifications.create_rule(
        own_db,
        org.org_id,
        {
            "name": "r",
            "code": "r",
            "eventName": "configuration.plan.created",
            "alwaysFireEvent": True,
        },
        "test",
    )
    configs = []
    for key in (KEY_A, "a-key-since-lost"):
        body = {
            "entityType": "Notification",
            "entityId": rule["id"],
            "destination": "Slack",
            "credentials": {"type": "SLACK_WEBHOOK", "url": f"https://example.com/hook/{key}"},
        }
        sealing = Sealing(SecretBox(key), allow_private=True, https_only=False)
        configs.append(await integrations.create_config(own_db, org.org_id, body, "t", sealing))
    outcome = await reencrypt_secrets(own_db, SecretBox(KEY_B, [KEY_A]))
    assert outcome.resealed == 1
    assert outcome.unreadable == [f"integration {org.org_id}/{configs[1]['id']}"]
    sealed_a, _lost = await stored_slack_urls(own_db)
    assert SecretBox(KEY_B).open(sealed_a) == f"https://example.com/hook/{KEY_A}"
