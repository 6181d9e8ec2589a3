"""Approving and locking bills (`PUT bills/{id}/status`, `PUT bills/{id}/lock`,
`POST bills/approve`), and the Bill integration runs a bill ready to send starts.

A bill is ready to send once it is APPROVED (a locked bill is approved: m3ter refuses to lock
a PENDING one). A change through these endpoints that leaves a bill ready starts one run for
each enabled Bill integration configuration whose `entityId` is empty or the bill's account,
and that has no run for this bill yet: a bill goes to each system once (resend its run to send
it again). The run carries the bill as it is then, line items included, so a later change of
the bill never changes what the run sends. Each change is one transaction: the bill, its
`billing.bill.updated` event and its runs, or none of them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict, NotFound
from meterbell.domain.integrations import BILL_ENTITY, RunStatus, config_target
from meterbell.domain.validation import SERVER_FIELDS, validate_model
from meterbell.services import entities
from meterbell.services.versioned import Document
from meterbell.store import documents as document_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.store.runs import RunRow

BILL = entity_by_name("bill")
APPROVED = "APPROVED"
PENDING = "PENDING"
MAX_BILL_IDS = 1000


class BillStatusBody(BaseModel):
    """m3ter's UpdateBillStatusRequest."""

    model_config = ConfigDict(extra="ignore", strict=True)

    status: Literal["PENDING", "APPROVED"]


class ApproveBillsBody(BaseModel):
    """m3ter's ApproveBillsRequest."""

    model_config = ConfigDict(extra="ignore", strict=True)

    billIds: list[str] = Field(min_length=1, max_length=MAX_BILL_IDS)  # noqa: N815


def is_ready(bill: Mapping[str, Any]) -> bool:
    return bill.get("status") == APPROVED


async def _bill(conn: AsyncConnection, org_id: str, bill_id: str) -> Document:
    bill = await document_store.get_entity(conn, org_id, BILL.name, bill_id)
    if bill is None:
        raise NotFound(f"No Bill with id {bill_id} in this organization")
    return bill


def _bill_run(bill: Mapping[str, Any], config: Mapping[str, Any], event: EventRow) -> RunRow:
    now = utcnow()
    target = config_target(config, None)
    return RunRow(
        id=str(uuid.uuid4()),
        org_id=event.org_id,
        config_id=config["id"],
        entity_type=BILL_ENTITY,
        entity_id=str(bill["id"]),
        destination=config["destination"],
        destination_id=config["id"],
        event_id=event.id,
        status=RunStatus.WAITING,
        body=orjson.dumps(bill).decode(),
        dt_created=now,
        next_attempt_at=now,
        url=target.url if target else None,
        event_time=event.event_time,
    )


def _takes(config: Mapping[str, Any], account_id: str) -> bool:
    """Whether an integration configuration sends this account's bills now."""
    return (
        config.get("entityType") == BILL_ENTITY
        and bool(config.get("enabled", True))
        and config.get("entityId") in (None, "", account_id)
    )


async def _start_runs(
    conn: AsyncConnection, org_id: str, bill: Mapping[str, Any], event: EventRow
) -> None:
    configs = await document_store.documents_of_org(conn, DocumentKind.INTEGRATION, org_id)
    account_id = str(bill.get("accountId", ""))
    sent = await run_store.configs_with_runs(conn, org_id, BILL_ENTITY, str(bill["id"]))
    await run_store.insert_runs(
        conn,
        [
            _bill_run(bill, config, event)
            for config in configs
            if _takes(config, account_id) and config["id"] not in sent
        ],
    )


async def _changed(
    conn: AsyncConnection, org_id: str, old: Document, changes: Mapping[str, Any], actor: str
) -> Document:
    """Write `changes` to the bill, unless they change nothing; runs if it is ready."""
    if all(old.get(name) == value for name, value in changes.items()):
        return old
    fields = {k: v for k, v in old.items() if k not in SERVER_FIELDS} | dict(changes)
    bill, event = await entities.update_in(conn, org_id, BILL, old, fields, actor)
    if is_ready(bill):
        await _start_runs(conn, org_id, bill, event)
    return bill


def _approval(actor: str) -> dict[str, Any]:
    return {"status": APPROVED, "approvedBy": actor, "dtApproved": isoformat(utcnow())}


async def _approved(conn: AsyncConnection, org_id: str, old: Document, actor: str) -> Document:
    if is_ready(old):
        return old
    return await _changed(conn, org_id, old, _approval(actor), actor)


async def set_status(db: Database, org_id: str, bill_id: str, body: object, actor: str) -> Document:
    """`PUT bills/{id}/status`: APPROVED starts the bill's runs; PENDING takes an unlocked
    bill back."""
    status = validate_model(BillStatusBody, body).status
    async with db.write() as conn:
        old = await _bill(conn, org_id, bill_id)
        if status == APPROVED:
            return await _approved(conn, org_id, old, actor)
        if old.get("locked"):
            raise Conflict(f"Bill {bill_id} is locked: its status cannot change any more")
        return await _changed(conn, org_id, old, {"status": PENDING}, actor)


async def lock(db: Database, org_id: str, bill_id: str, actor: str) -> Document:
    """`PUT bills/{id}/lock`: an approved bill locked; its runs start for configurations that
    have not sent it yet."""
    async with db.write() as conn:
        old = await _bill(conn, org_id, bill_id)
        if not is_ready(old):
            raise Conflict(
                f"Bill {bill_id} is {old.get('status') or PENDING}: approve it before locking it "
                '(PUT bills/{id}/status with {"status": "APPROVED"})'
            )
        if old.get("locked"):
            return old
        changes = {"locked": True, "lockedBy": actor, "dtLocked": isoformat(utcnow())}
        return await _changed(conn, org_id, old, changes, actor)


async def approve(db: Database, org_id: str, body: object, actor: str) -> dict[str, str]:
    """`POST bills/approve`: every bill of `billIds` approved, or none (one unknown id is a
    404). Query parameters are ignored, as m3ter ignores them when `billIds` is given."""
    bill_ids = list(dict.fromkeys(validate_model(ApproveBillsBody, body).billIds))
    async with db.write() as conn:
        bills = [await _bill(conn, org_id, bill_id) for bill_id in bill_ids]
        pending = [bill for bill in bills if not is_ready(bill)]
        for bill in pending:
            await _approved(conn, org_id, bill, actor)
    already = len(bills) - len(pending)
    return {
        "message": f"Approved {len(pending)} bill{'s' if len(pending) != 1 else ''}; "
        f"{already} {'was' if already == 1 else 'were'} approved already"
    }
