"""Runtime configuration: one settings class, read from `MB_*` environment variables."""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

SECRET_KEY_FILE = "secret.key"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# A SQLite database and the files SQLite keeps beside it (created with the database's mode).
SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")
ASYNC_DRIVERS = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never readable by others even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) if needed; only its owner may enter it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)


def private_sqlite_files(url: str) -> None:
    """For a SQLite file store: create the database file readable by its owner only, so that
    SQLite creates its -wal and -shm files alike; tighten any made before."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return
    database = Path(str(parsed.database))
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    for suffix in SQLITE_FILE_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{database}{suffix}", PRIVATE_FILE_MODE)


def display_url(url: str) -> str:
    """A database URL fit for printing: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def async_driver_url(url: str) -> str:
    for plain, with_driver in ASYNC_DRIVERS.items():
        if url.startswith(plain):
            return with_driver + url[len(plain) :]
    return url


class Settings(BaseSettings):
    """Everything meterbell can be told from its environment (prefix `MB_`)."""

    model_config = SettingsConfigDict(env_prefix="MB_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Folder for the SQLite file and keys.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means SQLite at <data_dir>/meterbell.db."
    )
    host: str = "127.0.0.1"
    port: int = 8400
    secret_key: str = Field(
        default="",
        description="Signs tokens and encrypts stored secrets; generated into data_dir if empty.",
    )
    old_secret_keys: str = Field(
        default="",
        description="Comma-separated former secret keys: they only decrypt stored secrets "
        "(until `meterbell secrets reencrypt`), never sign or encrypt.",
    )
    token_ttl_s: int = 18000
    token_failure_limit: int = Field(
        default=10,
        ge=1,
        description="Failed token requests per client id, and per address, before 429.",
    )
    token_failure_window_s: float = Field(
        default=60.0, gt=0, description="The window those failures are counted in (seconds)."
    )
    console_session_ttl_s: float = Field(
        default=12 * 3600.0, gt=0, description="How long a console sign-in lasts (seconds)."
    )
    signin_failure_limit: int = Field(
        default=5,
        ge=1,
        description="Failed console sign-ins per e-mail, and per address, before 429.",
    )
    signin_failure_window_s: float = Field(
        default=60.0, gt=0, description="The window those failures are counted in (seconds)."
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="Mark console cookies Secure even on plain-http requests (when TLS ends at "
        "a proxy that uvicorn does not trust for X-Forwarded-Proto). Requests that arrive as "
        "https get Secure cookies regardless.",
    )
    event_retention_days: int = 28
    retention_interval_s: float = 3600.0
    max_body_bytes: int = 1024 * 1024
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhook URLs on private, loopback or link-local hosts."
    )
    webhook_https_only: bool = Field(
        default=False,
        description="Refuse plain http webhook URLs (at configuration and at delivery time).",
    )
    public_url: str = Field(
        default="",
        description="Where people reach this meterbell (e.g. https://meterbell.example.com): "
        "Slack messages link to its console pages. Empty: messages carry no links.",
    )
    secret_overlap_s: float = Field(
        default=86400.0,
        ge=0,
        description="After `rotatesecret`, how long the replaced secret still signs (seconds).",
    )
    delivery_timeout_s: float = 10.0
    delivery_attempts: int = Field(default=4, ge=1, le=20)
    delivery_backoff_s: float = Field(default=2.0, ge=0)
    auto_disable_after: int = Field(default=10, ge=1)
    auto_disable_warn_after: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed runs of an integration before an INTEGRATION_FAILING "
        "alert warns that it will be disabled (none if not below MB_AUTO_DISABLE_AFTER).",
    )
    delivery_concurrency: int = Field(default=256, ge=1)
    destination_concurrency: int = Field(default=16, ge=1)
    delivery_lease_s: float = Field(
        default=120.0, gt=0, description="A run a dead worker held is retried after this long."
    )
    max_item_failures: int = Field(
        default=3,
        ge=1,
        description="Times one item of work (an event, a run, a job...) may fail before it is "
        "set aside as a dead letter.",
    )
    worker_poll_s: float = Field(
        default=1.0, gt=0, description="Safety-net poll when no wake-up arrives (cluster mode)."
    )
    scheduler_interval_s: float = Field(
        default=60.0, gt=0, description="How often the scheduler looks for due scheduled events."
    )
    ingest_batch_size: int = Field(
        default=2000,
        ge=1,
        description="Measurements validated per transaction: more is faster, but holds the "
        "(SQLite) write lock longer.",
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com",
        description="Where Bill integrations with destination Stripe send invoices: Stripe's API, "
        "or a Stripe-compatible server (tests/stripe_standin.py).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint for export destinations (empty: AWS itself). "
        "Credentials come from the usual AWS chain (AWS_ACCESS_KEY_ID, profiles, roles).",
    )
    s3_region: str = Field(default="us-east-1", description="Region for S3 and STS clients.")
    export_poll_s: float = Field(
        default=15.0, gt=0, description="How often the exporter looks for due export schedules."
    )
    log_level: str = "info"
    log_format: Literal["console", "json"] = Field(
        default="console", description="console: key=value lines; json: one JSON object a line."
    )
    metrics_token: str = Field(
        default="", description="When set, /metrics needs 'Authorization: Bearer <token>'."
    )

    @property
    def exports_dir(self) -> Path:
        """Where export files are written, kept for download, and where LOCAL destinations live."""
        return self.data_dir / "exports"

    @property
    def resolved_database_url(self) -> str:
        """The URL with its async driver: plain `postgresql://` and `sqlite://` work too."""
        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'meterbell.db').resolve()}"
        return async_driver_url(self.database_url)

    @property
    def old_secret_key_list(self) -> list[str]:
        return [key.strip() for key in self.old_secret_keys.split(",") if key.strip()]

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured key, or one kept in `<data_dir>/secret.key` (created on first use)."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / SECRET_KEY_FILE
        if not key_file.exists():
            private_dir(self.data_dir)
            write_private(key_file, secrets.token_urlsafe(48))
        return key_file.read_text().strip()
