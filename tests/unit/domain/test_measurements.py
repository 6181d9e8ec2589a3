"""Pure parts of usage ingest: meter plans, per-measurement checks, account codes, links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meterbell.domain.download_links import LINK_LIFETIME, DownloadSigner
from meterbell.domain.errors import Forbidden
from meterbell.domain.measurements import (
    Failure,
    check_submission,
    data_values,
    derived_values,
    failed_ingest_file,
    failure_id_of,
    uncreatable_accounts,
)
from meterbell.domain.meters import meter_plan

METER: dict[str, Any] = {
    "id": "m-1",
    "version": 3,
    "dataFields": [
        {"category": "WHAT", "code": "kind", "name": "Kind"},
        {"category": "COST", "code": "price", "name": "Price"},
        {"category": "MEASURE", "code": "qty", "name": "Quantity"},
    ],
    "derivedFields": [
        {"category": "COST", "code": "total", "name": "Total", "calculation": "price * qty"},
        {"category": "WHAT", "code": "label", "name": "Label", "calculation": '"k:" + kind'},
        {"category": "MEASURE", "code": "none", "name": "None", "calculation": "null"},
    ],
}


def test_meter_plan_maps_categories_to_measurement_maps() -> None:
    plan = meter_plan(METER)
    assert (plan.id, plan.version) == ("m-1", 3)
    assert plan.data_fields == (("what", "kind"), ("cost", "price"), ("measure", "qty"))
    assert [(d.code, d.numeric) for d in plan.derived_fields] == [
        ("total", True),
        ("label", False),
        ("none", True),
    ]


def test_derived_values_leave_out_null_results() -> None:
    values = {"kind": "a", "price": 2.5, "qty": 4}
    assert derived_values(values, meter_plan(METER)) == ({"total": 10.0, "label": "k:a"}, [])


def test_a_stored_calculation_that_no_longer_compiles_fails_at_ingest() -> None:
    broken = {**METER, "derivedFields": [{**METER["derivedFields"][0], "calculation": "qty +"}]}
    plan = meter_plan(broken)
    derived, problems = derived_values({"kind": "a", "price": 1, "qty": 1}, plan)
    assert derived == {}
    assert problems[0].startswith("derived field 'total': the calculation does not compile")


def test_data_values_take_only_the_meters_fields() -> None:
    item = {"what": {"kind": "a", "extra": "x"}, "cost": {"price": 1}, "measure": {"qty": 0}}
    assert data_values(item, meter_plan(METER)) == {"kind": "a", "price": 1, "qty": 0}


def test_data_values_name_every_missing_field() -> None:
    failure = data_values({"what": {"kind": None}}, meter_plan(METER))
    assert failure == Failure(
        "MissingField", "missing data fields of the meter: what.kind, cost.price, measure.qty"
    )


def test_uncreatable_accounts() -> None:
    problems = uncreatable_accounts(["fine", "Acme", "bad\tcode", "FINE", "new"], {"acme": "ACME"})
    assert set(problems) == {"Acme", "bad\tcode", "FINE"}
    assert "'ACME' differs only in letter case" in problems["Acme"]
    assert "'fine' differs only in letter case" in problems["FINE"]
    assert "not a valid account code" in problems["bad\tcode"]


def test_check_submission_counts_valid_measurements() -> None:
    item = b'{"meter": "m", "account": "a", "ts": "2026-01-01T00:00:00Z", "measure": {"q": 1.5}}'
    assert check_submission(b'{"measurements": [' + item + b"," + item + b"]}") == 2


def test_failed_ingest_file_names_round_trip() -> None:
    failure_id = "0b7d4c3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e"
    assert failure_id_of(failed_ingest_file(failure_id)) == failure_id
    assert failure_id_of(f"failedIngest/{failure_id}.json.exe") is None


def test_download_links_open_until_they_expire() -> None:
    signer = DownloadSigner("key")
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    link = signer.sign("org/file", now)
    signer.check("org/file", link["expires"], link["signature"], now + LINK_LIFETIME / 2)
    with pytest.raises(Forbidden, match=re.escape("expired at 2026-11-23T12:05:00.000Z")):
        signer.check("org/file", link["expires"], link["signature"], now + LINK_LIFETIME)
    with pytest.raises(Forbidden, match="not valid"):
        signer.check("org/other", link["expires"], link["signature"], now)
    with pytest.raises(Forbidden, match="not valid"):
        DownloadSigner("other key").check("org/file", link["expires"], link["signature"], now)
    with pytest.raises(Forbidden, match="not valid"):
        signer.check("org/file", "soon", link["signature"], now - timedelta(days=1))


def test_derived_values_must_match_their_category() -> None:
    fields = [
        {"category": "WHO", "code": "text", "name": "T", "calculation": "qty * 2"},
        {"category": "COST", "code": "number", "name": "N", "calculation": "kind"},
    ]
    plan = meter_plan({**METER, "derivedFields": fields})
    derived, problems = derived_values({"kind": "a", "price": 1, "qty": 3}, plan)
    assert derived == {}
    assert problems == [
        "derived field 'text' must be a string, the calculation gave 6",
        "derived field 'number' must be a number, the calculation gave 'a'",
    ]
