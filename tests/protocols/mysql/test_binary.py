"""Tests for the binary protocol's values: sizes per type, the typed views and the text conversions."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.protocols.mysql.codec import (
    BINARY_SIZE,
    LENENC,
    STRING_TYPES,
    TEMPORAL,
    FieldType,
    ProtocolError,
    binary_size,
    binary_to_text,
    decode_binary_int,
    encode_binary_int,
    encode_binary_value,
    null_bitmap,
    read_binary_value,
    text_to_binary,
)
from tests.protocols.mysql.strategies import FAST, FUZZ

INT_TYPES = {FieldType.TINY: 1, FieldType.SHORT: 2, FieldType.YEAR: 2, FieldType.INT24: 4, FieldType.LONG: 4}
INT_TYPES[FieldType.LONGLONG] = 8


def test_field_type_values_and_sizes() -> None:
    assert (FieldType.DECIMAL, FieldType.NEWDATE, FieldType.TIME2, FieldType.JSON, FieldType.GEOMETRY) == (
        0, 14, 19, 245, 255,
    )  # fmt: skip
    assert binary_size(FieldType.LONGLONG) == 8 and binary_size(FieldType.DOUBLE) == 8
    assert binary_size(FieldType.FLOAT) == 4 and binary_size(FieldType.NULL) == 0
    assert binary_size(FieldType.DATETIME) == TEMPORAL and binary_size(FieldType.TIME) == TEMPORAL
    assert binary_size(FieldType.LONGLONG | 0x8000) == 8  # a parameter's type word with the unsigned flag
    for field_type in STRING_TYPES:
        assert binary_size(field_type) == LENENC
    assert binary_size(200) == LENENC  # unknown types are length-encoded strings, as libmysqlclient reads them
    assert set(BINARY_SIZE) < set(FieldType)


@FAST
@given(st.sampled_from(sorted(INT_TYPES)), st.booleans(), st.data())
def test_integers_round_trip(field_type: FieldType, unsigned: bool, data: st.DataObject) -> None:
    bits = 8 * INT_TYPES[field_type]
    low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    number = data.draw(st.integers(low, high))
    value = encode_binary_int(number, field_type, unsigned)
    assert len(value) == INT_TYPES[field_type]
    assert decode_binary_int(value, unsigned) == number
    assert binary_to_text(value, field_type, unsigned) == str(number).encode()
    assert text_to_binary(str(number).encode(), field_type, unsigned) == value
    with pytest.raises(ValueError):
        encode_binary_int(high + 1, field_type, unsigned)


@FAST
@given(st.floats(allow_nan=False))
def test_doubles_round_trip(number: float) -> None:
    value = struct.pack("<d", number)
    assert text_to_binary(binary_to_text(value, FieldType.DOUBLE), FieldType.DOUBLE) == value


def test_floats_render_like_the_server() -> None:
    assert binary_to_text(struct.pack("<f", 1.1), FieldType.FLOAT) == b"1.1"
    assert binary_to_text(struct.pack("<d", 2.25), FieldType.DOUBLE) == b"2.25"


dates = st.tuples(st.integers(0, 9999), st.integers(0, 12), st.integers(0, 31))
clock = st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
micro = st.none() | st.integers(0, 999999)


@FAST
@given(st.sampled_from([FieldType.DATE, FieldType.DATETIME, FieldType.TIMESTAMP]), dates, clock, micro)
def test_dates_round_trip(
    field_type: FieldType, date: tuple[int, int, int], time: tuple[int, int, int], microseconds: int | None
) -> None:
    value = struct.pack("<HBB", *date)
    text = b"%04d-%02d-%02d" % date
    if field_type != FieldType.DATE:
        value += bytes(time)
        text += b" %02d:%02d:%02d" % time
        if microseconds is not None:
            value += microseconds.to_bytes(4, "little")
            text += b".%06d" % microseconds
    assert binary_to_text(value, field_type) == text
    assert text_to_binary(text, field_type) == value


@FAST
@given(st.booleans(), st.integers(0, 34), clock, micro)
def test_times_round_trip(negative: bool, days: int, time: tuple[int, int, int], microseconds: int | None) -> None:
    value = struct.pack("<BIBBB", negative, days, *time)
    text = b"%s%02d:%02d:%02d" % (b"-" if negative else b"", days * 24 + time[0], time[1], time[2])
    if microseconds is not None:
        value += microseconds.to_bytes(4, "little")
        text += b".%06d" % microseconds
    assert binary_to_text(value, FieldType.TIME) == text
    assert text_to_binary(text, FieldType.TIME) == value


def test_zero_length_temporal_values() -> None:
    assert binary_to_text(b"", FieldType.DATE) == b"0000-00-00"
    assert binary_to_text(b"", FieldType.DATETIME) == b"0000-00-00 00:00:00"
    assert binary_to_text(b"", FieldType.TIME) == b"00:00:00"
    assert text_to_binary(b"2024-01-02 03:04:05.5", FieldType.DATETIME)[7:] == (500000).to_bytes(4, "little")


def test_string_types_are_unchanged() -> None:
    for field_type in STRING_TYPES:
        assert binary_to_text("h\xe9".encode(), field_type) == "h\xe9".encode()
        assert text_to_binary(b"\x00\xff", field_type) == b"\x00\xff"
        assert encode_binary_value(b"abc", field_type) == b"\x03abc"


def test_bad_values() -> None:
    for value, field_type in [
        (b"\x01\x02\x03", FieldType.LONG),
        (b"\x01", FieldType.DOUBLE),
        (b"\x01\x02\x03", FieldType.DATE),
        (b"\x01" * 9, FieldType.TIME),
        (b"", FieldType.NULL),
    ]:
        with pytest.raises(ProtocolError):
            binary_to_text(value, field_type)
    with pytest.raises(ProtocolError):
        decode_binary_int(b"\x01\x02\x03")
    for text, field_type in [
        (b"1.5", FieldType.LONG),
        (b"2024-01-02 03:04:05", FieldType.DATE),
        (b"2024-01-02", FieldType.DATETIME),
        (b"1:2:3", FieldType.TIME),
        (b"x", FieldType.DOUBLE),
        (b"", FieldType.NULL),
    ]:
        with pytest.raises(ValueError):
            text_to_binary(text, field_type)
    with pytest.raises(ValueError):
        encode_binary_int(1, FieldType.VARCHAR)
    with pytest.raises(ValueError):
        encode_binary_value(b"\x01", FieldType.SHORT)
    with pytest.raises(ValueError):
        encode_binary_value(b"x" * 256, FieldType.DATE)


def test_null_bitmaps() -> None:
    assert null_bitmap([None, b"", None], 0) == b"\x05"
    assert null_bitmap([None] * 7, 2) == b"\xfc\x01"
    assert null_bitmap([], 2) == b"\x00"
    assert null_bitmap([], 0) == b""


@FUZZ
@given(st.binary(max_size=16), st.sampled_from(list(FieldType)) | st.integers(0, 0xFFFF), st.booleans())
def test_fuzz_value_helpers(value: bytes, field_type: int, unsigned: bool) -> None:
    for call in (
        lambda: binary_to_text(value, field_type, unsigned),
        lambda: read_binary_value(value, 0, field_type),
        lambda: decode_binary_int(value, unsigned),
    ):
        try:
            call()
        except ProtocolError:
            pass
