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
