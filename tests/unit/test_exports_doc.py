"""docs/exports.md gives the CSV headers the code writes (its examples are checked here)."""

from __future__ import annotations

import re
from pathlib import Path

from meterbell.domain.exports.operational import OPERATIONAL_DATA_TYPES, source_columns
from meterbell.domain.meters import field_codes
from meterbell.workers.export_writer import RAW_COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "exports.md"


def documented_headers() -> set[str]:
    """Every fenced block of docs/exports.md that is one comma-separated line."""
    blocks = re.findall(r"```\n([^\n`]+)\n```", DOC.read_text())
    return {block for block in blocks if "," in block and " " not in block}


def test_operational_headers_are_the_documented_ones() -> None:
    headers = documented_headers()
    for data_type in ("ACCOUNTS", "PRICING_BANDS"):
        columns = source_columns(OPERATIONAL_DATA_TYPES[data_type], [])
        assert ",".join(columns) in headers, data_type


def test_raw_usage_header_is_the_documented_one() -> None:
    meter = {
        "dataFields": [{"code": "region"}, {"code": "requests"}],
        "derivedFields": [{"code": "cost"}],
    }
    header = ",".join([*RAW_COLUMNS, *field_codes(meter)])
    assert f"`{header}`" in DOC.read_text()
