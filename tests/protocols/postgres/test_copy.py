"""COPY TO STDOUT data codecs: text, csv and binary rows, round trips, PostgreSQL's own output, and fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.protocols.postgres import copy as pgcopy
from interceptor.protocols.postgres.codec import ProtocolError
from interceptor.protocols.postgres.copy import (
    BinaryCopyReader,
    binary_header,
    encode_binary_tuple,
    encode_csv_row,
    encode_text_row,
    parse_binary_header,
    parse_binary_tuple,
    parse_csv_row,
    parse_text_row,
)

values = st.lists(st.one_of(st.none(), st.binary(max_size=30)), min_size=1, max_size=6)

# --- text ---------------------------------------------------------------------------------------------------------


def test_text_rows_as_postgresql_writes_them() -> None:
    assert parse_text_row(b"1\talice\t\\N\n") == [b"1", b"alice", None]
    assert parse_text_row(b"a\\tb\\nc\\\\d\\r\\b\\f\\v\t\\N\n") == [b"a\tb\nc\\d\r\b\f\v", None]
    assert parse_text_row(b"\\101\\x42\\x4\\7\\777\n") == [b"AB\x04\x07\xff"]
    assert parse_text_row(b"\\xZ\\q\\N\n") == [b"xZqN"]  # unknown escapes keep the byte
    assert parse_text_row(b"a\\,b,c\n", b",") == [b"a,b", b"c"]
    assert parse_text_row(b"\\\\N\t\\N\n") == [b"\\N", None]
    assert parse_text_row(b"\n") == [b""]
    assert parse_text_row(b"NULL|x|\n", b"|", b"NULL") == [None, b"x", b""]
    assert parse_text_row(b"|x\n", b"|", b"") == [None, b"x"]


def test_text_encoding() -> None:
    assert encode_text_row([b"1", b"a\tb\\c\n", None]) == b"1\ta\\tb\\\\c\\n\t\\N\n"
    assert encode_text_row([b"a,b", None], b",") == b"a\\,b,\\N\n"
    with pytest.raises(ValueError, match="reads back as NULL"):
        encode_text_row([b""], b",", b"")
    with pytest.raises(ValueError, match="delimiter"):
        encode_text_row([b"x"], b"\\")


@pytest.mark.parametrize("data", [b"no newline", b"a\nb\n", b"a\rb\n", b"ends with backslash\\\n", b""], ids=repr)
def test_text_malformed(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_text_row(data)


@given(values, st.sampled_from([b"\t", b",", b"|", b";", b"\x01"]), st.sampled_from([b"\\N", b"NULL", b"", b"-"]))
def test_text_round_trip(row: list[bytes | None], delimiter: bytes, null: bytes) -> None:
    try:
        line = encode_text_row(row, delimiter, null)
    except ValueError:  # a value that would read back as NULL (PostgreSQL writes it ambiguously too)
        return
    assert parse_text_row(line, delimiter, null) == row


# --- csv ----------------------------------------------------------------------------------------------------------


def test_csv_rows_as_postgresql_writes_them() -> None:
    assert parse_csv_row(b'1,alice,,""\n') == [b"1", b"alice", None, b""]
    assert parse_csv_row(b'"a,b","say ""hi""","line1\nline2"\n') == [b"a,b", b'say "hi"', b"line1\nline2"]
    assert parse_csv_row(b"id,name\n") == [b"id", b"name"]  # a header line is a row
    assert parse_csv_row(b'"ab"cd,x"y"\n') == [b"abcd", b"xy"]  # quoted and unquoted parts mix
    assert parse_csv_row(b'\\N,"\\N"\n', null=b"\\N") == [None, b"\\N"]
    assert parse_csv_row(b'"a\\"b\\\\c\\d"\n', escape=b"\\") == [b'a"b\\c\\d']
    assert parse_csv_row(b"'it''s'|x\n", b"|", b"'", b"'") == [b"it's", b"x"]


def test_csv_encoding() -> None:
    assert encode_csv_row([b"1", None, b"", b'a"b', b"x,y", b"l\nm"]) == b'1,,"","a""b","x,y","l\nm"\n'
    assert encode_csv_row([b"\\."]) == b'"\\."\n'
    assert encode_csv_row([b'a"b\\c'], escape=b"\\") == b'"a\\"b\\\\c"\n'
    with pytest.raises(ValueError, match="different"):
        encode_csv_row([b"x"], b'"')


@pytest.mark.parametrize("data", [b'"unterminated\n', b"a\nb\n", b"a\rb\n", b'"x"\r\n', b"no newline"], ids=repr)
def test_csv_malformed(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_csv_row(data)


@given(
    values,
    st.sampled_from([b",", b"\t", b"|", b";"]),
    st.sampled_from([b'"', b"'"]),
    st.booleans(),
    st.sampled_from([b"", b"\\N", b"NULL"]),
)
def test_csv_round_trip(row: list[bytes | None], delimiter: bytes, quote: bytes, backslash: bool, null: bytes) -> None:
    escape = b"\\" if backslash else quote
    line = encode_csv_row(row, delimiter, quote, escape, null)
    assert parse_csv_row(line, delimiter, quote, escape, null) == row


# --- binary -------------------------------------------------------------------------------------------------------

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


def test_binary_as_postgresql_writes_it() -> None:
    first = HEADER + b"\x00\x02" + b"\x00\x00\x00\x04\x00\x00\x00\x01" + b"\xff\xff\xff\xff"
    reader = BinaryCopyReader()
    assert reader.parse(first) == [struct.pack("!i", 1), None]
    assert reader.header == HEADER
    assert reader.encode([b"x", None]) == HEADER + encode_binary_tuple([b"x", None])  # header kept in front
    assert reader.parse(b"\x00\x01\x00\x00\x00\x01y") == [b"y"]
    assert reader.encode([b"z"]) == b"\x00\x01\x00\x00\x00\x01z"  # no header after the first row
    assert reader.parse(b"\xff\xff") is None
    assert reader.done
    with pytest.raises(ProtocolError, match="after the trailer"):
        reader.parse(b"\x00\x00")


def test_binary_no_rows_header_with_trailer() -> None:
    reader = BinaryCopyReader()
    assert reader.parse(HEADER + b"\xff\xff") is None
    assert reader.done


def test_binary_header_with_extension() -> None:
    header = binary_header(0, b"ext!")
    assert parse_binary_header(header + b"\x00\x00") == len(header)
    assert BinaryCopyReader().parse(header + b"\x00\x00") == []
    with pytest.raises(ProtocolError, match="flags"):
        parse_binary_header(binary_header(1 << 16))
    with pytest.raises(ProtocolError, match="flags"):
        parse_binary_header(binary_header(1))
    assert parse_binary_header(binary_header(1 << 20)) == 19  # non-critical flags are ignored


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x00\x01", b"\x00\x01\x00\x00\x00\x05ab", b"\x00\x01\xff\xff\xff\xfe", b"\x00\x00x",
     b"\xff\xffx", b"\xff\xfe"],
    ids=repr,
)  # fmt: skip
def test_binary_malformed(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_binary_tuple(data)


@pytest.mark.parametrize("data", [b"PGCOPY", b"XGCOPY\n\xff\r\n\x00" + bytes(8), HEADER[:-1] + b"\x05"], ids=repr)
def test_binary_malformed_header(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        BinaryCopyReader().parse(data)


@given(values)
def test_binary_round_trip(row: list[bytes | None]) -> None:
    assert parse_binary_tuple(encode_binary_tuple(row)) == row
    reader = BinaryCopyReader()
    assert reader.parse(binary_header() + encode_binary_tuple(row)) == row
    assert reader.encode(row) == binary_header() + encode_binary_tuple(row)


# --- fuzzing: only ProtocolError escapes ----------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_fuzz_only_protocol_errors(data: bytes) -> None:
    for parse in (
        parse_text_row,
        lambda d: parse_text_row(d, b",", b""),
        parse_csv_row,
        lambda d: parse_csv_row(d, b"|", b"'", b"\\", b"\\N"),
        parse_binary_tuple,
        BinaryCopyReader().parse,
        lambda d: BinaryCopyReader().parse(HEADER + d),
    ):
        try:
            parse(data)
        except ProtocolError:
            pass


def test_module_is_pure() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(pgcopy.__file__).read_text())
    imported = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)} | {
        (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
    }
    assert not imported & {"twisted", "socket", "asyncio"}
