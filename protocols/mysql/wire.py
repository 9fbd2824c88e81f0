"""MySQL/MariaDB client/server protocol primitives: the error types, the flag and byte enums, the payload
cursor and the writers for every integer and string layout the protocol uses.

Strings: the protocol carries bytes in the session's character set. Decoders turn them into ``str`` with
UTF-8 and ``surrogateescape``, which is lossless for any bytes (``to_bytes(to_text(b)) == b``), so a value
decoded from a latin1 session re-encodes to exactly what the peer sent. Payloads that are data rather than
names (auth data, row values, long data) stay ``bytes``.

Decoding treats its input as hostile: the only exception a decoder lets escape is :class:`ProtocolError`.
Encoding treats its input as trusted and raises :class:`ValueError` for values that cannot be put on the wire.
This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag

__all__ = [
    "MAX_LENENC",
    "Capability",
    "CommandByte",
    "CommandError",
    "ProtocolError",
    "Reader",
    "ServerStatus",
    "int1",
    "int2",
    "int3",
    "int4",
    "int6",
    "int8",
    "lenenc_bytes",
    "lenenc_int",
    "lenenc_str",
    "nul_bytes",
    "nul_str",
    "read_lenenc",
    "to_bytes",
    "to_text",
]

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
MAX_LENENC = 0xFFFFFFFFFFFFFFFF


class ProtocolError(Exception):
    """The peer broke the protocol. ``errno``/``sqlstate`` are what to put in the ERR packet sent back
    (ER_MALFORMED_PACKET, 08S01, unless refined)."""

    errno: int = 1835
    sqlstate: str = "08S01"

    def __init__(self, message: str, errno: int = 1835, sqlstate: str = "08S01") -> None:
        super().__init__(message)
        self.errno = errno
        self.sqlstate = sqlstate


class CommandError(ProtocolError):
    """A well-framed command that the codec cannot handle (query attributes in an unsupported shape, an
    unknown prepared statement). The stream is still in sync: a relay may answer it with an ERR packet built
    from ``errno``/``sqlstate``/the message and keep the session open."""

    def __init__(self, message: str, errno: int = 1235, sqlstate: str = "42000") -> None:  # ER_NOT_SUPPORTED_YET
        super().__init__(message, errno, sqlstate)


class Capability(IntFlag):
    """CLIENT_* capability flags. Bits 32..63 are MariaDB's extended capabilities, which MariaDB carries in
    otherwise reserved bytes when bit 0 (``CLIENT_MYSQL``, MySQL's ``LONG_PASSWORD``) is clear."""

    LONG_PASSWORD = 1 << 0
    FOUND_ROWS = 1 << 1
    LONG_FLAG = 1 << 2
    CONNECT_WITH_DB = 1 << 3
    NO_SCHEMA = 1 << 4
    COMPRESS = 1 << 5
    ODBC = 1 << 6
    LOCAL_FILES = 1 << 7
    IGNORE_SPACE = 1 << 8
    PROTOCOL_41 = 1 << 9
    INTERACTIVE = 1 << 10
    SSL = 1 << 11
    IGNORE_SIGPIPE = 1 << 12
    TRANSACTIONS = 1 << 13
    RESERVED = 1 << 14
    SECURE_CONNECTION = 1 << 15
    MULTI_STATEMENTS = 1 << 16
    MULTI_RESULTS = 1 << 17
    PS_MULTI_RESULTS = 1 << 18
    PLUGIN_AUTH = 1 << 19
    CONNECT_ATTRS = 1 << 20
    PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
    CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
    SESSION_TRACK = 1 << 23
    DEPRECATE_EOF = 1 << 24
    OPTIONAL_RESULTSET_METADATA = 1 << 25
    ZSTD_COMPRESSION_ALGORITHM = 1 << 26
    QUERY_ATTRIBUTES = 1 << 27
    MULTI_FACTOR_AUTHENTICATION = 1 << 28
    CAPABILITY_EXTENSION = 1 << 29
    SSL_VERIFY_SERVER_CERT = 1 << 30
    REMEMBER_OPTIONS = 1 << 31
    MARIADB_CLIENT_PROGRESS = 1 << 32
    MARIADB_CLIENT_COM_MULTI = 1 << 33
    MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 34
    MARIADB_CLIENT_EXTENDED_TYPE_INFO = 1 << 35
    MARIADB_CLIENT_CACHE_METADATA = 1 << 36
    MARIADB_CLIENT_BULK_UNIT_RESULTS = 1 << 37
    # aliases
    CLIENT_MYSQL = 1 << 0
    RESERVED2 = 1 << 15


class ServerStatus(IntFlag):
    """SERVER_* status flags of OK and EOF packets."""

    IN_TRANS = 0x0001
    AUTOCOMMIT = 0x0002
    MORE_RESULTS_EXISTS = 0x0008
    NO_GOOD_INDEX_USED = 0x0010
    NO_INDEX_USED = 0x0020
    CURSOR_EXISTS = 0x0040
    LAST_ROW_SENT = 0x0080
    DB_DROPPED = 0x0100
    NO_BACKSLASH_ESCAPES = 0x0200
    METADATA_CHANGED = 0x0400
    QUERY_WAS_SLOW = 0x0800
    PS_OUT_PARAMS = 0x1000
    IN_TRANS_READONLY = 0x2000
    SESSION_STATE_CHANGED = 0x4000


class CommandByte(IntEnum):
    """The first byte of a command-phase client packet."""

    SLEEP = 0x00
    QUIT = 0x01
    INIT_DB = 0x02
    QUERY = 0x03
    FIELD_LIST = 0x04
    CREATE_DB = 0x05
    DROP_DB = 0x06
    REFRESH = 0x07
    SHUTDOWN = 0x08
    STATISTICS = 0x09
    PROCESS_INFO = 0x0A
    CONNECT = 0x0B
    PROCESS_KILL = 0x0C
    DEBUG = 0x0D
    PING = 0x0E
    TIME = 0x0F
    DELAYED_INSERT = 0x10
    CHANGE_USER = 0x11
    BINLOG_DUMP = 0x12
    TABLE_DUMP = 0x13
    CONNECT_OUT = 0x14
    REGISTER_SLAVE = 0x15
    STMT_PREPARE = 0x16
    STMT_EXECUTE = 0x17
    STMT_SEND_LONG_DATA = 0x18
    STMT_CLOSE = 0x19
    STMT_RESET = 0x1A
    SET_OPTION = 0x1B
    STMT_FETCH = 0x1C
    DAEMON = 0x1D
    BINLOG_DUMP_GTID = 0x1E
    RESET_CONNECTION = 0x1F
    CLONE = 0x20
    SUBSCRIBE_GROUP_REPLICATION_STREAM = 0x21
    STMT_BULK_EXECUTE = 0xFA  # MariaDB
    MULTI = 0xFE  # MariaDB COM_MULTI


# --- text -----------------------------------------------------------------------------------------------


def to_text(data: bytes) -> str:
    """Bytes from the wire as ``str``: UTF-8, with undecodable bytes kept as surrogate escapes (lossless)."""
    return data.decode("utf-8", "surrogateescape")


def to_bytes(text: str) -> bytes:
    """The inverse of :func:`to_text`. ValueError (UnicodeEncodeError) for a lone surrogate it did not make."""
    return text.encode("utf-8", "surrogateescape")


# --- the payload cursor ---------------------------------------------------------------------------------


def read_lenenc(buf: bytes, pos: int) -> tuple[int | None, int]:
    """The length-encoded integer at ``buf[pos:]`` and the position after it; None for 0xFB (NULL)."""
    size = len(buf)
    if pos >= size:
        raise ProtocolError("length-encoded integer is truncated")
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC:
        end = pos + 3
    elif first == 0xFD:
        end = pos + 4
    elif first == 0xFE:
        end = pos + 9
    elif first == 0xFB:
        return None, pos + 1
    else:
        raise ProtocolError("invalid length-encoded integer prefix 0xff")
    if end > size:
        raise ProtocolError("length-encoded integer is truncated")
    return int.from_bytes(buf[pos + 1 : end], "little"), end


class Reader:
    """A cursor over a packet payload. Every way of running off the end raises :class:`ProtocolError`."""

    __slots__ = ("_buf", "_end", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self._buf = buf
        self._end = len(buf)
        self.pos = pos

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self._end

    def _advance(self, size: int) -> int:
        pos = self.pos
        if size < 0 or pos + size > self._end:
            raise ProtocolError("packet is truncated")
        self.pos = pos + size
        return pos

    def take(self, size: int) -> bytes:
        pos = self._advance(size)
        return self._buf[pos : pos + size]

    def peek(self) -> int:
        if self.pos >= self._end:
            raise ProtocolError("packet is truncated")
        return self._buf[self.pos]

    def u8(self) -> int:
        return self._buf[self._advance(1)]

    def u16(self) -> int:
        value: int = _U16.unpack_from(self._buf, self._advance(2))[0]
        return value

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "little")

    def u32(self) -> int:
        value: int = _U32.unpack_from(self._buf, self._advance(4))[0]
        return value

    def u48(self) -> int:
        return int.from_bytes(self.take(6), "little")

    def u64(self) -> int:
        value: int = _U64.unpack_from(self._buf, self._advance(8))[0]
        return value

    def lenenc_int_or_null(self) -> int | None:
        value, self.pos = read_lenenc(self._buf, self.pos)
        return value

    def lenenc_int(self) -> int:
        value, self.pos = read_lenenc(self._buf, self.pos)
        if value is None:
            raise ProtocolError("unexpected NULL (0xfb) length-encoded integer")
        return value

    def lenenc_bytes(self) -> bytes:
        return self.take(self.lenenc_int())

    def lenenc_str(self) -> str:
        return to_text(self.lenenc_bytes())

    def lenenc_bytes_or_null(self) -> bytes | None:
        size = self.lenenc_int_or_null()
        return None if size is None else self.take(size)

    def nul_bytes(self) -> bytes:
        buf, pos = self._buf, self.pos
        nul = buf.find(b"\0", pos)
        if nul < 0:
            raise ProtocolError("string is missing its NUL terminator")
        self.pos = nul + 1
        return buf[pos:nul]

    def nul_str(self) -> str:
        return to_text(self.nul_bytes())

    def nul_str_or_rest(self) -> str:
        """A NUL-terminated string, or the rest of the packet if the terminator is missing (old servers)."""
        if self._buf.find(b"\0", self.pos) < 0:
            return self.rest_str()
        return self.nul_str()

    def rest(self) -> bytes:
        pos, self.pos = self.pos, self._end
        return self._buf[pos:]

    def rest_str(self) -> str:
        return to_text(self.rest())

    def finish(self) -> None:
        if self.pos != self._end:
            raise ProtocolError(f"{self._end - self.pos} unexpected trailing bytes in packet")


# --- writers --------------------------------------------------------------------------------------------


def _fixed(value: int, size: int) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{value} does not fit an unsigned {size}-byte integer")
    return value.to_bytes(size, "little")


def int1(value: int) -> bytes:
    return _fixed(value, 1)


def int2(value: int) -> bytes:
    return _fixed(value, 2)


def int3(value: int) -> bytes:
    return _fixed(value, 3)


def int4(value: int) -> bytes:
    return _fixed(value, 4)


def int6(value: int) -> bytes:
    return _fixed(value, 6)


def int8(value: int) -> bytes:
    return _fixed(value, 8)


def lenenc_int(value: int) -> bytes:
    """A length-encoded integer (never the 0xFB NULL marker)."""
    if value < 0:
        raise ValueError(f"{value} is negative")
    if value < 0xFB:
        return bytes((value,))
    if value <= 0xFFFF:
        return b"\xfc" + value.to_bytes(2, "little")
    if value <= 0xFFFFFF:
        return b"\xfd" + value.to_bytes(3, "little")
    if value <= MAX_LENENC:
        return b"\xfe" + value.to_bytes(8, "little")
    raise ValueError(f"{value} does not fit a length-encoded integer")


def lenenc_bytes(data: bytes) -> bytes:
    return lenenc_int(len(data)) + data


def lenenc_str(text: str) -> bytes:
    return lenenc_bytes(to_bytes(text))


def nul_bytes(data: bytes) -> bytes:
    if b"\0" in data:
        raise ValueError(f"NUL-terminated string contains a NUL: {data!r}")
    return data + b"\0"


def nul_str(text: str) -> bytes:
    return nul_bytes(to_bytes(text))
