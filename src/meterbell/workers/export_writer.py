"""Writes the files of one export job: rows streamed from the store, encoded (CSV or JSONL)
and gzip-compressed chunk by chunk, so memory stays flat however many rows there are.

It runs in a thread of its own with its own event loop and database connection (see
`write_job_files`), so a large export never holds up the loop that dispatches events and
delivers webhooks: the two only share the GIL.

Speed: the raw export is a hot path (benchmarks/export.py). Chunks are handled column by
column with no Python code per value: the `fields` JSON of a whole chunk is decoded by one
orjson call, and SQLite's timestamp texts are rewritten as the file encoder writes them, a
chunk at a time. Rows are read in the order of an index that follows the table's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, repeat
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, String, Text, cast, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncResult

from meterbell.domain.clock import as_utc
from meterbell.domain.documents import DocumentKind
from meterbell.domain.exports.aggregation import Aggregation, Aggregator, Group
from meterbell.domain.exports.formats import FileEncoder
from meterbell.domain.exports.layout import file_extension
from meterbell.domain.exports.operational import (
    OPERATIONAL_DATA_TYPES,
    source_columns,
    source_rows,
)
from meterbell.domain.meters import field_codes
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.store.exports import JobRow
from meterbell.store.tables import measurements

USAGE_FILE_TYPE = "measurements"
RAW_COLUMNS = ("uid", "meter", "account", "ts", "ets")
# Rows per chunk, small on purpose: a chunk's objects then mostly die before the garbage
# collector promotes them, so it seldom runs full collections (with 5000 rows, those took a
# fifth of a raw export's time), and no single step holds the GIL long.
CHUNK_ROWS = 500


@dataclass(frozen=True)
class WrittenFile:
    """A finished file in the job's work folder."""

    name: str
    type: str
    path: Path
    rows: int
    bytes: int


class GzipFile:
    """Rows in, a gzip-compressed CSV/JSONL file out, a chunk at a time."""

    def __init__(self, path: Path, columns: Sequence[str], file_format: str) -> None:
        self.path = path
        self.rows = 0
        self._encoder = FileEncoder(columns, file_format)
        self._handle = path.open("wb")
        self._handle.write(self._encoder.compress(self._encoder.header()))

    def write(self, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._handle.write(self._encoder.compress(self._encoder.encode(rows)))
            self.rows += len(rows)

    def write_columns(self, columns: Sequence[Sequence[object]]) -> None:
        """Rows given column by column (see `FileEncoder.encode_columns`)."""
        if columns[0]:
            self._handle.write(self._encoder.compress(self._encoder.encode_columns(columns)))
            self.rows += len(columns[0])

    def close(self, name: str, file_type: str) -> WrittenFile:
        self._handle.write(self._encoder.finish())
        self._handle.close()
        return WrittenFile(name, file_type, self.path, self.rows, self.path.stat().st_size)


def file_name(job_id: str, file_type: str, file_format: str) -> str:
    return f"{job_id}_{file_type}.{file_extension(file_format)}"


def write_job_files(database_url: str, job: JobRow, work_dir: Path) -> list[WrittenFile]:
    """Write the job's files into `work_dir` (call it in a worker thread)."""
    return asyncio.run(_write_job_files(database_url, job, work_dir))


async def _write_job_files(database_url: str, job: JobRow, work_dir: Path) -> list[WrittenFile]:
    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as conn:
            if job.source_type == "USAGE":
                return [await _write_usage(conn, job, work_dir)]
            return [
                await _write_operational(conn, job, data_type, work_dir)
                for data_type in job.spec["operationalDataTypes"]
            ]
    finally:
        await db.dispose()


# Usage


async def _documents_by_id(conn: AsyncConnection, org_id: str, entity_type: str) -> dict[str, Any]:
    """id → document of every entity of a type in the organization."""
    documents = await document_store.documents_of_org(conn, entity_type, org_id)
    return {str(document["id"]): document for document in documents}


def _window(spec: Mapping[str, Any], key: str) -> datetime | None:
    value = spec.get(key)
    return as_utc(datetime.fromisoformat(value)) if value else None


def _as_they_are(values: Sequence[Any]) -> Sequence[Any]:
    return values


# A chunk of selected measurements, column by column (one value per measurement in each):
# meter ids, account ids, the columns the caller asked for, then the decoded `fields`.
Columns = list[Sequence[Any]]


def _iso_texts(stored: Sequence[str | None]) -> Sequence[str | None]:
    """SQLite's stored timestamp texts (`2026-03-01 10:00:00.250000`, UTC) as the file encoder
    writes a UTC datetime: ISO-8601 ending in `Z`, microseconds only when not zero. Rewritten
    for a whole chunk at once, with no Python code per value (SQLite's own `replace` took
    1.1 µs per row). PostgreSQL's datetimes are decoded cheaply and go to the encoder as they
    are: its `to_char` would cost the server more than encoding them costs here."""
    joined = "Z\0".join(map(str, stored)) + "Z"
    texts = joined.replace(" ", "T").replace(".000000Z", "Z").split("\0")
    if None not in stored:
        return texts
    return [None if value is None else text for value, text in zip(stored, texts, strict=True)]


async def _measurement_rows(
    conn: AsyncConnection,
    org_id: str,
    spec: Mapping[str, Any],
    wanted: Sequence[ColumnElement[Any]],
) -> AsyncResult[Any]:
    """The selected measurements' meter id, account id, `wanted` columns and `fields` (as JSON
    text), streamed in time order (ts, then ingest order), as `ix_measurements_org_ts` holds
    them: measurements mostly arrive in time order, so this reads the table nearly in its own
    order, where (meter, account, ts) order made a random lookup of every row."""
    columns = measurements.c
    statement = select(
        columns.meter_id, columns.account_id, *wanted, cast(columns.fields, Text)
    ).where(columns.org_id == org_id)
    if start := _window(spec, "startDate"):
        statement = statement.where(columns.ts >= start)
    if end := _window(spec, "endDate"):
        statement = statement.where(columns.ts < end)
    if spec.get("meterIds"):
        statement = statement.where(columns.meter_id.in_(spec["meterIds"]))
    if spec.get("accountIds"):
        statement = statement.where(columns.account_id.in_(spec["accountIds"]))
    statement = statement.order_by(columns.ts, columns.seq)
    result: AsyncResult[Any] = await conn.stream(statement.execution_options(yield_per=CHUNK_ROWS))
    return result


def _columns(rows: Sequence[Sequence[Any]]) -> Columns:
    """Rows of `_measurement_rows` as columns, every `fields` decoded by one orjson call (far
    cheaper than one call per row)."""
    *columns, texts = zip(*rows, strict=True)
    return [*columns, orjson.loads("[" + ",".join(texts) + "]")]


def _dimension_check(filters: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[str, set[str]]]]:
    """meter id → (field code, allowed values) of the dimension filters on that meter."""
    checks: dict[str, list[tuple[str, set[str]]]] = {}
    for item in filters:
        checks.setdefault(item["meterId"], []).append((item["fieldCode"], set(item["values"])))
    return checks


def _passes(checks: Sequence[tuple[str, set[str]]], fields: Mapping[str, Any]) -> bool:
    return all(
        fields.get(code) is not None and str(fields[code]) in values for code, values in checks
    )


def _filtered(columns: Columns, checks: Mapping[str, Sequence[tuple[str, set[str]]]]) -> Columns:
    keep = [
        meter_id not in checks or _passes(checks[meter_id], fields)
        for meter_id, fields in zip(columns[0], columns[-1], strict=True)
    ]
    return columns if all(keep) else [list(compress(column, keep)) for column in columns]


async def _selected(
    conn: AsyncConnection,
    org_id: str,
    spec: Mapping[str, Any],
    wanted: Sequence[ColumnElement[Any]],
) -> AsyncIterator[Columns]:
    """Chunks of selected measurements (see `Columns`), dimension filters applied."""
    checks = _dimension_check(spec.get("dimensionFilters") or [])
    result = await _measurement_rows(conn, org_id, spec, wanted)
    async for rows in result.partitions():
        columns = _columns(rows)
        yield _filtered(columns, checks) if checks else columns


def _raw_columns(
    columns: Columns,
    meter_codes: Mapping[str, Any],
    account_codes: Mapping[str, Any],
    field_codes: Sequence[str],
    timestamps: Callable[[Sequence[Any]], Sequence[Any]],
) -> list[Sequence[object]]:
    """A raw export's columns (RAW_COLUMNS, then the value of each field, None when missing)
    from a chunk selected with (uid, ts, ets), the two timestamp columns passed through
    `timestamps`: no Python code per value."""
    meter_ids, account_ids, uids, ts, ets, fields = columns
    return [
        uids,
        list(map(meter_codes.get, meter_ids, meter_ids)),
        list(map(account_codes.get, account_ids, account_ids)),
        timestamps(ts),
        timestamps(ets),
        *(list(map(dict.get, fields, repeat(code))) for code in field_codes),
    ]


async def _write_aggregated(conn: AsyncConnection, job: JobRow, out_path: Path) -> GzipFile:
    spec = job.spec
    aggregator = Aggregator(
        [Aggregation(**_snake(a)) for a in spec["aggregations"]],
        [Group(**_snake(g)) for g in spec.get("groups") or []],
    )
    wanted = (measurements.c.ts, measurements.c.seq)
    async for meter_ids, account_ids, ts, seqs, fields in _selected(conn, job.org_id, spec, wanted):
        for row in zip(meter_ids, account_ids, map(as_utc, ts), seqs, fields, strict=True):
            aggregator.add(*row)
    out = GzipFile(out_path, aggregator.columns(), str(spec.get("exportFileFormat", "CSV")))
    batch: list[list[object]] = []
    for aggregated in aggregator.rows():
        batch.append(aggregated)
        if len(batch) == CHUNK_ROWS:
            out.write(batch)
            batch = []
    out.write(batch)
    return out


async def _write_raw(conn: AsyncConnection, job: JobRow, out_path: Path) -> GzipFile:
    spec = job.spec
    meters = await _documents_by_id(conn, job.org_id, DocumentKind.METER)
    accounts = await _documents_by_id(conn, job.org_id, DocumentKind.ACCOUNT)
    chosen = [meters[m] for m in spec.get("meterIds") or sorted(meters) if m in meters]
    codes = list(dict.fromkeys(code for meter in chosen for code in field_codes(meter)))
    out = GzipFile(out_path, [*RAW_COLUMNS, *codes], str(spec.get("exportFileFormat", "CSV")))
    meter_codes = {i: m.get("code") for i, m in meters.items()}
    account_codes = {i: a.get("code") for i, a in accounts.items()}
    columns = measurements.c
    ts: ColumnElement[Any] = columns.ts
    ets: ColumnElement[Any] = columns.ets
    timestamps: Callable[[Sequence[Any]], Sequence[Any]] = _as_they_are
    if conn.dialect.name == "sqlite":  # the stored texts, for _iso_texts
        ts, ets, timestamps = type_coerce(ts, String), type_coerce(ets, String), _iso_texts
    wanted = (columns.uid, ts, ets)
    async for chunk in _selected(conn, job.org_id, spec, wanted):
        out.write_columns(_raw_columns(chunk, meter_codes, account_codes, codes, timestamps))
    return out


async def _write_usage(conn: AsyncConnection, job: JobRow, work_dir: Path) -> WrittenFile:
    name = file_name(job.id, USAGE_FILE_TYPE, str(job.spec.get("exportFileFormat", "CSV")))
    write = _write_aggregated if job.spec.get("aggregations") else _write_raw
    out = await write(conn, job, work_dir / name)
    return out.close(name, USAGE_FILE_TYPE)


SNAKE = {
    "meterId": "meter_id",
    "fieldCode": "field_code",
    "fieldType": "field_type",
    "function": "function",
    "groupType": "group_type",
    "frequency": "frequency",
}


def _snake(item: Mapping[str, Any]) -> dict[str, Any]:
    return {SNAKE[key]: value for key, value in item.items() if key in SNAKE}


# Operational data


async def _write_operational(
    conn: AsyncConnection, job: JobRow, data_type: str, work_dir: Path
) -> WrittenFile:
    source = OPERATIONAL_DATA_TYPES[data_type]
    file_format = str(job.spec.get("exportFileFormat", "CSV"))
    stored = await document_store.documents_of_org(conn, source.entity, job.org_id)
    since = _window(job.spec, "startDate")
    documents = [d for d in stored if since is None or _modified_since(d, since)]
    rows = [row for document in documents for row in source_rows(source, document)]
    columns = source_columns(source, {key for row in rows for key in row})
    name = file_name(job.id, source.file_type, file_format)
    out = GzipFile(work_dir / name, columns, file_format)
    for start in range(0, len(rows), CHUNK_ROWS):
        out.write([[row.get(c) for c in columns] for row in rows[start : start + CHUNK_ROWS]])
    return out.close(name, source.file_type)


def _modified_since(document: Mapping[str, Any], since: datetime) -> bool:
    modified = document.get("dtLastModified")
    if not isinstance(modified, str):
        return True
    return as_utc(datetime.fromisoformat(modified)) >= since
