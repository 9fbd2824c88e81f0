"""PostgreSQL v3 frontend messages (what a client sends): one frozen slotted dataclass per message, and
``decode_frontend``, which picks the class from the type byte.

CopyData and CopyDone live here but are sent in both directions (same type byte either way);
:mod:`.backend` reuses them. Import from :mod:`.codec`; this module depends on nothing but the standard
library (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeAlias

from .wire import (
    _I16,
    _I32,
    _U32,
    BodyReader,
    Frontend,
    ProtocolError,
    _decode,
    _Empty,
    _Message,
    _pack_value,
    _Raw,
    encode_cstring,
    pack_int16s,
    pack_uint32s,
    pack_values,
)

__all__ = [
    "Bind",
    "Close",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "Describe",
    "Execute",
    "Flush",
    "FrontendMessage",
    "FunctionCall",
    "Parse",
    "PasswordMessage",
    "Query",
    "SASLInitialResponse",
    "SASLResponse",
    "Sync",
    "Terminate",
    "decode_frontend",
]

_KINDS = (b"S", b"P")


class _Target(_Message):
    """A message naming a prepared statement (kind b"S") or a portal (kind b"P")."""

    __slots__ = ()
    kind: bytes
    name: str

    def body(self) -> bytes:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be b'S' or b'P', not {self.kind!r}")
        return self.kind + encode_cstring(self.name)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        kind = reader.take(1)
        if kind not in _KINDS:
            raise ProtocolError(f"invalid object kind {kind!r}")
        name = reader.cstring()
        reader.finish()
        return cls(kind, name)  # type: ignore[call-arg]


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
class Describe(_Target):
    type_byte: ClassVar[int] = Frontend.DESCRIBE
    kind: bytes  # b"S" (prepared statement) or b"P" (portal)
    name: str


@dataclass(frozen=True, slots=True)
class Close(_Target):
    type_byte: ClassVar[int] = Frontend.CLOSE
    kind: bytes  # b"S" (prepared statement) or b"P" (portal)
    name: str


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
        return encode_cstring(self.mechanism) + _pack_value(self.data)

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


# --- dispatch -------------------------------------------------------------------------------------------

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


def decode_frontend(type_byte: int, body: bytes) -> FrontendMessage:
    """Decode a client message body. ProtocolError for an unknown type byte or a malformed body."""
    return _decode(_FRONTEND, "frontend", type_byte, body)
