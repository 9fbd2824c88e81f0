"""Server responses to queries and prepared statements: the column count, column definitions, text and
binary rows, the LOCAL INFILE request, the COM_STMT_PREPARE response, and the result-set terminators.

A result set is: a column count, that many column definitions, an EOF (unless DEPRECATE_EOF), rows, and an
EOF -- or, under DEPRECATE_EOF, an OK with the 0xFE header -- or an ERR. Use :func:`is_result_end` to tell
the terminator from a row: both may start with 0xFE, but a row that does is at least 16 MB long.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from .binary import BINARY_SIZE, LENENC, TEMPORAL, ColumnFlag, encode_binary_value, null_bitmap
from .generic import EOFPacket, ERRPacket, OKPacket
from .packets import MAX_PAYLOAD, ServerPacket
from .wire import (
    Capability,
    ProtocolError,
    Reader,
    int1,
    int2,
    int4,
    lenenc_bytes,
    lenenc_int,
    lenenc_str,
    read_lenenc,
    to_bytes,
)

__all__ = [
    "ColumnCount",
    "ColumnDefinition41",
    "LocalInfileRequest",
    "StmtPrepareOK",
    "decode_binary_row",
    "decode_prepare_response",
    "decode_query_response",
    "decode_result_end",
    "decode_text_row",
    "encode_binary_row",
    "encode_text_row",
    "is_result_end",
]

_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
_OPTIONAL_METADATA = int(Capability.OPTIONAL_RESULTSET_METADATA)
_METADATA_FLAG = int(Capability.OPTIONAL_RESULTSET_METADATA | Capability.MARIADB_CLIENT_CACHE_METADATA)
_EXTENDED_TYPE_INFO = int(Capability.MARIADB_CLIENT_EXTENDED_TYPE_INFO)


@dataclass(frozen=True, slots=True)
class ColumnCount(ServerPacket):
    """The first packet of a result set. ``metadata_follows`` is sent under OPTIONAL_RESULTSET_METADATA or
    MariaDB's CACHE_METADATA (for text and binary result sets alike); when False no column definitions follow
    (the client reuses the ones it has), but without DEPRECATE_EOF the EOF that ends them is still sent."""

    count: int
    metadata_follows: bool = True

    def encode(self, caps: int) -> bytes:
        if self.count < 1:
            raise ValueError("a result set has at least one column")
        if caps & _METADATA_FLAG:
            return lenenc_int(self.count) + (b"\x01" if self.metadata_follows else b"\x00")
        if not self.metadata_follows:
            raise ValueError("skipping metadata needs OPTIONAL_RESULTSET_METADATA or CACHE_METADATA")
        return lenenc_int(self.count)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        count = reader.lenenc_int()
        if count < 1:
            raise ProtocolError("a result set has at least one column")
        follows = True
        if caps & _METADATA_FLAG:
            flag = reader.u8()
            if flag > 1:
                raise ProtocolError(f"invalid metadata-follows flag {flag}")
            follows = flag == 1
        reader.finish()
        return cls(count, follows)


@dataclass(frozen=True, slots=True)
class ColumnDefinition41(ServerPacket):
    """One column of a result set (or, for COM_FIELD_LIST, of a table: then ``field_list`` is True and
    ``default_value`` follows). ``extended_info`` holds MariaDB's (kind, value) pairs (0: type name, 1:
    format) sent under EXTENDED_TYPE_INFO."""

    schema: str
    table: str
    org_table: str
    name: str
    org_name: str
    charset: int
    column_length: int
    type: int
    flags: int = 0
    decimals: int = 0
    catalog: str = "def"
    extended_info: tuple[tuple[int, str], ...] = ()
    field_list: bool = False
    default_value: bytes | None = None

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & ColumnFlag.UNSIGNED)

    def encode(self, caps: int) -> bytes:
        parts = [
            lenenc_str(self.catalog),
            lenenc_str(self.schema),
            lenenc_str(self.table),
            lenenc_str(self.org_table),
            lenenc_str(self.name),
            lenenc_str(self.org_name),
        ]
        if caps & _EXTENDED_TYPE_INFO:
            parts.append(lenenc_bytes(b"".join(int1(kind) + lenenc_str(value) for kind, value in self.extended_info)))
        elif self.extended_info:
            raise ValueError("extended type info needs MARIADB_CLIENT_EXTENDED_TYPE_INFO")
        parts += (
            b"\x0c",
            int2(self.charset),
            int4(self.column_length),
            int1(self.type),
            int2(self.flags),
            int1(self.decimals),
            b"\0\0",
        )
        if self.field_list:
            parts.append(b"\xfb" if self.default_value is None else lenenc_bytes(self.default_value))
        elif self.default_value is not None:
            raise ValueError("a default value is only sent for COM_FIELD_LIST")
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        catalog = reader.lenenc_str()
        schema = reader.lenenc_str()
        table = reader.lenenc_str()
        org_table = reader.lenenc_str()
        name = reader.lenenc_str()
        org_name = reader.lenenc_str()
        extended: tuple[tuple[int, str], ...] = ()
        if caps & _EXTENDED_TYPE_INFO:
            inner = Reader(reader.lenenc_bytes())
            pairs = []
            while not inner.at_end():
                pairs.append((inner.u8(), inner.lenenc_str()))
            extended = tuple(pairs)
        if reader.lenenc_int() != 0x0C:
            raise ProtocolError("column definition has an invalid fixed-length-fields length")
        charset = reader.u16()
        column_length = reader.u32()
        column_type = reader.u8()
        flags = reader.u16()
        decimals = reader.u8()
        reader.take(2)
        field_list = not reader.at_end()
        default = reader.lenenc_bytes_or_null() if field_list else None
        reader.finish()
        return cls(
            schema, table, org_table, name, org_name, charset, column_length, column_type, flags, decimals,
            catalog, extended, field_list, default,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StmtPrepareOK(ServerPacket):
    """The first packet of a successful COM_STMT_PREPARE response; parameter and column definitions follow
    (each list ended by an EOF unless DEPRECATE_EOF)."""

    statement_id: int
    num_columns: int
    num_params: int
    warnings: int = 0
    metadata_follows: bool = True

    def encode(self, caps: int) -> bytes:
        head = b"\x00" + int4(self.statement_id) + int2(self.num_columns) + int2(self.num_params)
        head += b"\x00" + int2(self.warnings)
        if caps & _OPTIONAL_METADATA:
            return head + (b"\x01" if self.metadata_follows else b"\x00")
        if not self.metadata_follows:
            raise ValueError("skipping metadata needs OPTIONAL_RESULTSET_METADATA")
        return head

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        if reader.u8() != 0:
            raise ProtocolError("invalid COM_STMT_PREPARE_OK header")
        statement_id = reader.u32()
        num_columns = reader.u16()
        num_params = reader.u16()
        reader.u8()  # filler
        warnings = 0 if reader.at_end() else reader.u16()
        follows = True
        if caps & _OPTIONAL_METADATA and not reader.at_end():
            flag = reader.u8()
            if flag > 1:
                raise ProtocolError(f"invalid metadata-follows flag {flag}")
            follows = flag == 1
        reader.finish()
        return cls(statement_id, num_columns, num_params, warnings, follows)


@dataclass(frozen=True, slots=True)
class LocalInfileRequest(ServerPacket):
    """0xFB and a file name: the server asks the client to upload a file (LOAD DATA LOCAL INFILE)."""

    filename: str

    def encode(self, caps: int = 0) -> bytes:
        return b"\xfb" + to_bytes(self.filename)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        if payload[:1] != b"\xfb":
            raise ProtocolError("invalid LOCAL INFILE request header")
        return cls(Reader(payload, 1).rest_str())


def decode_query_response(payload: bytes, caps: int) -> OKPacket | ERRPacket | LocalInfileRequest | ColumnCount:
    """The first packet answering COM_QUERY or COM_STMT_EXECUTE."""
    header = payload[:1]
    if header == b"\x00":
        return OKPacket.decode(payload, caps)
    if header == b"\xff":
        return ERRPacket.decode(payload, caps)
    if header == b"\xfb":
        return LocalInfileRequest.decode(payload)
    return ColumnCount.decode(payload, caps)


def decode_prepare_response(payload: bytes, caps: int) -> StmtPrepareOK | ERRPacket:
    """The first packet answering COM_STMT_PREPARE."""
    if payload[:1] == b"\xff":
        return ERRPacket.decode(payload, caps)
    return StmtPrepareOK.decode(payload, caps)


def is_result_end(payload: bytes, caps: int) -> bool:
    """Whether a packet where a row (or column definition) may come ends the list instead (EOF, or the
    0xFE OK under DEPRECATE_EOF). An ERR (0xFF) also ends it; check for that separately."""
    return payload[:1] == b"\xfe" and len(payload) < (MAX_PAYLOAD if caps & _DEPRECATE_EOF else 9)


def decode_result_end(payload: bytes, caps: int) -> OKPacket | EOFPacket:
    """The packet that ends a result set's rows: an OK with the 0xFE header under DEPRECATE_EOF, else EOF."""
    if caps & _DEPRECATE_EOF:
        return OKPacket.decode(payload, caps)
    return EOFPacket.decode(payload, caps)


# --- rows -----------------------------------------------------------------------------------------------


def decode_text_row(payload: bytes, ncols: int) -> list[bytes | None]:
    """The values of a text-protocol row (length-encoded strings, 0xFB for NULL)."""
    values: list[bytes | None] = []
    append = values.append
    size = len(payload)
    pos = 0
    for _ in range(ncols):
        if pos < size and payload[pos] < 0xFB:
            end = pos + 1 + payload[pos]
            pos += 1
        else:
            length, pos = read_lenenc(payload, pos)
            if length is None:
                append(None)
                continue
            end = pos + length
        if end > size:
            raise ProtocolError("row is truncated")
        append(payload[pos:end])
        pos = end
    if pos != size:
        raise ProtocolError(f"{size - pos} unexpected trailing bytes in row")
    return values


def encode_text_row(values: Sequence[bytes | None]) -> bytes:
    """A text-protocol row payload."""
    return b"".join(b"\xfb" if value is None else lenenc_bytes(value) for value in values)


def decode_binary_row(payload: bytes, column_types: Sequence[int]) -> list[bytes | None]:
    """The values of a binary-protocol row (0x00, NULL bitmap at offset 2, values) as raw bytes without
    their length prefixes (see :mod:`.binary`); ``column_types`` are the columns' FieldType values."""
    ncols = len(column_types)
    start = 1 + (ncols + 9) // 8
    size = len(payload)
    if size < start or payload[0] != 0:
        raise ProtocolError("invalid binary row header")
    bitmap = payload[1:start]
    values: list[bytes | None] = []
    append = values.append
    sizes = BINARY_SIZE
    pos = start
    for index, field_type in enumerate(column_types):
        bit = index + 2
        if bitmap[bit >> 3] & (1 << (bit & 7)):
            append(None)
            continue
        length = sizes.get(field_type, LENENC)
        if length == LENENC:
            if pos < size and payload[pos] < 0xFB:
                length = payload[pos]
                pos += 1
            else:
                value_length, pos = read_lenenc(payload, pos)
                if value_length is None:
                    raise ProtocolError("unexpected NULL (0xfb) in a binary row")
                length = value_length
        elif length == TEMPORAL:
            if pos >= size:
                raise ProtocolError("binary row is truncated")
            length = payload[pos]
            pos += 1
        end = pos + length
        if end > size:
            raise ProtocolError("binary row is truncated")
        append(payload[pos:end])
        pos = end
    if pos != size:
        raise ProtocolError(f"{size - pos} unexpected trailing bytes in binary row")
    return values


def encode_binary_row(values: Sequence[bytes | None], column_types: Sequence[int]) -> bytes:
    """A binary-protocol row payload (ValueError if a fixed-size value has the wrong size)."""
    if len(values) != len(column_types):
        raise ValueError(f"{len(values)} values for {len(column_types)} columns")
    parts = [b"\x00", null_bitmap(values, 2)]
    for value, field_type in zip(values, column_types, strict=True):
        if value is not None:
            parts.append(encode_binary_value(value, field_type))
    return b"".join(parts)
