"""Usage ingest: accepting measurements (validated later by the ingest validator), and the
time-limited download of a failed measurement named by an `ingest.validation.failure`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterbell.domain.clock import isoformat
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.errors import InvalidRequest, NotFound
from meterbell.domain.measurements import check_submission, failure_id_of
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database


async def submit(db: Database, org_id: str, body: bytes, now: datetime) -> None:
    """Store a submission for validation, once it passes the checks that need no stored
    data; it is durable when this returns."""
    count = check_submission(body)
    async with db.write() as conn:
        await ingest_store.add_submission(conn, org_id, now, count, body.decode())


def _failure_id(file: str) -> str:
    if not file:
        raise InvalidRequest(
            "'file' is required: the getDownloadUrl value of an ingest.validation.failure event"
        )
    failure_id = failure_id_of(file)
    if failure_id is None:
        raise NotFound(f"No failed ingest file '{file}' in this organization")
    return failure_id


async def _failure(db: Database, org_id: str, file: str) -> Any:
    async with db.read() as conn:
        row = await ingest_store.get_failure(conn, org_id, _failure_id(file))
    if row is None:
        raise NotFound(
            f"No failed ingest file '{file}' in this organization (they are kept as long as events)"
        )
    return row


async def download_link(
    db: Database, org_id: str, file: str, signer: DownloadSigner, now: datetime
) -> dict[str, str]:
    """Query parameters of a link to the failed measurement in `file`, valid 5 minutes."""
    await _failure(db, org_id, file)
    return {"file": file, **signer.sign(f"{org_id}/{file}", now)}


async def download(
    db: Database,
    org_id: str,
    link: dict[str, str],
    signer: DownloadSigner,
    now: datetime,
) -> dict[str, Any]:
    """The failed measurement and why it failed, if `link` (file, expires, signature) is a
    link `download_link` made that has not expired."""
    file = link.get("file", "")
    signer.check(f"{org_id}/{file}", link.get("expires", ""), link.get("signature", ""), now)
    row = await _failure(db, org_id, file)
    return {
        "type": row.type,
        "reason": row.reason,
        "dtCreated": isoformat(row.dt_created),
        "measurement": row.measurement,
    }
