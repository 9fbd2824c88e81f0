"""Column types and the binary protocol's value encoding (prepared-statement parameters, binary rows and
query attributes), with helpers to turn binary values into the text protocol's form and back.

A binary value is kept as its raw bytes without its length prefix: the little-endian integer or float of a
fixed-size type, the 0/4/7/11 (date) or 0/8/12 (time) bytes after a temporal value's 1-byte length, or the
bytes of a length-encoded string for everything else (strings, BLOBs, JSON, DECIMAL, BIT, ENUM, GEOMETRY).

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from enum import IntEnum, IntFlag

from .wire import ProtocolError, lenenc_bytes, read_lenenc

__all__ = [
    "BINARY_SIZE",
    "LENENC",
    "STRING_TYPES",
    "TEMPORAL",
    "ColumnFlag",
    "FieldType",
    "binary_size",
    "binary_to_text",
    "decode_binary_int",
    "encode_binary_int",
    "encode_binary_value",
    "null_bitmap",
    "read_binary_value",
    "text_to_binary",
]


class FieldType(IntEnum):
    """Column and parameter types (MYSQL_TYPE_*)."""

    DECIMAL = 0
    TINY = 1
    SHORT = 2
    LONG = 3
    FLOAT = 4
    DOUBLE = 5
    NULL = 6
    TIMESTAMP = 7
    LONGLONG = 8
    INT24 = 9
    DATE = 10
    TIME = 11
    DATETIME = 12
    YEAR = 13
    NEWDATE = 14
    VARCHAR = 15
    BIT = 16
    TIMESTAMP2 = 17
    DATETIME2 = 18
    TIME2 = 19
    VECTOR = 242
    JSON = 245
    NEWDECIMAL = 246
    ENUM = 247
    SET = 248
    TINY_BLOB = 249
    MEDIUM_BLOB = 250
    LONG_BLOB = 251
    BLOB = 252
    VAR_STRING = 253
    STRING = 254
    GEOMETRY = 255


class ColumnFlag(IntFlag):
    """Column definition flags."""

    NOT_NULL = 1
    PRI_KEY = 2
    UNIQUE_KEY = 4
    MULTIPLE_KEY = 8
    BLOB = 16
    UNSIGNED = 32
    ZEROFILL = 64
    BINARY = 128
    ENUM = 256
    AUTO_INCREMENT = 512
    TIMESTAMP = 1024
    SET = 2048
    NO_DEFAULT_VALUE = 4096
    ON_UPDATE_NOW = 8192
    NUM = 32768


TEMPORAL = -1  # a 1-byte length, then 0/4/7/11 (date) or 0/8/12 (time) bytes
LENENC = -2  # a length-encoded string
BINARY_SIZE: dict[int, int] = {
    FieldType.NULL: 0,
    FieldType.TINY: 1,
    FieldType.SHORT: 2,
    FieldType.YEAR: 2,
    FieldType.INT24: 4,
    FieldType.LONG: 4,
    FieldType.FLOAT: 4,
    FieldType.LONGLONG: 8,
    FieldType.DOUBLE: 8,
    FieldType.DATE: TEMPORAL,
    FieldType.DATETIME: TEMPORAL,
    FieldType.TIMESTAMP: TEMPORAL,
    FieldType.TIME: TEMPORAL,
}
STRING_TYPES = frozenset(
    {
        FieldType.DECIMAL,
        FieldType.NEWDECIMAL,
        FieldType.VARCHAR,
        FieldType.VAR_STRING,
        FieldType.STRING,
        FieldType.TINY_BLOB,
        FieldType.MEDIUM_BLOB,
        FieldType.LONG_BLOB,
        FieldType.BLOB,
        FieldType.JSON,
        FieldType.ENUM,
        FieldType.SET,
        FieldType.BIT,
        FieldType.GEOMETRY,
        FieldType.VECTOR,
    }
)
_INT_TYPES = {FieldType.TINY, FieldType.SHORT, FieldType.YEAR, FieldType.INT24, FieldType.LONG, FieldType.LONGLONG}
_DATE_TYPES = {FieldType.DATE, FieldType.DATETIME, FieldType.TIMESTAMP}
_DATE_SIZES = (0, 4, 7, 11)
_TIME_SIZES = (0, 8, 12)


def binary_size(field_type: int) -> int:
    """The binary-protocol size of a value of ``field_type`` (the low byte of a parameter's type word):
    its fixed size in bytes, :data:`TEMPORAL` or :data:`LENENC` (the default for every other type)."""
    return BINARY_SIZE.get(field_type & 0xFF, LENENC)


def read_binary_value(buf: bytes, pos: int, field_type: int) -> tuple[bytes, int]:
    """The value of ``field_type`` at ``buf[pos:]`` (without its length prefix) and the position after it."""
    size = BINARY_SIZE.get(field_type & 0xFF, LENENC)
    if size == LENENC:
        length, pos = read_lenenc(buf, pos)
        if length is None:
            raise ProtocolError("unexpected NULL (0xfb) in a binary value")
    elif size == TEMPORAL:
        if pos >= len(buf):
            raise ProtocolError("binary value is truncated")
        length = buf[pos]
        pos += 1
    else:
        length = size
    end = pos + length
    if end > len(buf):
        raise ProtocolError("binary value is truncated")
    return buf[pos:end], end


def encode_binary_value(value: bytes, field_type: int) -> bytes:
    """``value`` with the length prefix its type needs (ValueError if a fixed-size value has the wrong size)."""
    size = BINARY_SIZE.get(field_type & 0xFF, LENENC)
    if size == LENENC:
        return lenenc_bytes(value)
    if size == TEMPORAL:
        if len(value) > 0xFF:
            raise ValueError("a temporal value is at most 255 bytes")
        return bytes((len(value),)) + value
    if len(value) != size:
        raise ValueError(f"a type {field_type & 0xFF} value is {size} bytes, not {len(value)}")
    return value


def null_bitmap(values: Sequence[object | None], offset: int) -> bytes:
    """The NULL bitmap of ``values``, the first value at bit ``offset`` (2 for binary rows, 0 for parameters)."""
    bitmap = bytearray((len(values) + offset + 7) // 8)
    for index, value in enumerate(values):
        if value is None:
            bit = index + offset
            bitmap[bit >> 3] |= 1 << (bit & 7)
    return bytes(bitmap)


# --- typed views ----------------------------------------------------------------------------------------


def decode_binary_int(value: bytes, unsigned: bool = False) -> int:
    """A binary TINY/SHORT/YEAR/INT24/LONG/LONGLONG value as an int."""
    if len(value) not in (1, 2, 4, 8):
        raise ProtocolError(f"a binary integer is 1, 2, 4 or 8 bytes, not {len(value)}")
    return int.from_bytes(value, "little", signed=not unsigned)


def encode_binary_int(number: int, field_type: int, unsigned: bool = False) -> bytes:
    """``number`` as a binary value of integer type ``field_type`` (ValueError if it does not fit)."""
    size = BINARY_SIZE.get(field_type & 0xFF, LENENC)
    if field_type & 0xFF not in _INT_TYPES:
        raise ValueError(f"type {field_type & 0xFF} is not an integer type")
    try:
        return number.to_bytes(size, "little", signed=not unsigned)
    except OverflowError:
        raise ValueError(f"{number} does not fit a type {field_type & 0xFF} value") from None


def _temporal_to_text(value: bytes, field_type: int) -> bytes:
    size = len(value)
    if field_type == FieldType.TIME:
        if size not in _TIME_SIZES:
            raise ProtocolError(f"a binary TIME value is 0, 8 or 12 bytes, not {size}")
        if not size:
            return b"00:00:00"
        negative, days, hour, minute, second = struct.unpack_from("<BIBBB", value)
        text = f"{'-' if negative else ''}{days * 24 + hour:02d}:{minute:02d}:{second:02d}"
        if size == 12:
            text += f".{int.from_bytes(value[8:], 'little'):06d}"
        return text.encode()
    if size not in _DATE_SIZES:
        raise ProtocolError(f"a binary date value is 0, 4, 7 or 11 bytes, not {size}")
    year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", value.ljust(7, b"\0"))
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if field_type != FieldType.DATE:
        text += f" {hour:02d}:{minute:02d}:{second:02d}"
        if size == 11:
            text += f".{int.from_bytes(value[7:], 'little'):06d}"
    return text.encode()


_DATE_RE = re.compile(rb"(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?")
_TIME_RE = re.compile(rb"(-?)(\d{2,3}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")


def _micro(digits: bytes | None) -> int:
    return int(digits.ljust(6, b"0")) if digits else 0


def _text_to_temporal(text: bytes, field_type: int) -> bytes:
    if field_type == FieldType.TIME:
        match = _TIME_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"not a TIME value: {text!r}")
        sign, hours, minute, second, micro = match.groups()
        days, hours_left = divmod(int(hours), 24)
        out = struct.pack("<BIBBB", 1 if sign else 0, days, hours_left, int(minute), int(second))
        return out + (_micro(micro).to_bytes(4, "little") if micro else b"")
    match = _DATE_RE.fullmatch(text)
    if match is None or (field_type == FieldType.DATE) != (match.group(4) is None):
        raise ValueError(f"not a type {field_type} value: {text!r}")
    year, month, day, hour, minute, second, micro = match.groups()
    out = struct.pack("<HBB", int(year), int(month), int(day))
    if hour is not None:
        out += bytes((int(hour), int(minute), int(second)))
        if micro:
            out += _micro(micro).to_bytes(4, "little")
    return out


def binary_to_text(value: bytes, field_type: int, unsigned: bool = False) -> bytes:
    """A binary-protocol value as the text protocol would carry it: string types unchanged, integers and
    floats in decimal, dates and times as ``YYYY-MM-DD[ hh:mm:ss[.ffffff]]`` and ``[-]hh:mm:ss[.ffffff]``."""
    field_type &= 0xFF
    if field_type in _INT_TYPES:
        if len(value) != BINARY_SIZE[field_type]:
            raise ProtocolError(f"a type {field_type} value is {BINARY_SIZE[field_type]} bytes, not {len(value)}")
        return str(int.from_bytes(value, "little", signed=not unsigned)).encode()
    if field_type == FieldType.FLOAT or field_type == FieldType.DOUBLE:
        size = BINARY_SIZE[field_type]
        if len(value) != size:
            raise ProtocolError(f"a type {field_type} value is {size} bytes, not {len(value)}")
        number: float = struct.unpack("<f" if size == 4 else "<d", value)[0]
        return (f"{number:.7g}" if size == 4 else repr(number)).encode()
    if field_type in _DATE_TYPES or field_type == FieldType.TIME:
        return _temporal_to_text(value, field_type)
    if field_type == FieldType.NULL:
        raise ProtocolError("a NULL-type value has no text")
    return value


def text_to_binary(text: bytes, field_type: int, unsigned: bool = False) -> bytes:
    """The inverse of :func:`binary_to_text` (ValueError if ``text`` is not a value of ``field_type``)."""
    field_type &= 0xFF
    if field_type in _INT_TYPES:
        if not re.fullmatch(rb"-?\d+", text):
            raise ValueError(f"not an integer: {text!r}")
        return encode_binary_int(int(text), field_type, unsigned)
    if field_type == FieldType.FLOAT or field_type == FieldType.DOUBLE:
        return struct.pack("<f" if field_type == FieldType.FLOAT else "<d", float(text))
    if field_type in _DATE_TYPES or field_type == FieldType.TIME:
        return _text_to_temporal(text, field_type)
    if field_type == FieldType.NULL:
        raise ValueError("a NULL-type value has no text")
    return text
