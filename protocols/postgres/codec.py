"""Pure (sans-IO) codec for the PostgreSQL frontend/backend protocol, version 3.0: the public namespace.

This module holds the framing layer (typed frames and the untyped startup packets) and the startup packets
themselves, and re-exports the public names of the modules that hold the rest, so callers only ever need
``from interceptor.protocols.postgres import codec``:

- :mod:`.wire`: ProtocolError, the Frontend/Backend type-byte enums, the body cursor and encoders, the
  hot-path helpers, and the message base classes;
- :mod:`.frontend`: the client's messages and ``decode_frontend``;
- :mod:`.backend_session`: the authentication exchange and the other session-level server messages;
- :mod:`.backend`: the query-cycle server messages and ``decode_backend``.

Those modules import only each other and the standard library, never this one.

Decoding treats its input as hostile: the only exception any decode/parse function lets escape is
:class:`ProtocolError`. Encoding treats its input as trusted and raises :class:`ValueError` for values that
cannot be put on the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TypeAlias

from ..framing import ChunkBuffer
from .backend import *  # noqa: F403  (re-exported: see backend.__all__)
from .backend import __all__ as _backend_all
from .backend_session import *  # noqa: F403  (re-exported: see backend_session.__all__)
from .backend_session import __all__ as _backend_session_all
from .frontend import *  # noqa: F403  (re-exported: see frontend.__all__)
from .frontend import __all__ as _frontend_all
from .wire import *  # noqa: F403  (re-exported: see wire.__all__)
from .wire import _HEADER, _I32, _U32, BodyReader, ProtocolError, encode_cstring
from .wire import __all__ as _wire_all

__all__ = [
    *_wire_all,
    *_frontend_all,
    *_backend_session_all,
    *_backend_all,
    "CANCEL_REQUEST_CODE",
    "GSSENC_REQUEST_CODE",
    "MAX_STARTUP_PACKET_LENGTH",
    "PROTOCOL_V3",
    "SSL_REQUEST_CODE",
    "CancelRequest",
    "FrameReader",
    "GSSENCRequest",
    "SSLRequest",
    "StartupMessage",
    "StartupPacket",
    "StartupReader",
    "decode_startup",
    "parse_startup_length",
]

PROTOCOL_V3 = 196608  # 3 << 16 | 0
CANCEL_REQUEST_CODE = 80877102  # 1234 << 16 | 5678
SSL_REQUEST_CODE = 80877103  # 1234 << 16 | 5679
GSSENC_REQUEST_CODE = 80877104  # 1234 << 16 | 5680
MAX_STARTUP_PACKET_LENGTH = 10000


class FrameReader(ChunkBuffer):
    """Splits a byte stream of typed messages (1-byte type + int32 length that includes itself + body).

    ``feed`` returns ``(buf, frames)``; each frame is ``(type_byte, start, end)`` and ``buf[start:end]`` is the
    whole frame including its 5-byte header (so the body is ``buf[start + 5:end]``). When nothing was pending,
    ``buf`` is ``data`` itself; a frame's body is only joined once all of its bytes have arrived, so a large
    message arriving in many chunks costs one copy, not one per chunk. A framing error is final: the stream
    cannot be resynchronised, so every later ``feed`` raises it again.
    """

    __slots__ = ("_max_size",)

    def __init__(self, max_size: int) -> None:
        if max_size < 4:
            raise ValueError("max_size must be at least 4")
        super().__init__()
        self._max_size = max_size

    def feed(self, data: bytes) -> tuple[bytes, list[tuple[int, int, int]]]:
        buf = self._take(data)
        if buf is None:
            return b"", []
        frames: list[tuple[int, int, int]] = []
        append = frames.append
        unpack = _HEADER.unpack_from
        max_size = self._max_size
        size = len(buf)
        pos = 0
        need = 5
        while size - pos >= 5:
            type_byte, length = unpack(buf, pos)
            if length < 4 or length > max_size:
                raise self._fail(ProtocolError(f"invalid length {length} for message type {type_byte:#04x}"))
            end = pos + 1 + length
            if end > size:
                need = end - pos
                break
            append((type_byte, pos, end))
            pos = end
        self._keep(buf, pos, need)
        return buf, frames


# --- untyped startup packets ----------------------------------------------------------------------------


def parse_startup_length(data: bytes, offset: int = 0, max_size: int = MAX_STARTUP_PACKET_LENGTH) -> int:
    """The validated length word (it counts itself) of the startup packet at ``data[offset:]``."""
    if len(data) - offset < 4:
        raise ProtocolError("startup packet header is truncated")
    length: int = _I32.unpack_from(data, offset)[0]
    if length < 8 or length > max_size:
        raise ProtocolError(f"invalid startup packet length {length}")
    return length


class StartupReader:
    """Splits the untyped packets of the startup phase (int32 length that includes itself + payload).

    ``feed`` returns the payloads (what follows each length word) of all complete packets and buffers the
    rest; the length is checked as soon as its 4 bytes are in. A legitimate client sends nothing after a
    StartupMessage, SSLRequest or GSSENCRequest until it has been answered, and what follows a StartupMessage
    (typed messages) or an accepted SSLRequest (TLS) is no startup packet: the caller must treat a further
    packet, or bytes left in ``remaining()``, after such a packet as a protocol violation (or hand them to a
    :class:`FrameReader`).
    """

    __slots__ = ("_buf", "_max_size")

    def __init__(self, max_size: int = MAX_STARTUP_PACKET_LENGTH) -> None:
        self._buf = b""
        self._max_size = max_size

    @property
    def pending(self) -> int:
        """Number of buffered bytes that are not yet part of a complete packet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        packets: list[bytes] = []
        size = len(buf)
        pos = 0
        while size - pos >= 4:
            length = parse_startup_length(buf, pos, self._max_size)
            if size - pos < length:
                break
            packets.append(buf[pos + 4 : pos + length])
            pos += length
        self._buf = buf[pos:] if pos else buf
        return packets

    def remaining(self) -> bytes:
        """Take (and forget) the buffered bytes."""
        buf, self._buf = self._buf, b""
        return buf


class _Packet:
    __slots__ = ()

    def payload(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The whole packet, including its length word."""
        try:
            payload = self.payload()
        except struct.error as exc:
            raise ValueError(f"cannot encode {type(self).__name__}: {exc}") from exc
        return _I32.pack(len(payload) + 4) + payload


@dataclass(frozen=True, slots=True)
class StartupMessage(_Packet):
    protocol: int = PROTOCOL_V3
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def params(self) -> dict[str, str]:
        return dict(self.parameters)

    def payload(self) -> bytes:
        parts = [_U32.pack(self.protocol)]
        for name, value in self.parameters:
            if not name:
                raise ValueError("startup parameter names must not be empty")
            parts.append(encode_cstring(name))
            parts.append(encode_cstring(value))
        parts.append(b"\0")
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class SSLRequest(_Packet):
    def payload(self) -> bytes:
        return _U32.pack(SSL_REQUEST_CODE)


@dataclass(frozen=True, slots=True)
class GSSENCRequest(_Packet):
    def payload(self) -> bytes:
        return _U32.pack(GSSENC_REQUEST_CODE)


@dataclass(frozen=True, slots=True)
class CancelRequest(_Packet):
    pid: int
    secret: int

    def payload(self) -> bytes:
        return _U32.pack(CANCEL_REQUEST_CODE) + _U32.pack(self.pid) + _U32.pack(self.secret)


StartupPacket: TypeAlias = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest


def decode_startup(payload: bytes) -> StartupPacket:
    """Decode a startup packet's payload (what follows its length word)."""
    reader = BodyReader(payload)
    code = reader.uint32()
    if code == SSL_REQUEST_CODE:
        reader.finish()
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        reader.finish()
        return GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        pid = reader.uint32()
        secret = reader.uint32()
        reader.finish()
        return CancelRequest(pid, secret)
    if code >> 16 != 3:
        raise ProtocolError(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 3.0", "0A000")
    parameters: list[tuple[str, str]] = []
    while name := reader.cstring():
        parameters.append((name, reader.cstring()))
    reader.finish()
    return StartupMessage(code, tuple(parameters))
