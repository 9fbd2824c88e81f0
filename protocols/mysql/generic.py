"""The generic server responses: OK, ERR and EOF (server packets only; a client never sends them).

Their layouts depend on the negotiated capabilities: PROTOCOL_41 adds status/warnings and the SQLSTATE,
SESSION_TRACK turns the OK's info into a length-encoded string followed by the session-state changes, and
DEPRECATE_EOF replaces the EOF packets of a result set by OK packets with the 0xFE header.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from .packets import ServerPacket
from .wire import (
    Capability,
    ProtocolError,
    Reader,
    ServerStatus,
    int2,
    lenenc_bytes,
    lenenc_int,
    lenenc_str,
    to_bytes,
)

__all__ = [
    "EOFPacket",
    "ERRPacket",
    "OKPacket",
    "SessionTrack",
    "decode_ok_or_err",
    "parse_session_state",
]

_P41 = int(Capability.PROTOCOL_41)
_TRANSACTIONS = int(Capability.TRANSACTIONS)
_SESSION_TRACK = int(Capability.SESSION_TRACK)
_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
_STATE_CHANGED = int(ServerStatus.SESSION_STATE_CHANGED)


class SessionTrack:
    """Types of the session-state change entries of an OK packet (SESSION_TRACK)."""

    SYSTEM_VARIABLES = 0
    SCHEMA = 1
    STATE_CHANGE = 2
    GTIDS = 3
    TRANSACTION_CHARACTERISTICS = 4
    TRANSACTION_STATE = 5


def parse_session_state(data: bytes) -> list[tuple[int, bytes]]:
    """The (type, data) entries of an OK packet's session-state info; ``data`` is each entry's own
    length-encoded payload (for SCHEMA: a length-encoded schema name)."""
    reader = Reader(data)
    entries = []
    while not reader.at_end():
        kind = reader.u8()
        entries.append((kind, reader.lenenc_bytes()))
    return entries


@dataclass(frozen=True, slots=True)
class OKPacket(ServerPacket):
    """0x00 (or, with ``eof=True``, the 0xFE that ends a result set under DEPRECATE_EOF)."""

    affected_rows: int = 0
    last_insert_id: int = 0
    status: int = 0
    warnings: int = 0
    info: str = ""
    session_state: bytes = b""
    eof: bool = False

    def encode(self, caps: int) -> bytes:
        if self.eof and not caps & _DEPRECATE_EOF:
            raise ValueError("an OK packet with the 0xFE header needs DEPRECATE_EOF")
        parts = [b"\xfe" if self.eof else b"\x00", lenenc_int(self.affected_rows), lenenc_int(self.last_insert_id)]
        if caps & _P41:
            parts += (int2(self.status), int2(self.warnings))
        elif caps & _TRANSACTIONS:
            if self.warnings:
                raise ValueError("warnings need PROTOCOL_41")
            parts.append(int2(self.status))
        elif self.status or self.warnings:
            raise ValueError("status flags need PROTOCOL_41 or TRANSACTIONS")
        if caps & _SESSION_TRACK:
            changed = self.status & _STATE_CHANGED
            if self.info or changed:
                parts.append(lenenc_str(self.info))
            if changed:
                parts.append(lenenc_bytes(self.session_state))
            elif self.session_state:
                raise ValueError("session state needs the SESSION_STATE_CHANGED status flag")
        else:
            if self.session_state:
                raise ValueError("session state needs SESSION_TRACK")
            parts.append(to_bytes(self.info))
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        header = reader.u8()
        if header == 0xFE and caps & _DEPRECATE_EOF:
            eof = True
        elif header == 0x00:
            eof = False
        else:
            raise ProtocolError(f"invalid OK packet header {header:#04x}")
        affected_rows = reader.lenenc_int()
        last_insert_id = reader.lenenc_int()
        status = warnings = 0
        if caps & _P41:
            status = reader.u16()
            warnings = reader.u16()
        elif caps & _TRANSACTIONS:
            status = reader.u16()
        info = ""
        session_state = b""
        if caps & _SESSION_TRACK:
            if not reader.at_end():
                info = reader.lenenc_str()
            if status & _STATE_CHANGED:
                session_state = reader.lenenc_bytes()
            reader.finish()
        else:
            info = reader.rest_str()
        return cls(affected_rows, last_insert_id, status, warnings, info, session_state, eof)

    def session_changes(self) -> list[tuple[int, bytes]]:
        """The parsed session-state entries (see :func:`parse_session_state`)."""
        return parse_session_state(self.session_state)


@dataclass(frozen=True, slots=True)
class ERRPacket(ServerPacket):
    """0xFF, the error number, ``#`` and the SQLSTATE (PROTOCOL_41), and the message."""

    errno: int
    sqlstate: str = "HY000"
    message: str = ""

    @classmethod
    def build(cls, errno: int, sqlstate: str, message: str) -> Self:
        """A checked ERR packet (ValueError for an errno or SQLSTATE that cannot be sent)."""
        err = cls(errno, sqlstate, message)
        err._check()
        return err

    @classmethod
    def from_error(cls, exc: ProtocolError) -> Self:
        """The ERR packet that reports ``exc`` to the peer."""
        return cls.build(exc.errno, exc.sqlstate, str(exc))

    def _check(self) -> None:
        if not 0 <= self.errno < 0xFFFF:
            raise ValueError(f"errno {self.errno} is not in 0..65534")
        if len(self.sqlstate) != 5 or not self.sqlstate.isascii() or not self.sqlstate.isalnum():
            raise ValueError(f"SQLSTATE must be 5 ASCII letters or digits, not {self.sqlstate!r}")

    def encode(self, caps: int) -> bytes:
        self._check()
        head = b"\xff" + int2(self.errno)
        if caps & _P41:
            head += b"#" + self.sqlstate.encode()
        return head + to_bytes(self.message)

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        if reader.u8() != 0xFF:
            raise ProtocolError("invalid ERR packet header")
        errno = reader.u16()
        if errno == 0xFFFF:
            raise ProtocolError("MariaDB progress reports are not supported")
        sqlstate = "HY000"
        if caps & _P41 and not reader.at_end() and reader.peek() == 0x23:  # '#'
            reader.u8()
            state = reader.take(5)
            if not state.isascii() or not state.isalnum():
                raise ProtocolError(f"invalid SQLSTATE {state!r}")
            sqlstate = state.decode()
        return cls(errno, sqlstate, reader.rest_str())


@dataclass(frozen=True, slots=True)
class EOFPacket(ServerPacket):
    """0xFE with warnings and status (PROTOCOL_41); fewer than 9 bytes. Not sent under DEPRECATE_EOF."""

    warnings: int = 0
    status: int = 0

    def encode(self, caps: int) -> bytes:
        if caps & _P41:
            return b"\xfe" + int2(self.warnings) + int2(self.status)
        if self.warnings or self.status:
            raise ValueError("EOF warnings and status need PROTOCOL_41")
        return b"\xfe"

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Self:
        reader = Reader(payload)
        if reader.u8() != 0xFE:
            raise ProtocolError("invalid EOF packet header")
        warnings = status = 0
        if caps & _P41:
            warnings = reader.u16()
            status = reader.u16()
        reader.finish()
        return cls(warnings, status)


def decode_ok_or_err(payload: bytes, caps: int) -> OKPacket | ERRPacket:
    """The reply to a command that answers with OK or ERR (COM_PING, COM_INIT_DB, COM_RESET_CONNECTION ...)."""
    if payload[:1] == b"\xff":
        return ERRPacket.decode(payload, caps)
    if payload[:1] == b"\x00":
        return OKPacket.decode(payload, caps)
    raise ProtocolError(f"expected an OK or ERR packet, got header {payload[:1].hex() or 'nothing'}")
