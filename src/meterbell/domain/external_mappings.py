"""External mappings: "m3ter Account X is Stripe Customer cus_123" (m3ter's
ExternalMappingRequest)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# m3ter's pattern for these names: no control characters, no space at either end.
TRIMMED_NAME = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
# The fields that say what is mapped to what: one mapping per m3ter entity and external table.
MAPPING_KEY = ("m3terEntity", "m3terId", "externalSystem", "externalTable")

Name = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=TRIMMED_NAME)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TRIMMED_NAME)]


class ExternalMappingFields(BaseModel):
    """The body of `POST`/`PUT externalmappings`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    m3terEntity: Name  # noqa: N815
    m3terId: Identifier  # noqa: N815
    externalSystem: Name  # noqa: N815
    externalTable: Name  # noqa: N815
    externalId: Identifier  # noqa: N815
    integrationConfigId: str | None = Field(default=None, max_length=36)  # noqa: N815
    version: int | None = None
