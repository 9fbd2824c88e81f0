"""Prepared-statement commands (client to server): COM_STMT_PREPARE, COM_STMT_EXECUTE,
COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET and COM_STMT_FETCH, and the parameter block that
COM_STMT_EXECUTE and COM_QUERY (with QUERY_ATTRIBUTES) share.

A COM_STMT_EXECUTE cannot be decoded alone: how many parameters it carries comes from the COM_STMT_PREPARE
response, and when the client does not rebind types, the types are those of the previous execution.
COM_STMT_SEND_LONG_DATA and COM_STMT_CLOSE get no response from the server.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from .binary import LENENC, TEMPORAL, binary_size, encode_binary_value, null_bitmap
from .packets import Command
from .wire import (
    Capability,
    CommandByte,
    ProtocolError,
    Reader,
    int2,
    int4,
    lenenc_int,
    lenenc_str,
    to_bytes,
)

__all__ = [
    "CURSOR_TYPE_NO_CURSOR",
    "CURSOR_TYPE_READ_ONLY",
    "PARAMETER_COUNT_AVAILABLE",
    "UNSIGNED_PARAM",
    "ComStmtClose",
    "ComStmtExecute",
    "ComStmtFetch",
    "ComStmtPrepare",
    "ComStmtReset",
    "ComStmtSendLongData",
]

CURSOR_TYPE_NO_CURSOR = 0x00
CURSOR_TYPE_READ_ONLY = 0x01
PARAMETER_COUNT_AVAILABLE = 0x08
UNSIGNED_PARAM = 0x8000  # in a parameter's 2-byte type word
_QA = int(Capability.QUERY_ATTRIBUTES)

ParamBlock = tuple[tuple[bytes | None, ...], tuple[int, ...] | None, tuple[str, ...]]


def _read_params(reader: Reader, count: int, previous: Sequence[int] | None, with_names: bool) -> ParamBlock:
    """NULL bitmap, new-params-bound flag, [type words (and names)], values: (values, types or None, names)."""
    nulls = reader.take((count + 7) // 8)
    bound = reader.u8()
    names: list[str] = []
    types: tuple[int, ...] | None = None
    if bound == 1:
        words = []
        for _ in range(count):
            words.append(reader.u16())
            if with_names:
                names.append(reader.lenenc_str())
        types = tuple(words)
        value_types: Sequence[int] = types
    elif bound == 0:
        if previous is None or len(previous) != count:
            raise ProtocolError("parameters are sent without types and none were bound before")
        value_types = previous
    else:
        raise ProtocolError(f"invalid new-params-bound flag {bound}")
    values: list[bytes | None] = []
    for index, word in enumerate(value_types):
        if nulls[index >> 3] & (1 << (index & 7)):
            values.append(None)
            continue
        size = binary_size(word)
        if size == LENENC:
            values.append(reader.lenenc_bytes())
        elif size == TEMPORAL:
            values.append(reader.take(reader.u8()))
        else:
            values.append(reader.take(size))
    return tuple(values), types, tuple(names)


def _write_params(
    values: Sequence[bytes | None],
    types: Sequence[int] | None,
    names: Sequence[str],
    previous: Sequence[int] | None,
    with_names: bool,
) -> bytes:
    parts = [null_bitmap(values, 0)]
    if types is not None:
        if len(types) != len(values) or (with_names and len(names) != len(values)):
            raise ValueError("a type (and, with QUERY_ATTRIBUTES, a name) is needed for every parameter")
        if names and not with_names:
            raise ValueError("parameter names need QUERY_ATTRIBUTES")
        parts.append(b"\x01")
        for index, word in enumerate(types):
            parts.append(int2(word))
            if with_names:
                parts.append(lenenc_str(names[index]))
        value_types: Sequence[int] = types
    else:
        if previous is None or len(previous) != len(values):
            raise ValueError("parameters without types need the previously bound types")
        if names:
            raise ValueError("parameter names are only sent with types")
        parts.append(b"\x00")
        value_types = previous
    for value, word in zip(values, value_types, strict=True):
        if value is not None:
            parts.append(encode_binary_value(value, word))
    return b"".join(parts)


def _statement(payload: bytes, command: int) -> Reader:
    reader = Reader(payload)
    if reader.u8() != command:
        raise ProtocolError(f"not a {CommandByte(command).name} packet")
    return reader


@dataclass(frozen=True, slots=True)
class ComStmtPrepare(Command):
    command: ClassVar[int] = CommandByte.STMT_PREPARE
    query: str

    def encode(self, caps: int = 0) -> bytes:
        return b"\x16" + to_bytes(self.query)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        return cls(_statement(payload, cls.command).rest_str())


@dataclass(frozen=True, slots=True)
class ComStmtExecute(Command):
    """``values`` are raw binary values (None for NULL). ``types`` holds the 2-byte type words (FieldType,
    ``| UNSIGNED_PARAM``) when the client binds new types, else None (the previous execution's apply).
    ``names`` are the parameter names sent with the types under QUERY_ATTRIBUTES."""

    command: ClassVar[int] = CommandByte.STMT_EXECUTE
    statement_id: int
    flags: int = CURSOR_TYPE_NO_CURSOR
    iteration_count: int = 1
    values: tuple[bytes | None, ...] = ()
    types: tuple[int, ...] | None = None
    names: tuple[str, ...] = ()

    def param_types(self, previous: Sequence[int] | None = None) -> tuple[int, ...] | None:
        """The type words in force for this execution: the new ones, else ``previous``."""
        return self.types if self.types is not None else (None if previous is None else tuple(previous))

    def encode(self, caps: int = 0, previous_types: Sequence[int] | None = None) -> bytes:
        if self.flags > 0xFF:
            raise ValueError(f"flags {self.flags} do not fit a byte")
        parts = [b"\x17", int4(self.statement_id), bytes((self.flags,)), int4(self.iteration_count)]
        with_names = bool(caps & _QA)
        if with_names and (self.values or self.flags & PARAMETER_COUNT_AVAILABLE):
            parts.append(lenenc_int(len(self.values)))
        if self.values:
            parts.append(_write_params(self.values, self.types, self.names, previous_types, with_names))
        elif self.types or self.names:
            raise ValueError("types and names need values")
        return b"".join(parts)

    @classmethod
    def decode(
        cls, payload: bytes, num_params: int, previous_types: Sequence[int] | None = None, caps: int = 0
    ) -> Self:
        """``num_params`` comes from the statement's COM_STMT_PREPARE response; ``previous_types`` are the
        types bound by its last execution (None if there was none)."""
        reader = _statement(payload, cls.command)
        statement_id = reader.u32()
        flags = reader.u8()
        iteration_count = reader.u32()
        count = num_params
        with_names = bool(caps & _QA)
        if with_names and (num_params > 0 or flags & PARAMETER_COUNT_AVAILABLE):
            count = reader.lenenc_int()
            if count < num_params:
                raise ProtocolError(f"{count} parameters sent, the statement has {num_params}")
        values: tuple[bytes | None, ...] = ()
        types = None
        names: tuple[str, ...] = ()
        if count:
            values, types, names = _read_params(reader, count, previous_types, with_names)
        reader.finish()
        return cls(statement_id, flags, iteration_count, values, types, names)


@dataclass(frozen=True, slots=True)
class ComStmtSendLongData(Command):
    """Data to append to a parameter before the next execution (no response)."""

    command: ClassVar[int] = CommandByte.STMT_SEND_LONG_DATA
    statement_id: int
    param_id: int
    data: bytes = b""

    def encode(self, caps: int = 0) -> bytes:
        return b"\x18" + int4(self.statement_id) + int2(self.param_id) + self.data

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = _statement(payload, cls.command)
        statement_id = reader.u32()
        param_id = reader.u16()
        return cls(statement_id, param_id, reader.rest())


class _StatementOnly(Command):
    __slots__ = ()
    statement_id: int

    def encode(self, caps: int = 0) -> bytes:
        return bytes((self.command,)) + int4(self.statement_id)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = _statement(payload, cls.command)
        statement_id = reader.u32()
        reader.finish()
        return cls(statement_id)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class ComStmtClose(_StatementOnly):
    """Deallocate a prepared statement (no response)."""

    command: ClassVar[int] = CommandByte.STMT_CLOSE
    statement_id: int


@dataclass(frozen=True, slots=True)
class ComStmtReset(_StatementOnly):
    """Discard long data and close the cursor of a prepared statement (OK or ERR)."""

    command: ClassVar[int] = CommandByte.STMT_RESET
    statement_id: int


@dataclass(frozen=True, slots=True)
class ComStmtFetch(Command):
    """Fetch rows from the cursor of an executed statement (binary rows, then EOF or OK)."""

    command: ClassVar[int] = CommandByte.STMT_FETCH
    statement_id: int
    num_rows: int

    def encode(self, caps: int = 0) -> bytes:
        return b"\x1c" + int4(self.statement_id) + int4(self.num_rows)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = _statement(payload, cls.command)
        statement_id = reader.u32()
        num_rows = reader.u32()
        reader.finish()
        return cls(statement_id, num_rows)
