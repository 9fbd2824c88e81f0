"""Connection-phase packets: the server's HandshakeV10 greeting, the client's SSLRequest and
HandshakeResponse41, and the authentication exchange (AuthSwitchRequest, AuthSwitchResponse, AuthMoreData).

MariaDB marks itself by clearing capability bit 0 (``CLIENT_MYSQL``) and then carries its extended
capabilities (bits 32..63 of :class:`~.wire.Capability`) in the last 4 of the greeting's 10 reserved bytes,
and in the last 4 of the 23 filler bytes of the client's response.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

from .generic import ERRPacket, OKPacket
from .packets import ClientPacket, ServerPacket
from .wire import (
    Capability,
    ProtocolError,
    Reader,
    int1,
    int2,
    int4,
    lenenc_bytes,
    lenenc_str,
    nul_bytes,
    nul_str,
)

__all__ = [
    "FAST_AUTH_OK",
    "PERFORM_FULL_AUTHENTICATION",
    "REQUEST_PUBLIC_KEY",
    "AuthMoreData",
    "AuthSwitchRequest",
    "AuthSwitchResponse",
    "HandshakeResponse41",
    "HandshakeV10",
    "SSLRequest",
    "decode_attributes",
    "decode_auth_reply",
    "decode_client_hello",
    "decode_greeting",
    "encode_attributes",
]

FAST_AUTH_OK = 0x03  # caching_sha2_password: AuthMoreData b"\x03", an OK follows
PERFORM_FULL_AUTHENTICATION = 0x04  # caching_sha2_password: AuthMoreData b"\x04", send the password
REQUEST_PUBLIC_KEY = b"\x02"  # caching_sha2_password: what the client sends to ask for the RSA public key

_MYSQL = int(Capability.CLIENT_MYSQL)
_P41 = int(Capability.PROTOCOL_41)
_SSL = int(Capability.SSL)
_SECURE = int(Capability.SECURE_CONNECTION)
_PLUGIN_AUTH = int(Capability.PLUGIN_AUTH)
_LENENC_DATA = int(Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA)
_WITH_DB = int(Capability.CONNECT_WITH_DB)
_ATTRS = int(Capability.CONNECT_ATTRS)
_ZSTD = int(Capability.ZSTD_COMPRESSION_ALGORITHM)
_LOW32 = 0xFFFFFFFF


def _split_caps(caps: int) -> tuple[int, int]:
    """(the 32 standard bits, MariaDB's extended bits); ValueError if they cannot be carried."""
    low, high = caps & _LOW32, caps >> 32
    if high >= 1 << 32:
        raise ValueError("capabilities do not fit 64 bits")
    if high and low & _MYSQL:
        raise ValueError("MariaDB extended capabilities need CLIENT_MYSQL (bit 0) clear")
    return low, high


def encode_attributes(attributes: Iterable[tuple[str, str]]) -> bytes:
    """Connection attributes: the length-encoded total, then length-encoded key/value strings."""
    blob = b"".join(lenenc_str(key) + lenenc_str(value) for key, value in attributes)
    return lenenc_bytes(blob)


def decode_attributes(reader: Reader) -> tuple[tuple[str, str], ...]:
    inner = Reader(reader.lenenc_bytes())
    pairs = []
    while not inner.at_end():
        pairs.append((inner.lenenc_str(), inner.lenenc_str()))
    return tuple(pairs)


# --- the server greeting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeV10(ServerPacket):
    """The server's first packet. ``auth_data`` is the whole nonce (parts 1 and 2, without the NUL that
    ends part 2); ``capabilities`` includes MariaDB's extended bits."""

    server_version: str
    connection_id: int
    auth_data: bytes
    capabilities: int
    charset: int = 0
    status: int = 0
    auth_plugin_name: str = ""

    @property
    def is_mariadb(self) -> bool:
        return not self.capabilities & _MYSQL

    def encode(self, caps: int = 0) -> bytes:
        """The payload (``caps`` is ignored: the greeting announces the capabilities)."""
        low, high = _split_caps(self.capabilities)
        if not low & _P41:
            raise ValueError("a HandshakeV10 needs PROTOCOL_41")
        data = self.auth_data
        if low & _PLUGIN_AUTH:
            if not 8 <= len(data) <= 254:
                raise ValueError("auth data must be 8..254 bytes")
            auth_len = len(data) + 1
        else:
            if len(data) != (20 if low & _SECURE else 8):
                raise ValueError("without PLUGIN_AUTH the auth data must be 20 bytes (8 without SECURE_CONNECTION)")
            auth_len = 0
        parts = [
            b"\x0a",
            nul_str(self.server_version),
            int4(self.connection_id),
            data[:8],
            b"\0",
            int2(low & 0xFFFF),
            int1(self.charset),
            int2(self.status),
            int2(low >> 16),
            int1(auth_len),
            b"\0" * 6 + int4(high) if not low & _MYSQL else b"\0" * 10,
        ]
        if low & _SECURE:
            parts.append((data[8:] + b"\0").ljust(13, b"\0"))
        elif len(data) > 8:
            raise ValueError("auth data beyond 8 bytes needs SECURE_CONNECTION")
        if low & _PLUGIN_AUTH:
            parts.append(nul_str(self.auth_plugin_name))
        elif self.auth_plugin_name:
            raise ValueError("an auth plugin name needs PLUGIN_AUTH")
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = Reader(payload)
        version = reader.u8()
        if version != 10:
            raise ProtocolError(f"unsupported handshake protocol version {version}")
        server_version = reader.nul_str()
        connection_id = reader.u32()
        data = reader.take(8)
        reader.u8()  # filler
        low = reader.u16()
        charset = reader.u8()
        status = reader.u16()
        low |= reader.u16() << 16
        auth_len = reader.u8()
        reserved = reader.take(10)
        capabilities = low if low & _MYSQL else low | int.from_bytes(reserved[6:], "little") << 32
        if not low & _P41:
            raise ProtocolError("the server does not support PROTOCOL_41", 1251, "08004")
        if low & _SECURE:
            part2 = reader.take(max(13, auth_len - 8))
            data += part2[: max(0, auth_len - 9)] if low & _PLUGIN_AUTH and auth_len else part2[:12]
        plugin = reader.nul_str_or_rest() if low & _PLUGIN_AUTH else ""
        reader.finish()
        return cls(server_version, connection_id, data, Capability(capabilities), charset, status, plugin)


def decode_greeting(payload: bytes) -> HandshakeV10 | ERRPacket:
    """The server's first packet: a greeting, or an ERR (too many connections, host blocked ...)."""
    if payload[:1] == b"\xff":
        return ERRPacket.decode(payload, _P41)
    return HandshakeV10.decode(payload)


# --- the client's answer --------------------------------------------------------------------------------


def _encode_prefix(capabilities: int, max_packet_size: int, charset: int) -> bytes:
    low, high = _split_caps(capabilities)
    if not low & _P41:
        raise ValueError("a 4.1 handshake response needs PROTOCOL_41")
    return int4(low) + int4(max_packet_size) + int1(charset) + b"\0" * 19 + int4(high)


def _decode_prefix(reader: Reader) -> tuple[int, int, int]:
    low = reader.u32()
    max_packet_size = reader.u32()
    charset = reader.u8()
    filler = reader.take(23)
    if not low & _P41:
        raise ProtocolError("pre-4.1 clients are not supported", 1251, "08004")
    capabilities = low if low & _MYSQL else low | int.from_bytes(filler[19:], "little") << 32
    return Capability(capabilities), max_packet_size, charset


@dataclass(frozen=True, slots=True)
class SSLRequest(ClientPacket):
    """The 32-byte prefix of a HandshakeResponse41 with SSL set: the client wants TLS now."""

    capabilities: int
    max_packet_size: int = 0
    charset: int = 0

    def encode(self, caps: int = 0) -> bytes:
        if not self.capabilities & _SSL:
            raise ValueError("an SSLRequest needs the SSL capability")
        return _encode_prefix(self.capabilities, self.max_packet_size, self.charset)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = Reader(payload)
        capabilities, max_packet_size, charset = _decode_prefix(reader)
        reader.finish()
        if not capabilities & _SSL:
            raise ProtocolError("a 32-byte handshake response without the SSL capability")
        return cls(capabilities, max_packet_size, charset)


@dataclass(frozen=True, slots=True)
class HandshakeResponse41(ClientPacket):
    """The client's login. Its layout follows its own ``capabilities`` (the ``caps`` argument of encode and
    decode is ignored; a gateway should refuse a client that claims capabilities it was not offered): the auth
    response is length-encoded (PLUGIN_AUTH_LENENC_CLIENT_DATA), 1-byte-length-prefixed (SECURE_CONNECTION)
    or NUL-terminated; database, plugin name, attributes and the zstd level are present with CONNECT_WITH_DB,
    PLUGIN_AUTH, CONNECT_ATTRS and ZSTD_COMPRESSION_ALGORITHM. Optional trailing fields that a client leaves
    out decode as empty, as the server reads them."""

    capabilities: int
    max_packet_size: int
    charset: int
    username: str
    auth_response: bytes = b""
    database: str = ""
    auth_plugin_name: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    zstd_level: int = 0

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.attributes)

    def encode(self, caps: int = 0) -> bytes:
        flags = self.capabilities
        parts = [_encode_prefix(self.capabilities, self.max_packet_size, self.charset), nul_str(self.username)]
        if flags & _LENENC_DATA:
            parts.append(lenenc_bytes(self.auth_response))
        elif flags & _SECURE:
            parts.append(int1(len(self.auth_response)) + self.auth_response)
        else:
            parts.append(nul_bytes(self.auth_response))
        for flag, present, value in (
            (_WITH_DB, self.database, nul_str(self.database)),
            (_PLUGIN_AUTH, self.auth_plugin_name, nul_str(self.auth_plugin_name)),
            (_ATTRS, self.attributes, encode_attributes(self.attributes)),
            (_ZSTD, self.zstd_level, int1(self.zstd_level)),
        ):
            if flags & flag:
                parts.append(value)
            elif present:
                raise ValueError(f"{Capability(flag).name} is not set")
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = Reader(payload)
        capabilities, max_packet_size, charset = _decode_prefix(reader)
        flags = capabilities
        username = reader.nul_str()
        if flags & _LENENC_DATA:
            auth = reader.lenenc_bytes()
        elif flags & _SECURE:
            auth = reader.take(reader.u8())
        else:
            auth = reader.nul_bytes()
        database = reader.nul_str_or_rest() if flags & _WITH_DB and not reader.at_end() else ""
        plugin = reader.nul_str_or_rest() if flags & _PLUGIN_AUTH and not reader.at_end() else ""
        attributes = decode_attributes(reader) if flags & _ATTRS and not reader.at_end() else ()
        zstd_level = reader.u8() if flags & _ZSTD and not reader.at_end() else 0
        reader.finish()
        return cls(capabilities, max_packet_size, charset, username, auth, database, plugin, attributes, zstd_level)


def decode_client_hello(payload: bytes, caps: int = 0) -> SSLRequest | HandshakeResponse41:
    """The client's answer to the greeting: an SSLRequest (exactly 32 bytes) or a HandshakeResponse41."""
    if len(payload) == 32:
        return SSLRequest.decode(payload)
    return HandshakeResponse41.decode(payload)


# --- the authentication exchange ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthSwitchRequest(ServerPacket):
    """0xFE, the plugin to switch to, and its data (for the built-in plugins: a 20-byte nonce and a NUL)."""

    plugin_name: str
    data: bytes = b""

    @property
    def nonce(self) -> bytes:
        """``data`` without its trailing NUL."""
        return self.data[:-1] if self.data.endswith(b"\0") else self.data

    def encode(self, caps: int = 0) -> bytes:
        return b"\xfe" + nul_str(self.plugin_name) + self.data

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        reader = Reader(payload)
        if reader.u8() != 0xFE:
            raise ProtocolError("invalid AuthSwitchRequest header")
        if reader.at_end():
            raise ProtocolError("old-style auth switch (mysql_old_password) is not supported")
        plugin = reader.nul_str()
        return cls(plugin, reader.rest())


@dataclass(frozen=True, slots=True)
class AuthMoreData(ServerPacket):
    """0x01 and plugin data: caching_sha2_password's fast-auth result (0x03 / 0x04) or its RSA public key."""

    data: bytes

    @property
    def fast_auth_ok(self) -> bool:
        return self.data == bytes((FAST_AUTH_OK,))

    @property
    def full_auth_needed(self) -> bool:
        return self.data == bytes((PERFORM_FULL_AUTHENTICATION,))

    def encode(self, caps: int = 0) -> bytes:
        return b"\x01" + self.data

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        if payload[:1] != b"\x01":
            raise ProtocolError("invalid AuthMoreData header")
        return cls(payload[1:])


@dataclass(frozen=True, slots=True)
class AuthSwitchResponse(ClientPacket):
    """What the client sends during authentication after its HandshakeResponse41: opaque plugin data."""

    data: bytes

    def encode(self, caps: int = 0) -> bytes:
        return self.data

    @classmethod
    def decode(cls, payload: bytes, caps: int = 0) -> Self:
        return cls(payload)


def decode_auth_reply(payload: bytes, caps: int) -> OKPacket | ERRPacket | AuthSwitchRequest | AuthMoreData:
    """A server packet during authentication (after the client's response): the header byte decides."""
    header = payload[:1]
    if header == b"\x00":
        return OKPacket.decode(payload, caps)
    if header == b"\xff":
        return ERRPacket.decode(payload, caps)
    if header == b"\xfe":
        return AuthSwitchRequest.decode(payload)
    if header == b"\x01":
        return AuthMoreData.decode(payload)
    raise ProtocolError(f"unexpected packet header {header.hex() or 'nothing'} during authentication")
