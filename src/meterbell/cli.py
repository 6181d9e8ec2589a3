"""The `meterbell` command: serve, run workers, migrate, and manage organizations."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from meterbell.config import (
    Settings,
    display_url,
    private_dir,
    private_sqlite_files,
    write_private,
)
from meterbell.domain.clock import isoformat
from meterbell.domain.deadletters import public_dead_letter
from meterbell.domain.errors import MeterbellError
from meterbell.heap import freeze_startup_objects
from meterbell.logs import configure_logging
from meterbell.services import bootstrap, console_users, deadletters, orgs
from meterbell.store import orgs as org_store
from meterbell.store.db import Database
from meterbell.store.migrate import upgrade

app = typer.Typer(help="meterbell: events & notifications for usage-based billing.")
db_app = typer.Typer(help="The store.")
orgs_app = typer.Typer(help="Organizations (tenants).")
credentials_app = typer.Typer(help="Service credentials (client id + secret).")
secrets_app = typer.Typer(help="Secrets stored encrypted (webhook signing secrets).")
deadletters_app = typer.Typer(help="Work set aside after repeated failures (dead letters).")
users_app = typer.Typer(help="Console users (people who sign in at /console).")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(credentials_app, name="credentials")
app.add_typer(secrets_app, name="secrets")
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(users_app, name="users")

INITIAL_CREDENTIALS_FILE = "initial-credentials.json"
CLI_ACTOR = "meterbell-cli"
DEFAULT_ORG_NAME = "Default organization"
DEFAULT_CONSOLE_EMAIL = "admin@localhost"
T = TypeVar("T")


def _with_db(
    settings: Settings,
    work: Callable[[Database], Awaitable[T]],
    *,
    run_workers: bool = False,
    metrics_port: int | None = None,
) -> T:
    """Run `work` on the migrated store; what it writes wakes the workers of running
    processes. With `run_workers`, this process runs workers of its own meanwhile."""

    async def run() -> T:
        from meterbell import engine

        private_dir(settings.data_dir)
        private_sqlite_files(settings.resolved_database_url)
        db = Database(settings.resolved_database_url)
        try:
            await upgrade(db)
            if run_workers:
                async with engine.running(
                    db, settings, run_workers=True, metrics_port=metrics_port
                ):
                    return await work(db)
            result = await work(db)
            await db.wakeups.announce_once(db.url)
            return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except MeterbellError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except (OSError, SQLAlchemyError) as exc:
        where = display_url(settings.resolved_database_url)
        typer.echo(f"error: cannot use the store at {where}: {exc}", err=True)
        raise typer.Exit(1) from exc


def _print_credential(credential: orgs.NewCredential, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(credential.to_json()))
        return
    typer.echo(f"orgId:        {credential.org_id}")
    typer.echo(f"clientId:     {credential.client_id}")
    typer.echo(f"clientSecret: {credential.client_secret}")
    typer.echo("The client secret is shown only now; store it somewhere safe.")


def _print_user(user: console_users.NewUser, console_url: str) -> None:
    typer.echo(f"console:      {console_url}")
    typer.echo(f"email:        {user.email}")
    typer.echo(f"password:     {user.password}")


async def _bootstrap_default_org(db: Database, data_dir: Path, console_url: str) -> None:
    """On first start with an empty store, create an organization a user can try at once,
    with a service credential for the API and a console user; print and save them."""
    created = await bootstrap.create_default_organization(
        db, DEFAULT_ORG_NAME, DEFAULT_CONSOLE_EMAIL
    )
    if created is None:
        return
    credential, user = created
    saved = data_dir / INITIAL_CREDENTIALS_FILE
    initial = {**credential.to_json(), "consoleEmail": user.email, "consolePassword": user.password}
    write_private(saved, json.dumps(initial, indent=2) + "\n")
    typer.echo("Created the default organization, its first credential and a console user:")
    _print_credential(credential, as_json=False)
    _print_user(user, console_url)
    typer.echo(
        f"They are also saved in {saved.resolve()} (readable by you only). Later, make more "
        f"with: meterbell credentials create --org {credential.org_id}, and meterbell users "
        f"create --org {credential.org_id} --email EMAIL"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [MB_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [MB_PORT].")] = None,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve the API only (cluster mode).")
    ] = False,
) -> None:
    """Apply migrations and serve the API (with the workers, unless --no-workers)."""
    import uvicorn

    from meterbell.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    console_url = f"http://{host or settings.host}:{port or settings.port}/console"
    _with_db(settings, lambda db: _bootstrap_default_org(db, settings.data_dir, console_url))
    application = create_app(settings, run_workers=not no_workers)
    freeze_startup_objects()
    # uvicorn shuts down gracefully on SIGTERM and SIGINT, then raises the signal again with
    # the handler found at start. SIGINT's raises KeyboardInterrupt, which uvicorn.run takes
    # as a clean end (exit 0); SIGTERM's default would kill the process (exit -15, "143").
    # Give SIGTERM SIGINT's handler, so a stopped server exits 0, as `meterbell worker` does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through configure_logging's handler
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


@app.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics on this port (at MB_HOST).")
    ] = None,
) -> None:
    """Run the workers only (cluster mode: beside `serve --no-workers` processes)."""
    from meterbell.engine import until_signalled

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)

    async def until_stopped(_db: Database) -> None:
        freeze_startup_objects()
        await until_signalled()

    _with_db(settings, until_stopped, run_workers=True, metrics_port=metrics_port)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the store's schema up to date."""
    settings = Settings()

    async def done(_db: Database) -> None:
        typer.echo(f"The store is up to date: {display_url(settings.resolved_database_url)}")

    _with_db(settings, done)


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option(help="Name of the organization.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an organization and its first service credential."""
    credential = _with_db(Settings(), lambda db: orgs.create_organization(db, name))
    _print_credential(credential, as_json)


@orgs_app.command("list")
def orgs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the organizations."""
    rows = _with_db(Settings(), orgs.list_organizations)
    if as_json:
        typer.echo(json.dumps([{"orgId": r.id, "name": r.name} for r in rows]))
        return
    for row in rows:
        typer.echo(f"{row.id}  {row.name}")


@credentials_app.command("create")
def credentials_create(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create another service credential for an organization."""
    credential = _with_db(Settings(), lambda db: orgs.create_credential(db, org))
    _print_credential(credential, as_json)


def _credential_json(credential: org_store.CredentialInfo) -> dict[str, str | None]:
    revoked = credential.dt_revoked
    return {
        "clientId": credential.client_id,
        "dtCreated": isoformat(credential.dt_created),
        "dtRevoked": isoformat(revoked) if revoked else None,
    }


@credentials_app.command("list")
def credentials_list(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List an organization's credentials: client id, when created, when revoked (no secret)."""
    listed = [
        _credential_json(c) for c in _with_db(Settings(), lambda db: orgs.list_credentials(db, org))
    ]
    if as_json:
        typer.echo(json.dumps(listed))
        return
    for row in listed:
        state = f"revoked {row['dtRevoked']}" if row["dtRevoked"] else "active"
        typer.echo(f"{row['clientId']}  created {row['dtCreated']}  {state}")


@credentials_app.command("revoke")
def credentials_revoke(client_id: Annotated[str, typer.Argument(help="Client id.")]) -> None:
    """Revoke a credential: it gets no new tokens, and its tokens stop working within seconds."""
    revoked = _with_db(Settings(), lambda db: orgs.revoke_credential(db, client_id))
    typer.echo(
        f"Credential {client_id} revoked at {isoformat(revoked)}: it gets no new tokens, and "
        "every meterbell process refuses its tokens within a few seconds."
    )


@secrets_app.command("reencrypt")
def secrets_reencrypt() -> None:
    """Re-encrypt every stored secret with MB_SECRET_KEY (after a rotation; safe to repeat)."""
    from meterbell.domain.secrets_box import SecretBox
    from meterbell.services.secrets import reencrypt_secrets

    settings = Settings()
    box = SecretBox(settings.resolved_secret_key, settings.old_secret_key_list)
    outcome = _with_db(settings, lambda db: reencrypt_secrets(db, box))
    typer.echo(
        f"Re-encrypted {outcome.resealed} stored secrets with the current MB_SECRET_KEY; "
        f"{outcome.already_current} already were."
    )
    if outcome.unreadable:
        typer.echo(
            f"error: {len(outcome.unreadable)} stored secrets cannot be decrypted with "
            "MB_SECRET_KEY or MB_OLD_SECRET_KEYS (add the key they were sealed with to "
            "MB_OLD_SECRET_KEYS and run this again): " + ", ".join(outcome.unreadable),
            err=True,
        )
        raise typer.Exit(1)


@deadletters_app.command("list")
def deadletters_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the dead letters not yet replayed, of every organization and of none (retention)."""
    letters = _with_db(Settings(), deadletters.unreplayed)
    if as_json:
        typer.echo(json.dumps([{"orgId": d.org_id, **public_dead_letter(d)} for d in letters]))
        return
    for letter in letters:
        reason = letter.error.splitlines()[0]
        owner = letter.org_id or "(no organization)"
        typer.echo(f"{letter.id}  {owner}  {letter.worker}  {letter.item_id}  {reason}")


@deadletters_app.command("replay")
def deadletters_replay(letter_id: Annotated[str, typer.Argument(help="Dead letter id.")]) -> None:
    """Put a dead letter's item back for its worker (once)."""
    _with_db(Settings(), lambda db: deadletters.replay(db, None, letter_id, CLI_ACTOR))
    typer.echo(f"Dead letter {letter_id} replayed: its item is back with its worker.")


def _password_from_stdin() -> str:
    """The first line of standard input, without its line break."""
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("create")
def users_create(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    email: Annotated[str, typer.Option("--email", help="E-mail address (the sign-in name).")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
) -> None:
    """Create a console user of an organization; without --password-stdin, a password is
    generated and printed once."""
    password = _password_from_stdin() if password_stdin else None
    user = _with_db(Settings(), lambda db: console_users.create_user(db, org, email, password))
    typer.echo(f"Created console user {user.email} in organization {user.org_id}.")
    if password is None:
        typer.echo(f"password:     {user.password}")
        typer.echo("The password is shown only now; store it somewhere safe.")


@users_app.command("grant")
def users_grant(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    email: Annotated[str, typer.Option("--email", help="E-mail address of the user.")],
) -> None:
    """Let an existing console user see another organization too."""
    _with_db(Settings(), lambda db: console_users.grant_organization(db, org, email))
    typer.echo(f"{email.strip().lower()} can now see organization {org} in the console.")


@users_app.command("list")
def users_list(
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the console users of an organization."""
    rows = _with_db(Settings(), lambda db: console_users.list_users(db, org))
    listed = [{"id": r.id, "email": r.email, "dtCreated": isoformat(r.dt_created)} for r in rows]
    if as_json:
        typer.echo(json.dumps(listed))
        return
    for row in listed:
        typer.echo(f"{row['email']}  created {row['dtCreated']}")
