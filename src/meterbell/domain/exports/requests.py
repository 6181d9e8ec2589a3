"""The bodies of the data-export endpoints (m3ter's ExportDestination*, *DataExportConfiguration*
and AdHoc* requests) and the checks that need nothing stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meterbell.domain.codes import code_problem
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.aggregation import FUNCTIONS_BY_FIELD_TYPE
from meterbell.domain.exports.operational import OPERATIONAL_DATA_TYPES
from meterbell.domain.exports.periods import TIME_PERIODS
from meterbell.domain.exports.timing import Timing, resolve_timing
from meterbell.domain.validation import validate_model
from meterbell.domain.windows import utc_field

IAM_ROLE_ARN = re.compile(r"arn:aws:iam::\d+:role/.*")
LOCAL_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
USAGE_FIELDS = (
    "timePeriod",
    "meterIds",
    "accountIds",
    "dimensionFilters",
    "aggregations",
    "groups",
)

_Strict = ConfigDict(extra="allow", strict=True)


class DestinationFields(BaseModel):
    """`POST`/`PUT dataexports/destinations`: S3 and GCS as m3ter defines them, and LOCAL (ours:
    a folder `<MB_DATA_DIR>/exports/local/<bucketName>` for the embedded mode)."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=80)
    destinationType: Literal["S3", "GCS", "LOCAL"] = "S3"  # noqa: N815
    bucketName: str = Field(min_length=3, max_length=63)  # noqa: N815
    prefix: str | None = Field(default=None, max_length=500)
    partitionOrder: Literal["TIME_FIRST", "TYPE_FIRST"] | None = None  # noqa: N815
    iamRoleArn: str | None = Field(default=None, max_length=2048)  # noqa: N815
    projectNumber: str | None = Field(default=None, min_length=1)  # noqa: N815
    poolId: str | None = Field(default=None, min_length=1)  # noqa: N815
    providerId: str | None = Field(default=None, min_length=1)  # noqa: N815
    serviceAccountEmail: str | None = None  # noqa: N815


GCS_REQUIRED = ("projectNumber", "poolId", "providerId")


def checked_destination(body: object) -> dict[str, Any]:
    """The destination to store, or InvalidRequest saying what to fix."""
    fields = validate_model(DestinationFields, body)
    if problem := code_problem(fields.code):
        raise InvalidRequest(f"'code' {problem}")
    if fields.destinationType == "S3":
        if fields.iamRoleArn is None:
            raise InvalidRequest("'iamRoleArn' is required for an S3 destination")
        if not IAM_ROLE_ARN.fullmatch(fields.iamRoleArn):
            raise InvalidRequest(
                "'iamRoleArn' must look like arn:aws:iam::<account number>:role/<role name>"
            )
    if fields.destinationType == "GCS":
        missing = [name for name in GCS_REQUIRED if getattr(fields, name) is None]
        if missing:
            raise InvalidRequest(f"A GCS destination needs {', '.join(repr(m) for m in missing)}")
    if fields.destinationType == "LOCAL" and not LOCAL_BUCKET.fullmatch(fields.bucketName):
        raise InvalidRequest(
            "'bucketName' of a LOCAL destination is a folder name: letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    return fields.model_dump(exclude_none=True)


class DimensionFilter(BaseModel):
    model_config = _Strict

    meterId: str = Field(min_length=1)  # noqa: N815
    fieldCode: str = Field(min_length=1)  # noqa: N815
    values: list[str] = Field(min_length=1)


class AggregationFields(BaseModel):
    model_config = _Strict

    meterId: str = Field(min_length=1)  # noqa: N815
    fieldCode: str = Field(min_length=1)  # noqa: N815
    fieldType: Literal["MEASURE", "DIMENSION"]  # noqa: N815
    function: Literal["SUM", "MIN", "MAX", "COUNT", "LATEST", "MEAN", "UNIQUE"]


class GroupFields(BaseModel):
    model_config = _Strict

    groupType: Literal["ACCOUNT", "DIMENSION", "TIME"]  # noqa: N815
    meterId: str | None = None  # noqa: N815
    fieldCode: str | None = None  # noqa: N815
    frequency: Literal["DAY", "HOUR", "WEEK", "MONTH", "QUARTER"] | None = None


class UsageFilters(BaseModel):
    """What a usage export selects and how it aggregates (shared by schedules and ad hoc)."""

    model_config = _Strict

    meterIds: list[str] | None = None  # noqa: N815
    accountIds: list[str] | None = None  # noqa: N815
    dimensionFilters: list[DimensionFilter] | None = None  # noqa: N815
    aggregations: list[AggregationFields] | None = None
    groups: list[GroupFields] | None = None


class ExportBase(BaseModel):
    model_config = _Strict

    sourceType: Literal["USAGE", "OPERATIONAL"]  # noqa: N815
    destinationIds: list[str] | None = None  # noqa: N815
    exportFileFormat: Literal["CSV", "JSONL"] = "CSV"  # noqa: N815
    operationalDataTypes: list[str] | None = None  # noqa: N815


class ScheduleFields(ExportBase, UsageFilters):
    """`POST`/`PUT dataexports/schedules` (both source types)."""

    name: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=80)
    scheduleType: str | None = None  # noqa: N815
    period: int | None = Field(default=None, ge=1)
    offset: int | None = Field(default=None, ge=0)
    cronExpression: str | None = Field(default=None, max_length=200)  # noqa: N815
    timePeriod: str | None = None  # noqa: N815


class AdHocFields(ExportBase, UsageFilters):
    """`POST dataexports/adhoc` (both source types)."""

    startDate: datetime | None = None  # noqa: N815
    endDate: datetime | None = None  # noqa: N815

    model_config = ConfigDict(extra="allow", strict=False)


def _check_operational(fields: ExportBase, present: Mapping[str, Any]) -> None:
    types = fields.operationalDataTypes
    if not types:
        raise InvalidRequest(
            "'operationalDataTypes' is required for an OPERATIONAL export: one or more of "
            + ", ".join(OPERATIONAL_DATA_TYPES)
        )
    unknown = [t for t in types if t not in OPERATIONAL_DATA_TYPES]
    if unknown:
        raise InvalidRequest(
            f"'operationalDataTypes' has unknown types {', '.join(unknown)}: use "
            + ", ".join(OPERATIONAL_DATA_TYPES)
        )
    usage = [name for name in USAGE_FIELDS if present.get(name) is not None]
    if usage:
        raise InvalidRequest(
            f"{', '.join(repr(u) for u in usage)} belong to USAGE exports: one export cannot "
            "hold both usage and operational data"
        )


def _check_usage(fields: ExportBase, filters: UsageFilters) -> None:
    if fields.operationalDataTypes is not None:
        raise InvalidRequest(
            "'operationalDataTypes' belongs to OPERATIONAL exports: one export cannot hold both "
            "usage and operational data"
        )
    if filters.groups and not filters.aggregations:
        raise InvalidRequest(
            "'groups' need 'aggregations': say what to compute for each group, or leave out "
            "'groups' to export raw measurements"
        )
    for index, aggregation in enumerate(filters.aggregations or []):
        allowed = FUNCTIONS_BY_FIELD_TYPE[aggregation.fieldType]
        if aggregation.function not in allowed:
            raise InvalidRequest(
                f"'aggregations[{index}].function' {aggregation.function} does not apply to a "
                f"{aggregation.fieldType}: use one of {', '.join(allowed)}"
            )
    for index, group in enumerate(filters.groups or []):
        if group.groupType == "DIMENSION" and not (group.meterId and group.fieldCode):
            raise InvalidRequest(f"'groups[{index}]' of type DIMENSION needs meterId and fieldCode")
        if group.groupType == "TIME" and group.frequency is None:
            raise InvalidRequest(
                f"'groups[{index}]' of type TIME needs a frequency: DAY, HOUR, WEEK, MONTH or "
                "QUARTER"
            )


def _check_source(fields: ExportBase, filters: UsageFilters, body: Mapping[str, Any]) -> None:
    if fields.sourceType == "OPERATIONAL":
        _check_operational(fields, body)
    else:
        _check_usage(fields, filters)


def checked_schedule(body: object) -> tuple[dict[str, Any], Timing]:
    """The schedule to store (with its derived `cronExpression`) and when it runs."""
    fields = validate_model(ScheduleFields, body)
    assert isinstance(body, Mapping)
    if problem := code_problem(fields.code):
        raise InvalidRequest(f"'code' {problem}")
    _check_source(fields, fields, body)
    if fields.sourceType == "USAGE":
        if fields.timePeriod is None:
            raise InvalidRequest(
                "'timePeriod' is required for a USAGE schedule: one of " + ", ".join(TIME_PERIODS)
            )
        if fields.timePeriod not in TIME_PERIODS:
            raise InvalidRequest("'timePeriod' must be one of: " + ", ".join(TIME_PERIODS))
    timing = resolve_timing(
        fields.scheduleType, fields.period, fields.offset, fields.cronExpression
    )
    document = fields.model_dump(exclude_none=True)
    document.update(
        scheduleType=timing.schedule_type,
        period=timing.period,
        offset=timing.offset,
        cronExpression=timing.cron_expression,
    )
    return {k: v for k, v in document.items() if v is not None}, timing


def checked_adhoc(body: object, now: datetime) -> dict[str, Any]:
    """The ad hoc export to run: its selection, with `startDate`/`endDate` in UTC."""
    fields = validate_model(AdHocFields, body)
    assert isinstance(body, Mapping)
    _check_source(fields, fields, body)
    start = utc_field(fields.startDate, "startDate") if fields.startDate else None
    end = utc_field(fields.endDate, "endDate") if fields.endDate else None
    if fields.sourceType == "USAGE":
        if start is None or end is None:
            raise InvalidRequest("A USAGE export needs 'startDate' and 'endDate'")
        if end <= start:
            raise InvalidRequest("'endDate' must be after 'startDate'")
        tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        if end > tomorrow:
            raise InvalidRequest(
                f"'endDate' must not be after tomorrow 00:00 UTC ({tomorrow:%Y-%m-%dT%H:%M:%SZ})"
            )
    elif end is not None:
        raise InvalidRequest("'endDate' applies to USAGE exports only")
    document = fields.model_dump(exclude_none=True, exclude={"startDate", "endDate"})
    if start is not None:
        document["startDate"] = start
    if end is not None:
        document["endDate"] = end
    return document
