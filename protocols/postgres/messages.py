"""PostgreSQL v3 wire primitives and messages: the error type, the type-byte enums, the body cursor and
encoders, the hot-path helpers, one frozen slotted dataclass per message, and the per-direction decoders.

Every message has a ``type_byte`` class attribute, ``body()`` (the bytes after the 5-byte header),
``encode()`` (the whole frame) and a ``decode(body)`` classmethod, so ``M.decode(m.encode()[5:]) == m``.
``decode_frontend`` and ``decode_backend`` pick the class from the type byte; the same byte means different
things in the two directions.

Decoding treats its input as hostile: the only exception a decode/parse function lets escape is
:class:`ProtocolError`. Encoding treats its input as trusted and raises :class:`ValueError` for values that
cannot be put on the wire (a NUL in a string, an out-of-range integer, too many items for an int16 count).

Import from :mod:`.codec`, which re-exports everything here; this module exists to keep files small and
depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Self, TypeAlias, TypeVar

__all__ = [
    "AuthenticationCleartextPassword",
    "AuthenticationMD5Password",
    "AuthenticationMessage",
    "AuthenticationOk",
    "AuthenticationRequest",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "Backend",
    "BackendKeyData",
    "BackendMessage",
    "Bind",
    "BindComplete",
    "BodyReader",
    "Close",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "Describe",
    "EmptyQueryResponse",
    "ErrorResponse",
    "Execute",
    "FieldDescription",
    "Flush",
    "Frontend",
    "FrontendMessage",
    "FunctionCall",
    "FunctionCallResponse",
    "NegotiateProtocolVersion",
    "NoData",
    "NoticeResponse",
    "NotificationResponse",
    "ParameterDescription",
    "ParameterStatus",
    "Parse",
    "ParseComplete",
    "PasswordMessage",
    "PortalSuspended",
    "ProtocolError",
    "Query",
    "ReadyForQuery",
    "RowDescription",
    "SASLInitialResponse",
    "SASLResponse",
    "Sync",
    "Terminate",
    "data_row_values",
    "decode_backend",
    "decode_frontend",
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


# --- messages ------------------------------------------------------------------------------------------

_KINDS = (b"S", b"P")
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


def _kind(kind: bytes) -> bytes:
    if kind not in _KINDS:
        raise ValueError(f"kind must be b'S' or b'P', not {kind!r}")
    return kind


def _read_kind(reader: BodyReader) -> bytes:
    kind = reader.take(1)
    if kind not in _KINDS:
        raise ProtocolError(f"invalid object kind {kind!r}")
    return kind


# --- frontend -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query(_Message):
    type_byte: ClassVar[int] = Frontend.QUERY
    sql: str

    def body(self) -> bytes:
        return encode_cstring(self.sql)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        sql = reader.cstring()
        reader.finish()
        return cls(sql)


@dataclass(frozen=True, slots=True)
class Parse(_Message):
    type_byte: ClassVar[int] = Frontend.PARSE
    name: str
    query: str
    param_types: tuple[int, ...] = ()

    def body(self) -> bytes:
        return encode_cstring(self.name) + encode_cstring(self.query) + pack_uint32s(self.param_types)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        name, query = reader.cstring(), reader.cstring()
        param_types = reader.uint32s(reader.uint16())
        reader.finish()
        return cls(name, query, param_types)


@dataclass(frozen=True, slots=True)
class Bind(_Message):
    type_byte: ClassVar[int] = Frontend.BIND
    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()

    def body(self) -> bytes:
        return b"".join(
            (
                encode_cstring(self.portal),
                encode_cstring(self.statement),
                pack_int16s(self.param_formats),
                pack_values(self.params),
                pack_int16s(self.result_formats),
            )
        )

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        portal, statement = reader.cstring(), reader.cstring()
        param_formats = reader.int16s(reader.uint16())
        params = reader.values(reader.uint16())
        result_formats = reader.int16s(reader.uint16())
        reader.finish()
        return cls(portal, statement, param_formats, params, result_formats)


@dataclass(frozen=True, slots=True)
class Describe(_Message):
    type_byte: ClassVar[int] = Frontend.DESCRIBE
    kind: bytes  # b"S" (prepared statement) or b"P" (portal)
    name: str

    def body(self) -> bytes:
        return _kind(self.kind) + encode_cstring(self.name)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        kind = _read_kind(reader)
        name = reader.cstring()
        reader.finish()
        return cls(kind, name)


@dataclass(frozen=True, slots=True)
class Close(_Message):
    type_byte: ClassVar[int] = Frontend.CLOSE
    kind: bytes  # b"S" (prepared statement) or b"P" (portal)
    name: str

    def body(self) -> bytes:
        return _kind(self.kind) + encode_cstring(self.name)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        kind = _read_kind(reader)
        name = reader.cstring()
        reader.finish()
        return cls(kind, name)


@dataclass(frozen=True, slots=True)
class Execute(_Message):
    type_byte: ClassVar[int] = Frontend.EXECUTE
    portal: str
    max_rows: int = 0  # 0 = no limit

    def body(self) -> bytes:
        return encode_cstring(self.portal) + _I32.pack(self.max_rows)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        portal = reader.cstring()
        max_rows = reader.int32()
        reader.finish()
        return cls(portal, max_rows)


@dataclass(frozen=True, slots=True)
class Sync(_Empty):
    type_byte: ClassVar[int] = Frontend.SYNC


@dataclass(frozen=True, slots=True)
class Flush(_Empty):
    type_byte: ClassVar[int] = Frontend.FLUSH


@dataclass(frozen=True, slots=True)
class Terminate(_Empty):
    type_byte: ClassVar[int] = Frontend.TERMINATE


@dataclass(frozen=True, slots=True)
class CopyData(_Raw):
    """Sent in both directions (the type byte is ``d`` either way)."""

    type_byte: ClassVar[int] = Frontend.COPY_DATA
    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone(_Empty):
    """Sent in both directions (the type byte is ``c`` either way)."""

    type_byte: ClassVar[int] = Frontend.COPY_DONE


@dataclass(frozen=True, slots=True)
class CopyFail(_Message):
    type_byte: ClassVar[int] = Frontend.COPY_FAIL
    message: str

    def body(self) -> bytes:
        return encode_cstring(self.message)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        message = reader.cstring()
        reader.finish()
        return cls(message)


@dataclass(frozen=True, slots=True)
class FunctionCall(_Message):
    type_byte: ClassVar[int] = Frontend.FUNCTION_CALL
    oid: int
    arg_formats: tuple[int, ...] = ()
    args: tuple[bytes | None, ...] = ()
    result_format: int = 0

    def body(self) -> bytes:
        return b"".join(
            (
                _U32.pack(self.oid),
                pack_int16s(self.arg_formats),
                pack_values(self.args),
                _I16.pack(self.result_format),
            )
        )

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        oid = reader.uint32()
        arg_formats = reader.int16s(reader.uint16())
        args = reader.values(reader.uint16())
        result_format = reader.int16()
        reader.finish()
        return cls(oid, arg_formats, args, result_format)


@dataclass(frozen=True, slots=True)
class PasswordMessage(_Raw):
    """Any ``p`` message. Its meaning depends on the authentication exchange in progress, so the decoder
    keeps the raw body; read it with :meth:`password`, :meth:`SASLInitialResponse.decode` or
    :meth:`SASLResponse.decode`."""

    type_byte: ClassVar[int] = Frontend.PASSWORD
    data: bytes

    @classmethod
    def from_password(cls, password: str) -> Self:
        """A cleartext or MD5 ("md5" + hex digest) password message."""
        return cls(encode_cstring(password))

    def password(self) -> str:
        """The NUL-terminated password string (cleartext, or "md5" + hex digest)."""
        reader = BodyReader(self.data)
        password = reader.cstring()
        reader.finish()
        return password


@dataclass(frozen=True, slots=True)
class SASLInitialResponse(_Message):
    type_byte: ClassVar[int] = Frontend.PASSWORD
    mechanism: str
    data: bytes | None = None

    def body(self) -> bytes:
        data = self.data
        if data is None:
            return encode_cstring(self.mechanism) + b"\xff\xff\xff\xff"
        return encode_cstring(self.mechanism) + _I32.pack(len(data)) + data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        mechanism = reader.cstring()
        data = reader.value()
        reader.finish()
        return cls(mechanism, data)


@dataclass(frozen=True, slots=True)
class SASLResponse(_Raw):
    type_byte: ClassVar[int] = Frontend.PASSWORD
    data: bytes


# --- backend: authentication ----------------------------------------------------------------------------


class _Auth(_Message):
    """An authentication request without payload beyond its code."""

    __slots__ = ()
    type_byte: ClassVar[int] = Backend.AUTHENTICATION
    code: ClassVar[int]

    def body(self) -> bytes:
        return _I32.pack(self.code)

    @classmethod
    def _reader(cls, body: bytes) -> BodyReader:
        reader = BodyReader(body)
        if reader.int32() != cls.code:
            raise ProtocolError(f"not an {cls.__name__} message")
        return reader

    @classmethod
    def decode(cls, body: bytes) -> Self:
        cls._reader(body).finish()
        return cls()


class _AuthData(_Auth):
    """An authentication request whose payload is the rest of the body."""

    __slots__ = ()
    data: bytes

    def body(self) -> bytes:
        return _I32.pack(self.code) + self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(cls._reader(body).rest())  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class AuthenticationOk(_Auth):
    code: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword(_Auth):
    code: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password(_Auth):
    code: ClassVar[int] = 5
    salt: bytes

    def body(self) -> bytes:
        if len(self.salt) != 4:
            raise ValueError("the MD5 salt is 4 bytes")
        return _I32.pack(self.code) + self.salt

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = cls._reader(body)
        salt = reader.take(4)
        reader.finish()
        return cls(salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL(_Auth):
    code: ClassVar[int] = 10
    mechanisms: tuple[str, ...]

    def body(self) -> bytes:
        if not all(self.mechanisms):
            raise ValueError("SASL mechanism names must not be empty")
        return _I32.pack(self.code) + b"".join(map(encode_cstring, self.mechanisms)) + b"\0"

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = cls._reader(body)
        mechanisms = []
        while mechanism := reader.cstring():
            mechanisms.append(mechanism)
        reader.finish()
        return cls(tuple(mechanisms))


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue(_AuthData):
    code: ClassVar[int] = 11
    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal(_AuthData):
    code: ClassVar[int] = 12
    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationRequest(_Message):
    """Any other authentication request (KerberosV5 2, GSS 7, GSSContinue 8, SSPI 9, ...), kept raw."""

    type_byte: ClassVar[int] = Backend.AUTHENTICATION
    code: int
    data: bytes = b""

    def body(self) -> bytes:
        return _I32.pack(self.code) + self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        code = reader.int32()
        return cls(code, reader.rest())


_AUTH_CLASSES: dict[int, Callable[[bytes], AuthenticationMessage]] = {
    auth.code: auth.decode
    for auth in (
        AuthenticationOk,
        AuthenticationCleartextPassword,
        AuthenticationMD5Password,
        AuthenticationSASL,
        AuthenticationSASLContinue,
        AuthenticationSASLFinal,
    )
}


def _decode_authentication(body: bytes) -> AuthenticationMessage:
    code = BodyReader(body).int32()
    return _AUTH_CLASSES.get(code, AuthenticationRequest.decode)(body)


# --- backend: everything else ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendKeyData(_Message):
    type_byte: ClassVar[int] = Backend.BACKEND_KEY_DATA
    pid: int
    secret: int

    def body(self) -> bytes:
        return _U32.pack(self.pid) + _U32.pack(self.secret)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        pid, secret = reader.uint32(), reader.uint32()
        reader.finish()
        return cls(pid, secret)


@dataclass(frozen=True, slots=True)
class ParameterStatus(_Message):
    type_byte: ClassVar[int] = Backend.PARAMETER_STATUS
    name: str
    value: str

    def body(self) -> bytes:
        return encode_cstring(self.name) + encode_cstring(self.value)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        name, value = reader.cstring(), reader.cstring()
        reader.finish()
        return cls(name, value)


@dataclass(frozen=True, slots=True)
class ReadyForQuery(_Message):
    type_byte: ClassVar[int] = Backend.READY_FOR_QUERY
    status: bytes  # b"I" idle, b"T" in a transaction, b"E" in a failed transaction

    def body(self) -> bytes:
        if self.status not in (b"I", b"T", b"E"):
            raise ValueError(f"invalid transaction status {self.status!r}")
        return self.status

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(ready_status(body))


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One column of a RowDescription."""

    name: str
    table_oid: int = 0
    column: int = 0
    type_oid: int = 0
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0


_FIELD = struct.Struct("!IhIhih")


@dataclass(frozen=True, slots=True)
class RowDescription(_Message):
    type_byte: ClassVar[int] = Backend.ROW_DESCRIPTION
    fields: tuple[FieldDescription, ...]

    def body(self) -> bytes:
        parts = [_U16.pack(len(self.fields))]
        for f in self.fields:
            parts.append(encode_cstring(f.name))
            parts.append(_FIELD.pack(f.table_oid, f.column, f.type_oid, f.type_size, f.type_modifier, f.format))
        return b"".join(parts)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        fields = []
        for _ in range(reader.uint16()):
            name = reader.cstring()
            fields.append(FieldDescription(name, *reader.unpack(_FIELD)))
        reader.finish()
        return cls(tuple(fields))


@dataclass(frozen=True, slots=True)
class DataRow(_Message):
    type_byte: ClassVar[int] = Backend.DATA_ROW
    values: tuple[bytes | None, ...]  # None is SQL NULL

    def body(self) -> bytes:
        return self.encode()[5:]

    def encode(self) -> bytes:
        return encode_data_row(self.values)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(tuple(data_row_values(body)))


@dataclass(frozen=True, slots=True)
class CommandComplete(_Message):
    type_byte: ClassVar[int] = Backend.COMMAND_COMPLETE
    tag: str

    def body(self) -> bytes:
        return encode_cstring(self.tag)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        tag = reader.cstring()
        reader.finish()
        return cls(tag)


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse(_Empty):
    type_byte: ClassVar[int] = Backend.EMPTY_QUERY_RESPONSE


class _Fields(_Message):
    __slots__ = ()
    fields: tuple[tuple[str, str], ...]

    def body(self) -> bytes:
        return encode_fields(self.fields)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(tuple(parse_fields(body)))  # type: ignore[call-arg]

    @classmethod
    def build(
        cls,
        sqlstate: str,
        message: str,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
    ) -> Self:
        """Fields S and V (severity), C (sqlstate), M, and D/H when given."""
        if len(sqlstate) != 5 or not sqlstate.isascii() or not sqlstate.isalnum():
            raise ValueError(f"invalid SQLSTATE {sqlstate!r}")
        fields = [("S", severity), ("V", severity), ("C", sqlstate), ("M", message)]
        if detail is not None:
            fields.append(("D", detail))
        if hint is not None:
            fields.append(("H", hint))
        return cls(tuple(fields))  # type: ignore[call-arg]

    def field(self, code: str) -> str | None:
        """The value of the first field with this code, or None."""
        for field_code, value in self.fields:
            if field_code == code:
                return value
        return None

    @property
    def sqlstate(self) -> str:
        return self.field("C") or ""

    @property
    def message(self) -> str:
        return self.field("M") or ""

    @property
    def severity(self) -> str:
        """The non-localized severity (V) when present, else the localized one (S)."""
        return self.field("V") or self.field("S") or ""


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Fields):
    type_byte: ClassVar[int] = Backend.ERROR_RESPONSE
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Fields):
    type_byte: ClassVar[int] = Backend.NOTICE_RESPONSE
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NotificationResponse(_Message):
    type_byte: ClassVar[int] = Backend.NOTIFICATION_RESPONSE
    pid: int
    channel: str
    payload: str = ""

    def body(self) -> bytes:
        return _U32.pack(self.pid) + encode_cstring(self.channel) + encode_cstring(self.payload)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        pid = reader.uint32()
        channel, payload = reader.cstring(), reader.cstring()
        reader.finish()
        return cls(pid, channel, payload)


@dataclass(frozen=True, slots=True)
class ParseComplete(_Empty):
    type_byte: ClassVar[int] = Backend.PARSE_COMPLETE


@dataclass(frozen=True, slots=True)
class BindComplete(_Empty):
    type_byte: ClassVar[int] = Backend.BIND_COMPLETE


@dataclass(frozen=True, slots=True)
class CloseComplete(_Empty):
    type_byte: ClassVar[int] = Backend.CLOSE_COMPLETE


@dataclass(frozen=True, slots=True)
class NoData(_Empty):
    type_byte: ClassVar[int] = Backend.NO_DATA


@dataclass(frozen=True, slots=True)
class PortalSuspended(_Empty):
    type_byte: ClassVar[int] = Backend.PORTAL_SUSPENDED


@dataclass(frozen=True, slots=True)
class ParameterDescription(_Message):
    type_byte: ClassVar[int] = Backend.PARAMETER_DESCRIPTION
    type_oids: tuple[int, ...]

    def body(self) -> bytes:
        return pack_uint32s(self.type_oids)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        type_oids = reader.uint32s(reader.uint16())
        reader.finish()
        return cls(type_oids)


class _CopyResponse(_Message):
    __slots__ = ()
    format: int  # 0 text, 1 binary
    column_formats: tuple[int, ...]

    def body(self) -> bytes:
        return struct.pack("!b", self.format) + pack_int16s(self.column_formats)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        copy_format = reader.int8()
        column_formats = reader.int16s(reader.uint16())
        reader.finish()
        return cls(copy_format, column_formats)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class CopyInResponse(_CopyResponse):
    type_byte: ClassVar[int] = Backend.COPY_IN_RESPONSE
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyOutResponse(_CopyResponse):
    type_byte: ClassVar[int] = Backend.COPY_OUT_RESPONSE
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyBothResponse(_CopyResponse):
    type_byte: ClassVar[int] = Backend.COPY_BOTH_RESPONSE
    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FunctionCallResponse(_Message):
    type_byte: ClassVar[int] = Backend.FUNCTION_CALL_RESPONSE
    value: bytes | None  # None is SQL NULL

    def body(self) -> bytes:
        return pack_values((self.value,))[2:]

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        value = reader.value()
        reader.finish()
        return cls(value)


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion(_Message):
    type_byte: ClassVar[int] = Backend.NEGOTIATE_PROTOCOL_VERSION
    minor: int  # newest minor protocol version the server supports
    options: tuple[str, ...] = ()  # protocol options the server did not recognise

    def body(self) -> bytes:
        options = b"".join(map(encode_cstring, self.options))
        return _I32.pack(self.minor) + _I32.pack(len(self.options)) + options

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        minor, count = reader.int32(), reader.int32()
        if count < 0:
            raise ProtocolError(f"invalid option count {count}")
        options = tuple([reader.cstring() for _ in range(count)])
        reader.finish()
        return cls(minor, options)


# --- dispatch -------------------------------------------------------------------------------------------

AuthenticationMessage: TypeAlias = (
    AuthenticationOk
    | AuthenticationCleartextPassword
    | AuthenticationMD5Password
    | AuthenticationSASL
    | AuthenticationSASLContinue
    | AuthenticationSASLFinal
    | AuthenticationRequest
)
FrontendMessage: TypeAlias = (
    Bind
    | Close
    | CopyData
    | CopyDone
    | CopyFail
    | Describe
    | Execute
    | Flush
    | FunctionCall
    | Parse
    | PasswordMessage
    | SASLInitialResponse
    | SASLResponse
    | Query
    | Sync
    | Terminate
)
BackendMessage: TypeAlias = (
    AuthenticationMessage
    | BackendKeyData
    | BindComplete
    | CloseComplete
    | CommandComplete
    | CopyData
    | CopyDone
    | CopyInResponse
    | CopyOutResponse
    | CopyBothResponse
    | DataRow
    | EmptyQueryResponse
    | ErrorResponse
    | FunctionCallResponse
    | NegotiateProtocolVersion
    | NoData
    | NoticeResponse
    | NotificationResponse
    | ParameterDescription
    | ParameterStatus
    | ParseComplete
    | PortalSuspended
    | ReadyForQuery
    | RowDescription
)

_FRONTEND: dict[int, Callable[[bytes], FrontendMessage]] = {
    cls.type_byte: cls.decode
    for cls in (
        Bind,
        Close,
        CopyData,
        CopyDone,
        CopyFail,
        Describe,
        Execute,
        Flush,
        FunctionCall,
        Parse,
        PasswordMessage,
        Query,
        Sync,
        Terminate,
    )
}
_BACKEND: dict[int, Callable[[bytes], BackendMessage]] = {
    cls.type_byte: cls.decode
    for cls in (
        BackendKeyData,
        BindComplete,
        CloseComplete,
        CommandComplete,
        CopyData,
        CopyDone,
        CopyInResponse,
        CopyOutResponse,
        CopyBothResponse,
        DataRow,
        EmptyQueryResponse,
        ErrorResponse,
        FunctionCallResponse,
        NegotiateProtocolVersion,
        NoData,
        NoticeResponse,
        NotificationResponse,
        ParameterDescription,
        ParameterStatus,
        ParseComplete,
        PortalSuspended,
        ReadyForQuery,
        RowDescription,
    )
}
_BACKEND[Backend.AUTHENTICATION] = _decode_authentication


def _decode(table: dict[int, Callable[[bytes], _M]], direction: str, type_byte: int, body: bytes) -> _M:
    decoder = table.get(type_byte)
    if decoder is None:
        raise ProtocolError(f"invalid {direction} message type {type_byte:#04x}")
    try:
        return decoder(body)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"malformed {direction} message {type_byte:#04x}: {exc}") from exc


def decode_frontend(type_byte: int, body: bytes) -> FrontendMessage:
    """Decode a client message body. ProtocolError for an unknown type byte or a malformed body."""
    return _decode(_FRONTEND, "frontend", type_byte, body)


def decode_backend(type_byte: int, body: bytes) -> BackendMessage:
    """Decode a server message body. ProtocolError for an unknown type byte or a malformed body."""
    return _decode(_BACKEND, "backend", type_byte, body)
