"""The README's quick start, run as a newcomer would: its shell snippet and its SDK snippet,
copied as written, against a real `meterbell serve` whose data folder is `./var` of the
folder they run in (only the port differs from `make run`'s)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import m3ter
import pytest

from tests.e2e.server import MeterbellServer

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
MAKE_RUN_URL = "http://127.0.0.1:8400"


def snippet(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if containing in b]
    assert MAKE_RUN_URL in block
    return str(block)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, MeterbellServer]]:
    """A folder whose `var/` is the data folder of a running server (as after `make run`)."""
    folder = tmp_path_factory.mktemp("checkout")
    with MeterbellServer(folder / "var") as server:
        yield folder, server


def test_shell_snippet_lists_events(checkout: tuple[Path, MeterbellServer]) -> None:
    folder, server = checkout
    script = snippet("sh", "oauth/token").replace(MAKE_RUN_URL, server.base_url)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["data"], list), done.stdout


def updated_commitment_event(server: MeterbellServer) -> str:
    """Update a commitment in the default organization; the id of the event that made."""
    credentials = server.initial_credentials()
    with m3ter.M3ter(
        api_key=credentials.client_id,
        api_secret=credentials.client_secret,
        org_id=credentials.org_id,
        base_url=server.base_url,
    ) as client:
        account = client.accounts.create(code="acme", name="Acme", email_address="a@example.com")
        commitment = client.commitments.create(
            account_id=account.id,
            amount=100,
            currency="USD",
            start_date="2026-01-01",
            end_date="2026-12-31",
        )
        client.commitments.update(
            commitment.id,
            account_id=account.id,
            amount=200,
            currency="USD",
            start_date="2026-01-01",
            end_date="2026-12-31",
            version=1,
        )
        (event,) = client.events.list(event_name="configuration.commitment.updated")
        return event.id


def test_sdk_snippet_lists_the_updated_commitment(checkout: tuple[Path, MeterbellServer]) -> None:
    folder, server = checkout
    event_id = updated_commitment_event(server)
    code = snippet("python", "from m3ter import M3ter").replace(MAKE_RUN_URL, server.base_url)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == event_id, done.stdout
