"""Where an export file lands in its destination: m3ter's partitioned object keys.

Time first (the default): `{prefix}/orgId={orgId}/date=2025-01-27/hour=10/type=measurements/
{jobId}_measurements.csv.gz`; type first: `{prefix}/orgId={orgId}/type=measurements/
date=2025-01-27/hour=10/{jobId}_measurements.csv.gz`. The date and hour are those of the
job's run (UTC); the type is `measurements` for usage, the entity word (e.g. `account`) for
operational data. Without a prefix the key starts at `orgId=`.
"""

from __future__ import annotations

from datetime import datetime

from meterbell.domain.clock import as_utc
from meterbell.domain.errors import InvalidRequest

PARTITION_ORDERS = ("TIME_FIRST", "TYPE_FIRST")
FILE_EXTENSIONS = {"CSV": "csv.gz", "JSONL": "jsonl.gz"}


def file_extension(file_format: str) -> str:
    """The extension of a gzip-compressed export file of this format (`csv.gz`, `jsonl.gz`)."""
    extension = FILE_EXTENSIONS.get(file_format)
    if extension is None:
        raise InvalidRequest(
            f"'exportFileFormat' {file_format!r} is not a format: use CSV or JSONL"
        )
    return extension


def export_file_key(
    *,
    prefix: str | None,
    org_id: str,
    when: datetime,
    data_type: str,
    job_id: str,
    file_format: str,
    partition_order: str | None,
) -> str:
    """The object key of one export file (`partition_order` None means TIME_FIRST)."""
    extension = FILE_EXTENSIONS.get(file_format)
    if extension is None:
        raise InvalidRequest(
            f"'exportFileFormat' {file_format!r} is not a format: use CSV or JSONL"
        )
    order = partition_order or "TIME_FIRST"
    if order not in PARTITION_ORDERS:
        raise InvalidRequest(
            f"'partitionOrder' {partition_order!r} is not a partition order: use TIME_FIRST or "
            "TYPE_FIRST"
        )
    utc = as_utc(when)
    time_parts = [f"date={utc:%Y-%m-%d}", f"hour={utc:%H}"]
    type_part = [f"type={data_type}"]
    partitions = time_parts + type_part if order == "TIME_FIRST" else type_part + time_parts
    root = (prefix or "").strip("/")
    parts = [root] if root else []
    return "/".join([*parts, f"orgId={org_id}", *partitions, f"{job_id}_{data_type}.{extension}"])
