"""The `meterbell` command: serve, run workers, migrate, and manage organizations."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from meterbell.config import Settings, display_url, write_private
from meterbell.domain.errors import MeterbellError
from meterbell.heap import freeze_startup_objects
from meterbell.logs import configure_logging
from meterbell.services import orgs
from meterbell.store.db import Database
from meterbell.store.migrate import upgrade

app = typer.Typer(help="meterbell: events & notifications for usage-based billing.")
db_app = typer.Typer(help="The store.")
orgs_app = typer.Typer(help="Organizations (tenants).")
credentials_app = typer.Typer(help="Service credentials (client id + secret).")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(credentials_app, name="credentials")

INITIAL_CREDENTIALS_FILE = "initial-credentials.json"
DEFAULT_ORG_NAME = "Default organization"
T = TypeVar("T")


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        try:
            await upgrade(db)
            return await work(db)
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


async def _bootstrap_default_org(db: Database, data_dir: Path) -> None:
    """On first start with an empty store, create an organization a user can try at once."""
    if await orgs.has_organizations(db):
        return
    credential = await orgs.create_organization(db, DEFAULT_ORG_NAME)
    saved = data_dir / INITIAL_CREDENTIALS_FILE
    write_private(saved, json.dumps(credential.to_json(), indent=2) + "\n")
    typer.echo("Created the default organization and its first credential:")
    _print_credential(credential, as_json=False)
    typer.echo(
        f"They are also saved in {saved.resolve()} (readable by you only). Later, make more "
        f"with: meterbell credentials create --org {credential.org_id}"
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
    configure_logging(settings.log_level)
    _with_db(settings, lambda db: _bootstrap_default_org(db, settings.data_dir))
    application = create_app(settings, run_workers=not no_workers)
    freeze_startup_objects()
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the workers only (cluster mode: beside `serve --no-workers` processes)."""
    from meterbell.services import entities
    from meterbell.store.wakeups import Wakeups
    from meterbell.workers.runner import Workers

    settings = Settings()
    configure_logging(settings.log_level)

    async def run_workers(db: Database) -> None:
        wakeups = Wakeups()
        workers = Workers(db, settings, wakeups, create_entity=entities.create_in)
        freeze_startup_objects()
        wakeups.start_relay(db, listen=True)
        await workers.start()
        stop_requested = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop_requested.set)
        try:
            await stop_requested.wait()
        finally:
            await workers.stop()
            await wakeups.stop_relay()

    _with_db(settings, run_workers)


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
