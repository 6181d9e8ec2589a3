"""External mappings (`externalmappings`): which record of an outside system an m3ter entity
is, e.g. "Account X is Stripe Customer cus_123". Bill integrations look them up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict, InvalidRequest
from meterbell.domain.external_mappings import MAPPING_KEY, ExternalMappingFields
from meterbell.domain.listing import FieldFilter, id_filters, split_values
from meterbell.domain.pagination import Page
from meterbell.domain.validation import validate_model
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.services.webhooks import INTEGRATION
from meterbell.store import documents as document_store
from meterbell.store.db import Database

EXTERNAL_MAPPING = Kind(DocumentKind.EXTERNAL_MAPPING, "External mapping")
MAX_PAGE_SIZE = 200
ACCOUNT_ENTITY = "Account"
# The mappings of one m3ter entity a Bill run looks through for its customer's id.
MAX_MAPPINGS_PER_ENTITY = 200


async def _checked(db: Database, org_id: str, body: object) -> dict[str, Any]:
    fields = validate_model(ExternalMappingFields, body)
    config_id = fields.integrationConfigId
    if config_id:
        async with db.read() as conn:
            config = await document_store.get_entity(conn, org_id, INTEGRATION.name, config_id)
        if config is None:
            raise InvalidRequest(
                f"'integrationConfigId' must be the id of an integration configuration in this "
                f"organization (got {config_id!r})"
            )
    return fields.model_dump(exclude={"version"}, exclude_none=True)


def _key_filters(document: Mapping[str, Any]) -> list[FieldFilter]:
    return [FieldFilter(name, "eq", (str(document[name]),)) for name in MAPPING_KEY]


def _one_mapping_per_key(org_id: str) -> versioned.AlsoInTransaction:
    """Inside the write: no other mapping of the same m3ter entity to the same table."""

    async def refuse_another(conn: AsyncConnection, document: Mapping[str, Any]) -> None:
        rows = await document_store.list_entities(
            conn,
            org_id,
            EXTERNAL_MAPPING.name,
            filters=_key_filters(document),
            before_seq=None,
            limit=2,
        )
        others = [mapping["id"] for _, mapping in rows if mapping["id"] != document["id"]]
        if others:
            raise Conflict(
                f"{document['m3terEntity']} {document['m3terId']} is mapped to "
                f"{document['externalSystem']} {document['externalTable']} already, by "
                f"external mapping {others[0]}: update or delete that one"
            )

    return refuse_another


async def create_mapping(db: Database, org_id: str, body: object, actor: str) -> Document:
    fields = await _checked(db, org_id, body)
    return await versioned.create(
        db, org_id, EXTERNAL_MAPPING, fields, actor, also=_one_mapping_per_key(org_id)
    )


async def get_mapping(db: Database, org_id: str, mapping_id: str) -> Document:
    return await versioned.get(db, org_id, EXTERNAL_MAPPING, mapping_id)


async def update_mapping(
    db: Database, org_id: str, mapping_id: str, body: object, actor: str
) -> Document:
    fields = await _checked(db, org_id, body)
    version = versioned.requested_version(body)
    return await versioned.replace(
        db,
        org_id,
        EXTERNAL_MAPPING,
        mapping_id,
        fields,
        version,
        actor,
        also=_one_mapping_per_key(org_id),
    )


async def delete_mapping(db: Database, org_id: str, mapping_id: str) -> Document:
    return await versioned.delete(db, org_id, EXTERNAL_MAPPING, mapping_id)


async def _page(
    db: Database,
    org_id: str,
    filters: list[FieldFilter],
    query: Mapping[str, Sequence[str]],
    page_size: int,
) -> Page:
    return await versioned.list_page(
        db, org_id, EXTERNAL_MAPPING, filters, query, page_size=page_size
    )


async def list_mappings(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    """Filters: `ids`, `externalSystemId` (the system's name), `m3terIds`,
    `integrationConfigId`."""
    filters = id_filters(query)
    if m3ter_ids := split_values(query.get("m3terIds", ())):
        filters.append(FieldFilter("m3terId", "in", m3ter_ids))
    for param, field in (
        ("externalSystemId", "externalSystem"),
        ("integrationConfigId", "integrationConfigId"),
    ):
        if value := query.get(param, [""])[-1]:
            filters.append(FieldFilter(field, "eq", (value,)))
    return await _page(db, org_id, filters, query, page_size)


async def mappings_of_entity(
    db: Database,
    org_id: str,
    entity: str,
    m3ter_id: str,
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    filters = [
        FieldFilter("m3terEntity", "eq", (entity,)),
        FieldFilter("m3terId", "eq", (m3ter_id,)),
    ]
    return await _page(db, org_id, filters, query, page_size)


async def mappings_of_external_record(
    db: Database,
    org_id: str,
    system: str,
    table: str,
    external_id: str,
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    filters = [
        FieldFilter("externalSystem", "eq", (system,)),
        FieldFilter("externalTable", "eq", (table,)),
        FieldFilter("externalId", "eq", (external_id,)),
    ]
    return await _page(db, org_id, filters, query, page_size)


def _is_account_in(mapping: Mapping[str, Any], system: str, config_id: str) -> bool:
    return (
        str(mapping.get("m3terEntity", "")).lower() == ACCOUNT_ENTITY.lower()
        and str(mapping.get("externalSystem", "")).lower() == system.lower()
        and mapping.get("integrationConfigId") in (None, "", config_id)
    )


async def customer_id(
    conn: AsyncConnection, org_id: str, account_id: str, system: str, config_id: str
) -> str | None:
    """The account's id in `system` (a Bill integration's destination), from its external
    mapping: `m3terEntity` "Account" and `externalSystem` the system's name (either in any
    case), any `externalTable`, and no `integrationConfigId` or this configuration's. One
    naming this configuration wins over one naming none; then the oldest."""
    rows = await document_store.list_entities(
        conn,
        org_id,
        EXTERNAL_MAPPING.name,
        filters=[FieldFilter("m3terId", "eq", (account_id,))],
        before_seq=None,
        limit=MAX_MAPPINGS_PER_ENTITY,
    )
    found = [m for _, m in reversed(rows) if _is_account_in(m, system, config_id)]
    found.sort(key=lambda m: m.get("integrationConfigId") != config_id)
    return str(found[0]["externalId"]) if found else None
