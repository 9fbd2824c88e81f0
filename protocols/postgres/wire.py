"""PostgreSQL v3 wire primitives: the error type, the type-byte enums, the body cursor and encoders, the
hot-path helpers, and the message base classes and type-byte dispatch shared by the message modules.

Every message (:mod:`.frontend`, :mod:`.backend_session`, :mod:`.backend`) is a frozen slotted dataclass with
a ``type_byte`` class attribute, ``body()`` (the bytes after the 5-byte header), ``encode()`` (the whole
frame) and a ``decode(body)`` classmethod, so ``M.decode(m.encode()[5:]) == m``.

Decoding treats its input as hostile: the only exception a decode/parse function lets escape is
:class:`ProtocolError`. Encoding treats its input as trusted and raises :class:`ValueError` for values that
cannot be put on the wire (a NUL in a string, an out-of-range integer, too many items for an int16 count).

Import from :mod:`.codec`, which re-exports everything in ``__all__``; this module depends on nothing but
the standard library (no I/O).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any, ClassVar, Self, TypeVar

__all__ = [
    "Backend",
    "BodyReader",
    "Frontend",
    "ProtocolError",
    "data_row_values",
    "encode_cstring",
    "encode_data_row",
    "encode_fields",
    "error_fields",
    "frame",
    "pack_int16s",
    "pack_uint32s",
    "pack_values",
    "parse_fields",
    "ready_status",
]

_HEADER = struct.Struct("!Bi")
_U8 = struct.Struct("!B")
_I8 = struct.Struct("!b")
_I16 = struct.Struct("!h")
_U16 = struct.Struct("!H")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_NULL = b"\xff\xff\xff\xff"
_READY_STATES = frozenset((b"I", b"T", b"E"))


class ProtocolError(Exception):
    """The peer broke the protocol. ``sqlstate`` is what to report to the client (08P01 unless refined)."""

    sqlstate: str = "08P01"

    def __init__(self, message: str, sqlstate: str = "08P01") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class Frontend(IntEnum):
    """Type bytes of the messages a client sends."""

    BIND = ord("B")
    CLOSE = ord("C")
    COPY_DATA = ord("d")
    COPY_DONE = ord("c")
    COPY_FAIL = ord("f")
    DESCRIBE = ord("D")
    EXECUTE = ord("E")
    FLUSH = ord("H")
    FUNCTION_CALL = ord("F")
    PARSE = ord("P")
    PASSWORD = ord("p")
    QUERY = ord("Q")
    SYNC = ord("S")
    TERMINATE = ord("X")


class Backend(IntEnum):
    """Type bytes of the messages a server sends."""

    AUTHENTICATION = ord("R")
    BACKEND_KEY_DATA = ord("K")
    BIND_COMPLETE = ord("2")
    CLOSE_COMPLETE = ord("3")
    COMMAND_COMPLETE = ord("C")
    COPY_DATA = ord("d")
    COPY_DONE = ord("c")
    COPY_IN_RESPONSE = ord("G")
    COPY_OUT_RESPONSE = ord("H")
    COPY_BOTH_RESPONSE = ord("W")
    DATA_ROW = ord("D")
    EMPTY_QUERY_RESPONSE = ord("I")
    ERROR_RESPONSE = ord("E")
    FUNCTION_CALL_RESPONSE = ord("V")
    NEGOTIATE_PROTOCOL_VERSION = ord("v")
    NO_DATA = ord("n")
    NOTICE_RESPONSE = ord("N")
    NOTIFICATION_RESPONSE = ord("A")
    PARAMETER_DESCRIPTION = ord("t")
    PARAMETER_STATUS = ord("S")
    PARSE_COMPLETE = ord("1")
    PORTAL_SUSPENDED = ord("s")
    READY_FOR_QUERY = ord("Z")
    ROW_DESCRIPTION = ord("T")


# --- decoding and encoding primitives ------------------------------------------------------------------


class BodyReader:
    """A cursor over a message body. Every way of running off the end raises :class:`ProtocolError`."""

    __slots__ = ("_buf", "_end", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self._buf = buf
        self._end = len(buf)
        self.pos = pos

    def _advance(self, size: int) -> int:
        pos = self.pos
        if size < 0 or pos + size > self._end:
            raise ProtocolError("message body is truncated")
        self.pos = pos + size
        return pos

    def _unpack(self, fmt: struct.Struct) -> int:
        value: int = fmt.unpack_from(self._buf, self._advance(fmt.size))[0]
        return value

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        return fmt.unpack_from(self._buf, self._advance(fmt.size))

    def byte(self) -> int:
        return self._unpack(_U8)

    def int8(self) -> int:
        return self._unpack(_I8)

    def int16(self) -> int:
        return self._unpack(_I16)

    def uint16(self) -> int:
        return self._unpack(_U16)

    def int32(self) -> int:
        return self._unpack(_I32)

    def uint32(self) -> int:
        return self._unpack(_U32)

    def take(self, size: int) -> bytes:
        pos = self._advance(size)
        return self._buf[pos : pos + size]

    def rest(self) -> bytes:
        pos, self.pos = self.pos, self._end
        return self._buf[pos:]

    def cstring(self) -> str:
        buf, pos = self._buf, self.pos
        nul = buf.find(b"\0", pos)
        if nul < 0:
            raise ProtocolError("string is missing its NUL terminator")
        self.pos = nul + 1
        try:
            return buf[pos:nul].decode()
        except UnicodeDecodeError:
            raise ProtocolError("string is not valid UTF-8") from None

    def int16s(self, count: int) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack_from(f"!{count}h", self._buf, self._advance(2 * count))
        return values

    def uint32s(self, count: int) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack_from(f"!{count}I", self._buf, self._advance(4 * count))
        return values

    def value(self) -> bytes | None:
        """An int32 length (-1 for NULL) followed by that many bytes."""
        size = self.int32()
        if size < 0:
            if size == -1:
                return None
            raise ProtocolError(f"invalid value length {size}")
        return self.take(size)

    def values(self, count: int) -> tuple[bytes | None, ...]:
        return tuple([self.value() for _ in range(count)])

    def finish(self) -> None:
        if self.pos != self._end:
            raise ProtocolError(f"{self._end - self.pos} unexpected trailing bytes in message")


def encode_cstring(text: str) -> bytes:
    """UTF-8 and a NUL terminator. ValueError if ``text`` itself contains a NUL."""
    data = text.encode()
    if b"\0" in data:
        raise ValueError(f"string contains a NUL character: {text!r}")
    return data + b"\0"


def _count(count: int) -> bytes:
    if count > 0xFFFF:
        raise ValueError(f"{count} items do not fit an int16 count")
    return _U16.pack(count)


def pack_int16s(values: Sequence[int]) -> bytes:
    """An int16 count followed by that many int16 values."""
    return _count(len(values)) + struct.pack(f"!{len(values)}h", *values)


def pack_uint32s(values: Sequence[int]) -> bytes:
    """An int16 count followed by that many uint32 values (OIDs)."""
    return _count(len(values)) + struct.pack(f"!{len(values)}I", *values)


def pack_values(values: Sequence[bytes | None]) -> bytes:
    """An int16 count followed by length-prefixed values (length -1 for NULL)."""
    parts = [_count(len(values))]
    for value in values:
        if value is None:
            parts.append(_NULL)
        else:
            parts.append(_I32.pack(len(value)))
            parts.append(value)
    return b"".join(parts)


def _pack_value(value: bytes | None) -> bytes:
    """One length-prefixed value (length -1 for NULL)."""
    return _NULL if value is None else _I32.pack(len(value)) + value


def frame(type_byte: int, body: bytes) -> bytes:
    """A whole frame: the type byte, the int32 length (which counts itself) and ``body``."""
    return _HEADER.pack(type_byte, len(body) + 4) + body


# --- hot-path helpers -----------------------------------------------------------------------------------


def ready_status(body: bytes) -> bytes:
    """The transaction status of a ReadyForQuery body: b"I", b"T" or b"E"."""
    if body in _READY_STATES:
        return body
    raise ProtocolError(f"invalid ReadyForQuery body {body[:8]!r}")


def data_row_values(body: bytes) -> list[bytes | None]:
    """The column values of a DataRow body (None for NULL)."""
    size = len(body)
    if size < 2:
        raise ProtocolError("DataRow is truncated")
    (count,) = _U16.unpack_from(body)
    values: list[bytes | None] = []
    append = values.append
    unpack = _I32.unpack_from
    pos = 2
    for _ in range(count):
        if pos + 4 > size:
            raise ProtocolError("DataRow is truncated")
        (length,) = unpack(body, pos)
        pos += 4
        if length < 0:
            if length != -1:
                raise ProtocolError(f"invalid DataRow value length {length}")
            append(None)
            continue
        end = pos + length
        if end > size:
            raise ProtocolError("DataRow is truncated")
        append(body[pos:end])
        pos = end
    if pos != size:
        raise ProtocolError(f"{size - pos} unexpected trailing bytes in DataRow")
    return values


def encode_data_row(values: Sequence[bytes | None]) -> bytes:
    """A whole DataRow frame, built with a single join."""
    parts = [b"", _count(len(values))]
    append = parts.append
    pack = _I32.pack
    total = 6
    for value in values:
        if value is None:
            append(_NULL)
            total += 4
        else:
            append(pack(len(value)))
            append(value)
            total += 4 + len(value)
    parts[0] = _HEADER.pack(Backend.DATA_ROW, total)
    return b"".join(parts)


def parse_fields(body: bytes) -> list[tuple[str, str]]:
    """The (code, value) fields of an ErrorResponse/NoticeResponse body, in wire order."""
    reader = BodyReader(body)
    fields: list[tuple[str, str]] = []
    while code := reader.byte():
        if code >= 0x80:
            raise ProtocolError(f"invalid error field code {code:#04x}")
        fields.append((chr(code), reader.cstring()))
    reader.finish()
    return fields


def error_fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse/NoticeResponse body by code (``S``, ``V``, ``C``, ``M``, ...)."""
    return dict(parse_fields(body))


def encode_fields(fields: Sequence[tuple[str, str]]) -> bytes:
    """An ErrorResponse/NoticeResponse body."""
    parts = []
    for code, value in fields:
        if len(code) != 1 or code == "\0" or not code.isascii():
            raise ValueError(f"invalid error field code {code!r}")
        parts.append(code.encode())
        parts.append(encode_cstring(value))
    parts.append(b"\0")
    return b"".join(parts)


# --- message base classes and dispatch ------------------------------------------------------------------

_M = TypeVar("_M")


class _Message:
    __slots__ = ()
    type_byte: ClassVar[int]

    def body(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The whole frame. ValueError if a field cannot be put on the wire."""
        try:
            return frame(self.type_byte, self.body())
        except struct.error as exc:
            raise ValueError(f"cannot encode {type(self).__name__}: {exc}") from exc


class _Empty(_Message):
    __slots__ = ()

    def body(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, body: bytes) -> Self:
        if body:
            raise ProtocolError(f"{cls.__name__} must have an empty body")
        return cls()


class _Raw(_Message):
    """A message whose body is opaque bytes."""

    __slots__ = ()
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(body)  # type: ignore[call-arg]


def _decode(table: dict[int, Callable[[bytes], _M]], direction: str, type_byte: int, body: bytes) -> _M:
    """Decode ``body`` with ``table[type_byte]``; every failure, an unknown type byte included, is a ProtocolError."""
    decoder = table.get(type_byte)
    if decoder is None:
        raise ProtocolError(f"invalid {direction} message type {type_byte:#04x}")
    try:
        return decoder(body)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"malformed {direction} message {type_byte:#04x}: {exc}") from exc
