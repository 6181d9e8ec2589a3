"""Rotating MB_SECRET_KEY: webhook secrets sealed with the old key are still read while it is
listed in MB_OLD_SECRET_KEYS, and `meterbell secrets reencrypt` lets it be dropped."""

from __future__ import annotations

import asyncio

import pytest

from meterbell.webhooks import verify
from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

KEY_A = "the-first-secret-key-of-this-test"
KEY_B = "the-second-secret-key-of-this-test"
PATH = "/rotation"
WEBHOOK_API_KEY, WEBHOOK_SECRET = "k", "s"  # what wire_every_update configures


async def spend_and_check_signature(
    server: MeterbellServer, receiver: Receiver, spent: int
) -> None:
    """Start the server, update the commitment, and check the webhook it sends is signed
    with the webhook's secret; then stop the server."""
    await asyncio.to_thread(server.start)
    try:
        async with await authorised(server) as api:
            commitment = (await api.get("commitments")).json()["data"][0]
            await spend(api, commitment, spent)
            try:
                arrived = (await receiver.wait_for(PATH, spent, timeout_s=20))[-1]
            except TimeoutError:
                raise AssertionError(f"no webhook; server output:\n{server.log_tail()}") from None
        assert verify(
            url=receiver.url(PATH),
            headers=arrived.headers,
            body=arrived.body,
            api_key=WEBHOOK_API_KEY,
            secret=WEBHOOK_SECRET,
        )
    finally:
        server.stop()


async def test_rotate_the_secret_key_then_reencrypt_and_drop_the_old_one(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    receiver = Receiver()
    await receiver.start()
    allow_private = {"MB_WEBHOOK_ALLOW_PRIVATE": "true"}
    server = MeterbellServer(
        tmp_path_factory.mktemp("rotation") / "data",
        database_url=database_url,
        secret_key=KEY_A,
        extra_env=allow_private,
    )
    try:
        await asyncio.to_thread(server.start)  # the webhook secret is sealed with key A
        try:
            async with await authorised(server) as api:
                await wire_every_update(api, receiver.url(PATH))
                await new_commitment(api)
        finally:
            server.stop()

        server.secret_key = KEY_B
        server.extra_env = {**allow_private, "MB_OLD_SECRET_KEYS": f"unrelated-key, {KEY_A}"}
        await spend_and_check_signature(server, receiver, 1)

        first = server.cli_ok("secrets", "reencrypt")
        assert first.startswith("Re-encrypted 1 stored secrets"), first
        again = server.cli_ok("secrets", "reencrypt")
        assert "Re-encrypted 0 stored secrets" in again
        assert "1 already were" in again

        server.extra_env = allow_private  # key A is gone
        await spend_and_check_signature(server, receiver, 2)

        # A store sealed with a key nobody lists any more is reported, not silently skipped.
        server.secret_key = "a-third-key-that-never-sealed-anything"
        unreadable = server.cli("secrets", "reencrypt")
        assert unreadable.returncode == 1
        assert "1 stored secrets cannot be decrypted" in unreadable.stderr
    finally:
        await receiver.stop()
