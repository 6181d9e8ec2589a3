"""What an event is: names, categories, payloads and the fields rules can read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from meterbell.domain.catalog import EntitySpec

Action = Literal["created", "updated", "deleted"]
ACTIONS: tuple[Action, ...] = ("created", "updated", "deleted")
ENTITY_CATEGORIES = {"configuration": "Configuration", "billing": "Billing"}


def entity_event_name(spec: EntitySpec, action: Action) -> str:
    return f"{spec.category}.{spec.name}.{action}"


def dto(entity: Mapping[str, Any], org_id: str) -> dict[str, Any]:
    """The entity as events carry it: its full public form plus `orgId`."""
    return {**entity, "orgId": org_id}


def entity_change_payload(
    org_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`m3terEvent` of an entity change: `newDto` unless deleted, `oldDto` unless created."""
    event_data: dict[str, Any] = {}
    if new is not None:
        event_data["newDto"] = dto(new, org_id)
    if old is not None:
        event_data["oldDto"] = dto(old, org_id)
    return {"eventData": event_data}


def related_account_id(spec: EntitySpec, entity: Mapping[str, Any]) -> str | None:
    """The account an entity event is "for", used by `GET /events?accountId=`."""
    if spec.name == "account":
        return str(entity["id"])
    account_id = entity.get("accountId")
    return account_id if isinstance(account_id, str) else None


def entity_event_fields(
    spec: EntitySpec, action: Action, seen: Mapping[str, str]
) -> dict[str, str]:
    """`new.*` / `old.*` paths of one entity event type, declared fields first, then seen ones."""
    types: dict[str, str] = {name: field.type for name, field in spec.fields.items()}
    types["orgId"] = "string"
    for name, kind in seen.items():
        types.setdefault(name, kind)
    prefixes = {"created": ("new",), "updated": ("new", "old"), "deleted": ("old",)}[action]
    return {f"{prefix}.{name}": kind for prefix in prefixes for name, kind in sorted(types.items())}
