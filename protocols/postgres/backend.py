"""PostgreSQL v3 backend messages of the query cycle (what a server sends in answer to a query or an
extended-protocol step: row descriptions, data rows, completions, COPY responses, ReadyForQuery, ...), and
``decode_backend``, which picks the class from the type byte for every backend message, including those of
:mod:`.backend_session` and the CopyData/CopyDone of :mod:`.frontend` (same type byte in both directions).

Import from :mod:`.codec`; this module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeAlias

from .backend_session import (
    AuthenticationMessage,
    BackendKeyData,
    ErrorResponse,
    NegotiateProtocolVersion,
    NoticeResponse,
    NotificationResponse,
    ParameterStatus,
    _decode_authentication,
)
from .frontend import CopyData, CopyDone
from .wire import (
    _I8,
    _U16,
    Backend,
    BodyReader,
    _decode,
    _Empty,
    _Message,
    _pack_value,
    data_row_values,
    encode_cstring,
    encode_data_row,
    pack_int16s,
    pack_uint32s,
    ready_status,
)

__all__ = [
    "BackendMessage",
    "BindComplete",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "EmptyQueryResponse",
    "FieldDescription",
    "FunctionCallResponse",
    "NoData",
    "ParameterDescription",
    "ParseComplete",
    "PortalSuspended",
    "ReadyForQuery",
    "RowDescription",
    "decode_backend",
]


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
        return _I8.pack(self.format) + pack_int16s(self.column_formats)

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
        return _pack_value(self.value)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        value = reader.value()
        reader.finish()
        return cls(value)


# --- dispatch -------------------------------------------------------------------------------------------

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


def decode_backend(type_byte: int, body: bytes) -> BackendMessage:
    """Decode a server message body. ProtocolError for an unknown type byte or a malformed body."""
    return _decode(_BACKEND, "backend", type_byte, body)
