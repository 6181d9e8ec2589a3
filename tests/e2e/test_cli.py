"""The `meterbell` command as a user runs it, as real processes.

The organization and credential commands run against one SQLite server per module (their
code does not depend on the store); the first start, `db upgrade` and the restart run on
each store.
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import STORES, fresh_database_url
from tests.e2e.server import (
    Credentials,
    MeterbellServer,
    describe,
    eventually,
    graceful_exit,
    meterbell_env,
    run_cli,
    run_cli_ok,
)

pytestmark = pytest.mark.slow
REVOKED_WITHIN_S = 5.0
INITIAL_CREDENTIALS = "initial-credentials.json"


@pytest.fixture(params=STORES)
async def empty_database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """A store nobody has touched yet (SQLite: the test's own, still missing, data folder)."""
    async with fresh_database_url(request.param) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeterbellServer]:
    with MeterbellServer(tmp_path_factory.mktemp("e2e-cli") / "data") as running:
        yield running


def created_credentials(stdout: str) -> Credentials:
    """`--json` output: exactly one line holding exactly one object with exactly three keys."""
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line, got:\n{stdout}"
    data = json.loads(lines[0])
    assert isinstance(data, dict), stdout
    assert list(data) == ["orgId", "clientId", "clientSecret"], stdout
    return Credentials.from_json(data)


def bearer(server: MeterbellServer, credentials: Credentials) -> dict[str, str]:
    response = server.token(credentials)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_orgs_create_json_gives_a_working_credential(server: MeterbellServer) -> None:
    name = "Acme e2e"
    credentials = created_credentials(server.cli_ok("orgs", "create", "--name", name, "--json"))
    default_org = server.initial_credentials().org_id
    assert credentials.org_id != default_org

    headers = bearer(server, credentials)
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0) as http:
        own = http.get(f"/organizations/{credentials.org_id}/events")
        assert own.status_code == 200, own.text
        assert "configuration.organization.created" in {e["eventName"] for e in own.json()["data"]}
        other = http.get(f"/organizations/{default_org}/events")
        assert other.status_code == 403, other.text

    # A wrong secret for the same client id gets no token.
    wrong = Credentials(credentials.org_id, credentials.client_id, credentials.client_secret + "x")
    assert server.token(wrong).status_code == 401

    # `orgs list` shows it next to the default organization, one "<id>  <name>" line each.
    listed = server.cli_ok("orgs", "list").splitlines()
    assert f"{credentials.org_id}  {name}" in listed
    assert f"{default_org}  Default organization" in listed


def test_credentials_create(server: MeterbellServer) -> None:
    org = server.initial_credentials()
    another = created_credentials(
        server.cli_ok("credentials", "create", "--org", org.org_id, "--json")
    )
    assert another.org_id == org.org_id
    assert another.client_id != org.client_id
    assert another.client_secret != org.client_secret
    # Both credentials of the organization work.
    for credentials in (org, another):
        headers = bearer(server, credentials)
        response = httpx.get(
            server.url(f"/organizations/{org.org_id}/events/types"), headers=headers
        )
        assert response.status_code == 200, response.text


def test_credentials_create_for_unknown_org_fails_clearly(server: MeterbellServer) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    result = server.cli("credentials", "create", "--org", unknown, "--json")
    assert result.returncode == 1, describe(result)
    assert result.stdout == "", describe(result)
    assert result.stderr.strip() == f"error: No organization with id {unknown}", describe(result)


def refused_within(server: MeterbellServer, path: str, headers: dict[str, str]) -> str:
    """Poll `path` until the server answers 401 (within 5 s); its message."""

    def refused() -> str | None:
        response = httpx.get(server.url(path), headers=headers, timeout=10.0)
        return str(response.json()["message"]) if response.status_code == 401 else None

    return eventually(refused, deadline_s=REVOKED_WITHIN_S)


def test_credentials_list_and_revoke(server: MeterbellServer) -> None:
    org = server.initial_credentials()
    doomed = created_credentials(
        server.cli_ok("credentials", "create", "--org", org.org_id, "--json")
    )
    listed = json.loads(server.cli_ok("credentials", "list", "--org", org.org_id, "--json"))
    mine = {row["clientId"]: row for row in listed}
    assert set(mine[doomed.client_id]) == {"clientId", "dtCreated", "dtRevoked"}
    assert mine[doomed.client_id]["dtRevoked"] is None
    assert org.client_id in mine
    text = server.cli_ok("credentials", "list", "--org", org.org_id)
    assert doomed.client_secret not in text
    assert f"{doomed.client_id}  created {mine[doomed.client_id]['dtCreated']}  active" in text

    headers = bearer(server, doomed)
    events = f"/organizations/{org.org_id}/events/types"
    assert httpx.get(server.url(events), headers=headers).status_code == 200
    revoked = server.cli_ok("credentials", "revoke", doomed.client_id)
    assert revoked.startswith(f"Credential {doomed.client_id} revoked at "), revoked
    assert "revoked" in refused_within(server, events, headers)
    refused = server.token(doomed)
    assert refused.status_code == 401
    assert "was revoked at" in refused.json()["message"]
    # The organization's first credential still works.
    assert httpx.get(server.url(events), headers=bearer(server, org)).status_code == 200

    after = json.loads(server.cli_ok("credentials", "list", "--org", org.org_id, "--json"))
    dt_revoked = {row["clientId"]: row["dtRevoked"] for row in after}
    assert str(dt_revoked[doomed.client_id]).endswith("Z")
    assert dt_revoked[org.client_id] is None

    unknown = server.cli("credentials", "revoke", "no-such-client")
    assert unknown.returncode == 1, describe(unknown)
    assert unknown.stderr.strip() == "error: No credential with client id no-such-client"


def test_upgrade_first_start_and_restart(empty_database_url: str | None, tmp_path: Path) -> None:
    """`db upgrade` twice on an empty store (idempotent); then the first start creates one
    default organization, prints its credential once and saves it 0600; a second start
    creates nothing."""
    data_dir = tmp_path / "data"
    assert not data_dir.exists()
    env = meterbell_env(data_dir, database_url=empty_database_url)
    first_upgrade = run_cli_ok("db", "upgrade", env=env)
    assert first_upgrade.startswith("The store is up to date")
    assert run_cli_ok("db", "upgrade", env=env) == first_upgrade

    server = MeterbellServer(data_dir, database_url=empty_database_url, name="first")
    with server:
        credentials = server.initial_credentials()
        first_output = server.output()
        assert server.token(credentials).status_code == 200
    assert graceful_exit(server.stop()), server.log_tail()

    # Printed once, to the terminal, with where to find it again.
    for line in (
        f"orgId:        {credentials.org_id}",
        f"clientId:     {credentials.client_id}",
        f"clientSecret: {credentials.client_secret}",
    ):
        assert first_output.count(line) == 1, first_output
    assert str(server.initial_credentials_path.resolve()) in first_output

    email, password = server.initial_console_user()
    for line in (f"email:        {email}", f"password:     {password}"):
        assert first_output.count(line) == 1, first_output
    assert f"console:      http://127.0.0.1:{server.port}/console" in first_output

    saved = server.initial_credentials_path
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    saved_text = saved.read_text()
    assert list(json.loads(saved_text)) == [
        "orgId",
        "clientId",
        "clientSecret",
        "consoleEmail",
        "consolePassword",
    ]

    # A second start on the same store creates nothing and prints no secret.
    with server:
        assert server.token(credentials).status_code == 200
        second_output = server.output()
    assert graceful_exit(server.stop()), server.log_tail()
    assert "clientSecret" not in second_output, second_output
    assert credentials.client_secret not in second_output
    assert password not in second_output
    assert saved.read_text() == saved_text
    assert json.loads(run_cli_ok("orgs", "list", "--json", env=env)) == [
        {"orgId": credentials.org_id, "name": "Default organization"}
    ]


def test_data_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """SQLite (with its -wal and -shm files while the server runs), the generated secret key
    and the first-start credentials are 0600; the data folder is 0700."""
    data_dir = tmp_path / "data"
    with MeterbellServer(data_dir, secret_key="") as server:
        assert server.token(server.initial_credentials()).status_code == 200
        files = ["meterbell.db", "meterbell.db-wal", "meterbell.db-shm", "secret.key"]
        modes = {name: stat.S_IMODE((data_dir / name).stat().st_mode) for name in files}
        modes[INITIAL_CREDENTIALS] = stat.S_IMODE(server.initial_credentials_path.stat().st_mode)
        assert modes == dict.fromkeys([*files, INITIAL_CREDENTIALS], 0o600)
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_deadletters_list_and_replay_reach_work_of_no_organization(tmp_path: Path) -> None:
    """Retention's purges belong to no organization: the CLI lists and replays their dead
    letters (a replayed one is listed no more, and cannot be replayed again)."""
    data_dir = tmp_path / "data"
    env = meterbell_env(data_dir)
    run_cli_ok("db", "upgrade", env=env)
    with sqlite3.connect(data_dir / "meterbell.db") as conn:
        conn.execute(
            "INSERT INTO dead_letters (id, worker, item_id, error, attempts, dt_created, "
            "dt_last_failed, dt_set_aside) VALUES ('letter-1', 'retention', 'runs', "
            "'OperationalError: disk I/O error', 3, '2026-12-05 12:00:00.000000', "
            "'2026-12-05 12:00:00.000000', '2026-12-05 12:00:00.000000')"
        )
    (listed,) = json.loads(run_cli_ok("deadletters", "list", "--json", env=env))
    assert (listed["id"], listed["orgId"], listed["itemId"]) == ("letter-1", None, "runs")

    replayed = run_cli_ok("deadletters", "replay", "letter-1", env=env)
    assert "replayed" in replayed
    assert json.loads(run_cli_ok("deadletters", "list", "--json", env=env)) == []
    again = run_cli("deadletters", "replay", "letter-1", env=env)
    assert again.returncode == 1
    assert "already replayed" in again.stderr


def console_sign_in(server: MeterbellServer, email: str, password: str) -> int:
    """Sign in to the console over HTTP as a browser does; the answer's status (303: in)."""
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        form = http.get("/console/sign-in")
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
        assert match, form.text
        answer = http.post(
            "/console/sign-in",
            data={"csrf_token": match.group(1), "email": email, "password": password},
        )
        if answer.status_code == 303:
            assert "mb_session" in answer.cookies
        return answer.status_code


def test_users_create_list_and_grant(server: MeterbellServer) -> None:
    org = server.initial_credentials().org_id
    generated = server.cli_ok("users", "create", "--org", org, "--email", "Gen@Example.com")
    assert generated.startswith(f"Created console user gen@example.com in organization {org}.")
    password = re.search(r"^password: +(\S+)$", generated, re.MULTILINE)
    assert password, generated
    assert "shown only now" in generated
    assert console_sign_in(server, "gen@example.com", password.group(1)) == 303
    assert console_sign_in(server, "gen@example.com", password.group(1) + "x") == 401

    chosen = "a password chosen by me"
    quiet = server.cli_ok(
        "users",
        "create",
        "--org",
        org,
        "--email",
        "chosen@example.com",
        "--password-stdin",
        stdin=chosen + "\n",
    )
    assert quiet.strip() == f"Created console user chosen@example.com in organization {org}."
    assert console_sign_in(server, "chosen@example.com", chosen) == 303

    listed = json.loads(server.cli_ok("users", "list", "--org", org, "--json"))
    emails = [row["email"] for row in listed]
    assert {"gen@example.com", "chosen@example.com"} <= set(emails)
    assert set(listed[0]) == {"id", "email", "dtCreated"}

    again = server.cli("users", "create", "--org", org, "--email", "gen@example.com")
    assert again.returncode == 1, describe(again)
    assert f"users grant --org {org} --email gen@example.com" in again.stderr

    other = created_credentials(server.cli_ok("orgs", "create", "--name", "Grant", "--json"))
    granted = server.cli_ok("users", "grant", "--org", other.org_id, "--email", "gen@example.com")
    assert (
        granted.strip()
        == f"gen@example.com can now see organization {other.org_id} in the console."
    )
    other_users = json.loads(server.cli_ok("users", "list", "--org", other.org_id, "--json"))
    assert [row["email"] for row in other_users] == ["gen@example.com"]

    short = server.cli(
        "users",
        "create",
        "--org",
        org,
        "--email",
        "s@example.com",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1, describe(short)
    assert "12 to 1024 characters" in short.stderr
