"""The docs' examples are true: docs/exports.md gives the CSV headers the code writes, the
docs/webhooks.md verification example works when copied as written, and docs/operations.md
documents every Prometheus series and the key each worker's items are logged by."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from meterbell.domain.deadletters import Worker
from meterbell.domain.exports.operational import OPERATIONAL_DATA_TYPES, source_columns
from meterbell.domain.meters import field_codes
from meterbell.metrics import REGISTRY
from meterbell.workers.export_writer import RAW_COLUMNS

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC = DOCS / "exports.md"


def python_block(doc: Path, containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


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


def printed_by(code: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})
    return printed.getvalue()


def test_webhook_verification_example_prints_true_as_written() -> None:
    example = python_block(DOCS / "webhooks.md", "from meterbell.webhooks import verify")
    assert printed_by(example) == "True\n"


def test_webhook_example_without_now_is_refused_as_a_replay_as_the_doc_explains() -> None:
    example = python_block(DOCS / "webhooks.md", "from meterbell.webhooks import verify")
    without_now = re.sub(r"\n    now_s=.*\n", "\n", example)
    assert without_now != example
    assert printed_by(without_now) == "False\n"
    no_replay_check = without_now.replace("tolerance_s=300", "tolerance_s=None")
    assert no_replay_check != without_now
    assert printed_by(no_replay_check) == "True\n"


def test_every_metric_is_documented() -> None:
    operations = (DOCS / "operations.md").read_text()
    for family in REGISTRY.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"| `{name}` | {family.type} |" in operations, name


def test_every_workers_items_are_logged_by_the_key_the_doc_gives() -> None:
    rows = [line for line in (DOCS / "operations.md").read_text().splitlines() if line[:2] == "| "]
    for worker in Worker:
        (row,) = [row for row in rows if row.startswith(f"| {worker} | ")]
        assert f"(`{worker.item_key}`)" in row, worker


def test_standard_webhooks_example_prints_true_as_written() -> None:
    example = python_block(DOCS / "webhooks.md", "webhooks.verify_standard(")
    assert printed_by(example) == "True\n"
    assert printed_by(example.replace("VBqX", "VBqY")) == "False\n"
