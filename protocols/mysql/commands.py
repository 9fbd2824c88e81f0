"""Command-phase client packets and ``decode_command``, which picks the class from the first byte.

The commands the gateway understands each have a class; every other command byte (replication, shutdown,
process kill, MariaDB's COM_MULTI and bulk execution, unknown bytes) decodes to :class:`OtherCommand`, so
the relay can refuse it by name. The prepared-statement commands live in :mod:`.statements`.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self, TypeAlias

from .handshake import decode_attributes, encode_attributes
from .packets import Command
from .statements import (
    ComStmtClose,
    ComStmtExecute,
    ComStmtFetch,
    ComStmtPrepare,
    ComStmtReset,
    ComStmtSendLongData,
    _read_params,
    _write_params,
)
from .wire import (
    Capability,
    CommandByte,
    CommandError,
    ProtocolError,
    Reader,
    int1,
    int2,
    lenenc_int,
    nul_bytes,
    nul_str,
    to_bytes,
)

__all__ = [
    "MYSQL_OPTION_MULTI_STATEMENTS_OFF",
    "MYSQL_OPTION_MULTI_STATEMENTS_ON",
    "AnyCommand",
    "ComChangeUser",
    "ComFieldList",
    "ComInitDB",
    "ComPing",
    "ComQuery",
    "ComQuit",
    "ComResetConnection",
    "ComSetOption",
    "ComStatistics",
    "OtherCommand",
    "QueryAttribute",
    "StatementParams",
    "decode_command",
]

MYSQL_OPTION_MULTI_STATEMENTS_ON = 0
MYSQL_OPTION_MULTI_STATEMENTS_OFF = 1
_QA = int(Capability.QUERY_ATTRIBUTES)
_SECURE = int(Capability.SECURE_CONNECTION)
_PLUGIN_AUTH = int(Capability.PLUGIN_AUTH)
_ATTRS = int(Capability.CONNECT_ATTRS)

StatementParams: TypeAlias = tuple[int, Sequence[int] | None]
"""What decoding a COM_STMT_EXECUTE needs about its statement: (number of parameters, previous types)."""


def _command(payload: bytes, command: int) -> Reader:
    reader = Reader(payload)
    if reader.u8() != command:
        raise ProtocolError(f"not a COM_{CommandByte(command).name} packet")
    return reader


class _Empty(Command):
    __slots__ = ()

    def encode(self, caps: int = 0) -> bytes:
        return bytes((self.command,))

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        _command(payload, cls.command).finish()
        return cls()


@dataclass(frozen=True, slots=True)
class ComQuit(_Empty):
    command: ClassVar[int] = CommandByte.QUIT


@dataclass(frozen=True, slots=True)
class ComStatistics(_Empty):
    command: ClassVar[int] = CommandByte.STATISTICS


@dataclass(frozen=True, slots=True)
class ComPing(_Empty):
    command: ClassVar[int] = CommandByte.PING


@dataclass(frozen=True, slots=True)
class ComResetConnection(_Empty):
    command: ClassVar[int] = CommandByte.RESET_CONNECTION


@dataclass(frozen=True, slots=True)
class ComInitDB(Command):
    command: ClassVar[int] = CommandByte.INIT_DB
    schema: str

    def encode(self, caps: int = 0) -> bytes:
        return b"\x02" + to_bytes(self.schema)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        return cls(_command(payload, cls.command).rest_str())


@dataclass(frozen=True, slots=True)
class QueryAttribute:
    """One query attribute: its name, 2-byte type word (FieldType ``| UNSIGNED_PARAM``) and raw binary value."""

    name: str
    type: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ComQuery(Command):
    """A text query. Under QUERY_ATTRIBUTES a parameter block (the attributes) precedes the query text."""

    command: ClassVar[int] = CommandByte.QUERY
    query: str
    attributes: tuple[QueryAttribute, ...] = ()

    def encode(self, caps: int) -> bytes:
        head = b"\x03"
        if caps & _QA:
            attrs = self.attributes
            head += lenenc_int(len(attrs)) + b"\x01"
            if attrs:
                values = [a.value for a in attrs]
                head += _write_params(values, [a.type for a in attrs], [a.name for a in attrs], None, True)
        elif self.attributes:
            raise ValueError("query attributes need QUERY_ATTRIBUTES")
        return head + to_bytes(self.query)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = _command(payload, cls.command)
        attributes: tuple[QueryAttribute, ...] = ()
        if caps & _QA:
            count = reader.lenenc_int()
            if reader.lenenc_int() != 1:
                raise CommandError("query attributes: only one parameter set is supported")
            if count:
                values, types, names = _read_params(reader, count, None, True)
                if types is None:  # pragma: no cover  (_read_params refuses unbound types without previous ones)
                    raise ProtocolError("query attributes are sent without types")
                attributes = tuple(map(QueryAttribute, names, types, values))
        return cls(reader.rest_str(), attributes)


@dataclass(frozen=True, slots=True)
class ComFieldList(Command):
    """Deprecated: the columns of ``table`` matching ``wildcard`` (column definitions, then EOF or OK)."""

    command: ClassVar[int] = CommandByte.FIELD_LIST
    table: str
    wildcard: str = ""

    def encode(self, caps: int = 0) -> bytes:
        return b"\x04" + nul_str(self.table) + to_bytes(self.wildcard)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = _command(payload, cls.command)
        table = reader.nul_str()
        return cls(table, reader.rest_str())


@dataclass(frozen=True, slots=True)
class ComSetOption(Command):
    """Turn multi-statement support on (0) or off (1): EOF (or OK under DEPRECATE_EOF) or ERR."""

    command: ClassVar[int] = CommandByte.SET_OPTION
    option: int

    def encode(self, caps: int = 0) -> bytes:
        return b"\x1b" + int2(self.option)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = _command(payload, cls.command)
        option = reader.u16()
        reader.finish()
        return cls(option)


@dataclass(frozen=True, slots=True)
class ComChangeUser(Command):
    """Log in again as another user on the same connection; the authentication exchange follows."""

    command: ClassVar[int] = CommandByte.CHANGE_USER
    username: str
    auth_response: bytes = b""
    database: str = ""
    charset: int = 0
    auth_plugin_name: str = ""
    attributes: tuple[tuple[str, str], ...] = ()

    def encode(self, caps: int) -> bytes:
        parts = [b"\x11", nul_str(self.username)]
        if caps & _SECURE:
            parts.append(int1(len(self.auth_response)) + self.auth_response)
        else:
            parts.append(nul_bytes(self.auth_response))
        parts += (nul_str(self.database), int2(self.charset))
        if caps & _PLUGIN_AUTH:
            parts.append(nul_str(self.auth_plugin_name))
        elif self.auth_plugin_name:
            raise ValueError("an auth plugin name needs PLUGIN_AUTH")
        if caps & _ATTRS:
            parts.append(encode_attributes(self.attributes))
        elif self.attributes:
            raise ValueError("connection attributes need CONNECT_ATTRS")
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = _command(payload, cls.command)
        username = reader.nul_str()
        auth = reader.take(reader.u8()) if caps & _SECURE else reader.nul_bytes()
        database = reader.nul_str()
        charset = 0
        plugin = ""
        attributes: tuple[tuple[str, str], ...] = ()
        if not reader.at_end():  # "if more data", as the server reads it
            charset = reader.u16()
            if caps & _PLUGIN_AUTH and not reader.at_end():
                plugin = reader.nul_str()
            if caps & _ATTRS and not reader.at_end():
                attributes = decode_attributes(reader)
        reader.finish()
        return cls(username, auth, database, charset, plugin, attributes)


@dataclass(frozen=True, slots=True)
class OtherCommand(Command):
    """A command the codec does not model (replication, shutdown, COM_MULTI, unknown bytes ...): refuse it."""

    code: int
    data: bytes = b""

    @property
    def name(self) -> str:
        try:
            return f"COM_{CommandByte(self.code).name}"
        except ValueError:
            return f"unknown command {self.code:#04x}"

    def encode(self, caps: int = 0) -> bytes:
        return bytes((self.code,)) + self.data

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        if not payload:
            raise ProtocolError("empty command packet")
        return cls(payload[0], payload[1:])


AnyCommand: TypeAlias = (
    ComQuit
    | ComInitDB
    | ComQuery
    | ComFieldList
    | ComStatistics
    | ComPing
    | ComChangeUser
    | ComResetConnection
    | ComSetOption
    | ComStmtPrepare
    | ComStmtExecute
    | ComStmtSendLongData
    | ComStmtClose
    | ComStmtReset
    | ComStmtFetch
    | OtherCommand
)

_DECODERS: dict[int, Callable[[bytes, int], AnyCommand]] = {
    cls.command: cls.decode
    for cls in (
        ComQuit,
        ComInitDB,
        ComQuery,
        ComFieldList,
        ComStatistics,
        ComPing,
        ComChangeUser,
        ComResetConnection,
        ComSetOption,
        ComStmtPrepare,
        ComStmtSendLongData,
        ComStmtClose,
        ComStmtReset,
        ComStmtFetch,
    )
}


def decode_command(payload: bytes, caps: int, statements: Mapping[int, StatementParams] | None = None) -> AnyCommand:
    """Decode a command-phase client payload. ``statements`` maps the ids of the prepared statements of the
    session to what decoding a COM_STMT_EXECUTE needs; an execution of any other id raises
    :class:`CommandError` (errno 1243), which the relay can answer with an ERR."""
    if not payload:
        raise ProtocolError("empty command packet")
    code = payload[0]
    try:
        if code == CommandByte.STMT_EXECUTE:
            if len(payload) < 5:
                raise ProtocolError("COM_STMT_EXECUTE is truncated")
            statement_id = int.from_bytes(payload[1:5], "little")
            params = None if statements is None else statements.get(statement_id)
            if params is None:
                raise CommandError(
                    f"Unknown prepared statement handler ({statement_id}) given to mysqld_stmt_execute", 1243, "HY000"
                )
            return ComStmtExecute.decode(payload, params[0], params[1], caps)
        decoder = _DECODERS.get(code)
        return OtherCommand(code, payload[1:]) if decoder is None else decoder(payload, caps)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"malformed command {code:#04x}: {exc}") from exc
