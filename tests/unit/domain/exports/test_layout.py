"""Export file keys: both partition orders, with and without a prefix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.layout import export_file_key, file_extension

WHEN = datetime(2025, 1, 27, 10, 42, 7, tzinfo=UTC)
JOB = "0b5a4f7e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"


def key(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "prefix": "exports",
        "org_id": "org-1",
        "when": WHEN,
        "data_type": "measurements",
        "job_id": JOB,
        "file_format": "CSV",
        "partition_order": None,
    }
    arguments.update(overrides)
    return export_file_key(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("order", [None, "TIME_FIRST"])
def test_time_first_is_the_default(order: str | None) -> None:
    assert key(partition_order=order) == (
        f"exports/orgId=org-1/date=2025-01-27/hour=10/type=measurements/{JOB}_measurements.csv.gz"
    )


def test_type_first() -> None:
    assert key(partition_order="TYPE_FIRST", data_type="account", file_format="JSONL") == (
        f"exports/orgId=org-1/type=account/date=2025-01-27/hour=10/{JOB}_account.jsonl.gz"
    )


@pytest.mark.parametrize("prefix", [None, "", "/", "//"])
def test_no_prefix_no_leading_slash(prefix: str | None) -> None:
    assert key(prefix=prefix) == (
        f"orgId=org-1/date=2025-01-27/hour=10/type=measurements/{JOB}_measurements.csv.gz"
    )
    assert key(prefix=prefix, partition_order="TYPE_FIRST") == (
        f"orgId=org-1/type=measurements/date=2025-01-27/hour=10/{JOB}_measurements.csv.gz"
    )


@pytest.mark.parametrize("prefix", ["/a/b/", "a/b", "a/b/", "/a/b"])
def test_slashes_around_the_prefix_are_stripped(prefix: str) -> None:
    assert key(prefix=prefix).startswith("a/b/orgId=org-1/date=")


def test_the_hour_is_utc_and_zero_padded() -> None:
    minus_five = timezone(timedelta(hours=-5))
    when = datetime(2025, 12, 31, 22, 5, tzinfo=minus_five)  # 2026-01-01 03:05 UTC
    assert "/date=2026-01-01/hour=03/" in key(when=when)


def test_unknown_format_or_order() -> None:
    with pytest.raises(InvalidRequest) as caught:
        key(file_format="PARQUET")
    assert caught.value.message == "'exportFileFormat' 'PARQUET' is not a format: use CSV or JSONL"
    with pytest.raises(InvalidRequest) as caught:
        key(partition_order="DATE_FIRST")
    assert caught.value.message == (
        "'partitionOrder' 'DATE_FIRST' is not a partition order: use TIME_FIRST or TYPE_FIRST"
    )


def test_file_extensions() -> None:
    assert file_extension("CSV") == "csv.gz"
    assert file_extension("JSONL") == "jsonl.gz"
    with pytest.raises(InvalidRequest):
        file_extension("csv")
