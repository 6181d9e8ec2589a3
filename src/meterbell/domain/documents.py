"""What the documents table holds: one `DocumentKind` per kind of versioned document.

Catalog entities (accounts, meters, commitments, …) are stored under their catalog name; the
documents meterbell itself defines (rules, webhooks, integrations, export and scheduled event
configurations) under names no catalog entity has, which is checked at import.
"""

from __future__ import annotations

from enum import StrEnum

from meterbell.domain.catalog import all_entities

# `createdBy` / `lastModifiedBy` of what meterbell writes itself (defaults, auto-disabling,
# accounts created by ingest).
SYSTEM_ACTOR = "meterbell"


class DocumentKind(StrEnum):
    RULE = "notification"
    INTEGRATION = "integrationconfig"
    WEBHOOK = "webhook"
    EXPORT_DESTINATION = "dataexportdestination"
    EXPORT_SCHEDULE = "dataexportschedule"
    SCHEDULED_EVENT = "scheduledevent"
    EXTERNAL_MAPPING = "externalmapping"
    # Catalog entities that workers read by kind.
    ACCOUNT = "account"
    METER = "meter"


CATALOG_KINDS = frozenset({DocumentKind.ACCOUNT, DocumentKind.METER})
# Documents that configure deliveries: a write to one of them bumps its organization's
# delivery configuration revision, in the same transaction.
DELIVERY_CONFIG_KINDS = frozenset(
    {DocumentKind.RULE, DocumentKind.INTEGRATION, DocumentKind.WEBHOOK}
)


def kind_problems(catalog_names: frozenset[str]) -> list[str]:
    """Own kinds that share a name with a catalog entity, and catalog kinds it lacks."""
    own = (kind for kind in DocumentKind if kind not in CATALOG_KINDS)
    clashes = [f"{kind} is also a catalog entity" for kind in own if kind in catalog_names]
    missing = [
        f"{kind} is not in the catalog" for kind in CATALOG_KINDS if kind not in catalog_names
    ]
    return sorted(clashes + missing)


if problems := kind_problems(frozenset(spec.name for spec in all_entities())):
    raise RuntimeError(f"Document kinds do not fit the entity catalog: {problems}")
