"""Export file encoding: CSV and JSONL read back (after gunzip) equal what was written."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.formats import (
    FileEncoder,
    GzipStream,
    _csv_cell,
    _csv_column,
    _exact_json,
    _json_column,
    gzip_file,
)

PARIS_WINTER = timezone(timedelta(hours=1))
T0 = datetime(2026, 1, 27, 10, 0, tzinfo=UTC)


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(data).decode(), newline="")))


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(data).decode().split("\n")[:-1]]


def whole_file(
    columns: Sequence[str], file_format: str, *chunks: Sequence[Sequence[object]]
) -> bytes:
    return b"".join(gzip_file(columns, file_format, chunks))


def test_csv_header_and_rows() -> None:
    data = whole_file(
        ["id", "count", "ratio", "at", "ok", "missing"],
        "CSV",
        [
            ["a", 1, 0.5, T0, True, None],
            ["b", -2, 1e-7, T0 + timedelta(microseconds=250), False, None],
        ],
        [["c", 10**15, 3.0, datetime(2026, 1, 27, 12, tzinfo=PARIS_WINTER), True, None]],
    )
    assert read_csv(data) == [
        ["id", "count", "ratio", "at", "ok", "missing"],
        ["a", "1", "0.5", "2026-01-27T10:00:00Z", "true", ""],
        ["b", "-2", "1e-7", "2026-01-27T10:00:00.000250Z", "false", ""],
        ["c", "1000000000000000", "3.0", "2026-01-27T11:00:00Z", "true", ""],
    ]


def test_csv_quotes_commas_quotes_and_line_breaks() -> None:
    values = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\r\nlf", "", " spaced ", "é€😀"]
    data = whole_file(["text", "n"], "CSV", [[value, index] for index, value in enumerate(values)])
    assert read_csv(data)[1:] == [[value, str(index)] for index, value in enumerate(values)]
    raw = gzip.decompress(data).decode()
    assert '"a,b"' in raw
    assert '"say ""hi"""' in raw
    assert "\nplain,0\n" in raw  # unquoted when nothing needs quoting


def test_csv_nested_values_are_compact_json() -> None:
    nested = {"tier": "gold", "limits": [1, 2.5, None], "at": T0}
    data = whole_file(["id", "extra", "tags"], "CSV", [["x", nested, ["a", "b,c"]]])
    [_, [row_id, extra, tags]] = read_csv(data)
    assert row_id == "x"
    assert extra == '{"tier":"gold","limits":[1,2.5,null],"at":"2026-01-27T10:00:00Z"}'
    assert json.loads(tags) == ["a", "b,c"]


def test_csv_other_values_written_as_json_strings_go_in_unquoted() -> None:
    data = whole_file(["day"], "CSV", [[date(2026, 1, 27)]])
    assert read_csv(data) == [["day"], ["2026-01-27"]]


def test_csv_single_column_keeps_empty_rows() -> None:
    data = whole_file(["note"], "CSV", [[None], ["x"], [""]])
    assert read_csv(data) == [["note"], [""], ["x"], [""]]


def test_jsonl_rows_are_objects_in_column_order() -> None:
    data = whole_file(
        ["id", "count", "at", "ok", "missing", "nested"],
        "JSONL",
        [["a", 1, T0, True, None, {"k": [1, "v"]}]],
        [["b", 2.5, datetime(2026, 1, 27, 12, tzinfo=PARIS_WINTER), False, None, []]],
    )
    lines = gzip.decompress(data).decode().splitlines()
    assert lines[0] == (
        '{"id":"a","count":1,"at":"2026-01-27T10:00:00Z","ok":true,"missing":null,'
        '"nested":{"k":[1,"v"]}}'
    )
    assert read_jsonl(data)[1] == {
        "id": "b",
        "count": 2.5,
        "at": "2026-01-27T11:00:00Z",
        "ok": False,
        "missing": None,
        "nested": [],
    }


def test_jsonl_strings_with_commas_quotes_and_line_breaks() -> None:
    values = ["a,b", 'say "hi"', "two\nlines", "back\\slash", 'Z"', "%s %d", "é€😀"]
    data = whole_file(["text%", "n"], "JSONL", [[value, 1] for value in values])
    assert read_jsonl(data) == [{"text%": value, "n": 1} for value in values]


def test_naive_datetimes_are_utc_and_microseconds_only_when_set() -> None:
    columns = ["at"]
    rows: list[Sequence[object]] = [
        [datetime(2026, 1, 27, 10, 0)],
        [datetime(2026, 1, 27, 10, 0, 0, 123000, tzinfo=UTC)],
        [None],
    ]
    assert read_csv(whole_file(columns, "CSV", rows))[1:] == [
        ["2026-01-27T10:00:00Z"],
        ["2026-01-27T10:00:00.123000Z"],
        [""],
    ]
    assert read_jsonl(whole_file(columns, "JSONL", rows)) == [
        {"at": "2026-01-27T10:00:00Z"},
        {"at": "2026-01-27T10:00:00.123000Z"},
        {"at": None},
    ]


def test_a_column_mixing_types_reads_back_the_same() -> None:
    rows: list[Sequence[object]] = [["text"], [1], [None], [T0], [True], [2.5]]
    assert read_csv(whole_file(["v"], "CSV", rows))[1:] == [
        ["text"],
        ["1"],
        [""],
        ["2026-01-27T10:00:00Z"],
        ["true"],
        ["2.5"],
    ]
    assert [r["v"] for r in read_jsonl(whole_file(["v"], "JSONL", rows))] == [
        "text",
        1,
        None,
        "2026-01-27T10:00:00Z",
        True,
        2.5,
    ]


@pytest.mark.parametrize(
    "column",
    [
        ("a", "b", "c"),
        ("a", None, ""),
        (1, -2, 2**63 - 1),
        (0.5, 1e16, 1e-7, -0.0),
        (True, False, None),
        (None, None),
        (T0, T0 + timedelta(microseconds=1)),
        (datetime(2026, 1, 1), None, T0),
        (1, 2.5, None, True),
    ],
)
def test_a_column_converted_at_once_equals_its_values_converted_one_by_one(
    column: tuple[object, ...],
) -> None:
    assert list(_csv_column(column)) == [_csv_cell(value) for value in column]
    assert _json_column(column) == [_exact_json(value) for value in column]


def test_header_and_empty_chunks() -> None:
    assert FileEncoder(["a", "b,c"], "CSV").header() == b'a,"b,c"\n'
    assert FileEncoder(["a"], "JSONL").header() == b""
    assert FileEncoder(["a"], "CSV").encode([]) == b""
    assert FileEncoder(["a"], "JSONL").encode(iter([])) == b""
    assert read_csv(whole_file(["a"], "CSV")) == [["a"]]
    assert gzip.decompress(whole_file(["a"], "JSONL")) == b""


def test_rows_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(ValueError, match=r"rows have \[1, 2\] values, not 2"):
        FileEncoder(["a", "b"], "CSV").encode([["x"], ["x", "y"]])


@pytest.mark.parametrize("file_format", ["CSV", "JSONL"])
def test_a_chunk_given_by_columns_is_encoded_as_the_same_rows(file_format: str) -> None:
    rows = [["a", 1, None], ["b,c", 2.5, datetime(2026, 1, 2, tzinfo=UTC)]]
    encoder = FileEncoder(["s", "n", "t"], file_format)
    by_columns = encoder.encode_columns([["a", "b,c"], [1, 2.5], [None, rows[1][2]]])
    assert by_columns == encoder.encode(rows)
    assert encoder.encode_columns([[], [], []]) == b""


def test_columns_of_the_wrong_count_or_lengths_are_refused() -> None:
    encoder = FileEncoder(["a", "b"], "CSV")
    with pytest.raises(ValueError, match="1 columns given, not 2"):
        encoder.encode_columns([["x"]])
    with pytest.raises(ValueError, match=r"columns of different lengths: \[1, 2\]"):
        encoder.encode_columns([["x"], ["x", "y"]])


@pytest.mark.parametrize("columns", [[], ["a", "a"]])
def test_columns_must_be_distinct(columns: list[str]) -> None:
    with pytest.raises(ValueError, match="distinct columns"):
        FileEncoder(columns, "CSV")


def test_an_unknown_format() -> None:
    with pytest.raises(InvalidRequest) as caught:
        FileEncoder(["a"], "XML")
    assert caught.value.message == "'exportFileFormat' 'XML' is not a format: use CSV or JSONL"


def test_gzip_stream_pieces_make_one_gzip_file() -> None:
    stream = GzipStream()
    pieces = [stream.compress(b"x" * 100_000), stream.compress(b"hello\n"), stream.finish()]
    assert gzip.decompress(b"".join(pieces)) == b"x" * 100_000 + b"hello\n"
    assert zlib.decompress(b"".join(pieces), 31) == b"x" * 100_000 + b"hello\n"


# -- any values read back -----------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        timezones=st.sampled_from([UTC, PARIS_WINTER, timezone(timedelta(hours=-5))]),
    ),
    st.datetimes(min_value=datetime(1970, 1, 2)),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(st.none(), st.integers(-1000, 1000), st.text()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.text()), max_size=3),
)


def expected_json(value: object) -> object:
    if isinstance(value, datetime):
        zoned = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return zoned.isoformat().replace("+00:00", "Z")
    return value


def expected_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return str(expected_json(value))
    if isinstance(value, int):
        return str(value)
    return "float or nested: compared parsed"


def same_cell(cell: str, value: object) -> bool:
    if isinstance(value, float):
        return float(cell) == value
    if isinstance(value, dict | list):
        return bool(json.loads(cell) == value)
    return cell == expected_cell(value)


TABLES = st.integers(min_value=1, max_value=4).flatmap(
    lambda width: st.lists(st.lists(VALUES, min_size=width, max_size=width), max_size=8)
)


@settings(max_examples=300, deadline=None)
@given(TABLES, st.integers(min_value=1, max_value=3))
def test_csv_reads_back_any_values(rows: list[list[object]], chunk: int) -> None:
    width = len(rows[0]) if rows else 1
    columns = [f"c{i}" for i in range(width)]
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    parsed = read_csv(whole_file(columns, "CSV", *chunks))
    assert parsed[0] == columns
    assert len(parsed) == len(rows) + 1
    for cells, row in zip(parsed[1:], rows, strict=True):
        assert all(same_cell(c, v) for c, v in zip(cells, row, strict=True)), (cells, row)


@settings(max_examples=300, deadline=None)
@given(TABLES, st.integers(min_value=1, max_value=3))
def test_jsonl_reads_back_any_values(rows: list[list[object]], chunk: int) -> None:
    width = len(rows[0]) if rows else 1
    columns = [f"c{i}" for i in range(width)]
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    parsed = read_jsonl(whole_file(columns, "JSONL", *chunks))
    assert parsed == [
        {column: expected_json(value) for column, value in zip(columns, row, strict=True)}
        for row in rows
    ]


def test_the_encoder_compresses_its_own_file() -> None:
    encoder = FileEncoder(["id", "n"], "CSV")
    pieces = [
        encoder.compress(encoder.header()),
        encoder.compress(encoder.encode([["a", 1]])),
        encoder.compress(encoder.encode([["b", 2]])),
        encoder.finish(),
    ]
    assert read_csv(b"".join(pieces)) == [["id", "n"], ["a", "1"], ["b", "2"]]
