"""MySQL packet framing: the 4-byte header (3-byte little-endian payload length + 1-byte sequence id), the
joining and splitting of payloads of 16 MB and more, sequence-id checking, and the packet base classes.

A payload of exactly ``split`` (0xFFFFFF) bytes means "continued in the next packet"; the logical payload
ends with the first physical packet that is shorter (an empty one if the length is an exact multiple).
``split`` is a parameter only so tests can exercise this with small sizes.

This module depends on nothing but the standard library (no I/O).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from ..framing import ChunkBuffer
from .wire import ProtocolError

__all__ = [
    "MAX_PAYLOAD",
    "ClientPacket",
    "Command",
    "Packet",
    "PacketReader",
    "SequenceTracker",
    "ServerPacket",
    "join_payload",
    "packet_count",
    "split_payload",
]

MAX_PAYLOAD = 0xFFFFFF
_HEADER = struct.Struct("<I")  # length | seq << 24


def _check_split(split: int) -> None:
    if not 1 <= split <= MAX_PAYLOAD:
        raise ValueError(f"split size must be in 1..{MAX_PAYLOAD}")


def packet_count(payload_length: int, split: int = MAX_PAYLOAD) -> int:
    """How many physical packets carry a logical payload of ``payload_length`` bytes."""
    return payload_length // split + 1


def split_payload(payload: bytes, seq: int, split: int = MAX_PAYLOAD) -> bytes:
    """``payload`` as one or more physical packets, the first with sequence id ``seq``."""
    _check_split(split)
    if not 0 <= seq <= 0xFF:
        raise ValueError(f"sequence id {seq} is not in 0..255")
    size = len(payload)
    if size < split:
        return _HEADER.pack(size | seq << 24) + payload
    parts = []
    pos = 0
    while True:
        chunk = payload[pos : pos + split]
        parts.append(_HEADER.pack(len(chunk) | seq << 24))
        parts.append(chunk)
        seq = (seq + 1) & 0xFF
        pos += split
        if len(chunk) < split:
            return b"".join(parts)


def join_payload(raw: bytes, split: int = MAX_PAYLOAD) -> bytes:
    """The logical payload of ``raw``, the complete physical packets of one logical packet (as framed by
    :class:`PacketReader`, so already validated)."""
    size = len(raw)
    if size - 4 < split:
        return raw[4:]
    parts = []
    pos = 0
    while pos < size:
        length = _HEADER.unpack_from(raw, pos)[0] & 0xFFFFFF
        parts.append(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Packet:
    """One logical packet: ``seq`` is the sequence id of its first physical packet, ``raw`` the exact bytes
    of all of its physical packets (to forward untouched) and ``count`` how many there were."""

    seq: int
    payload: bytes
    raw: bytes
    count: int = 1

    @property
    def next_seq(self) -> int:
        """The sequence id the packet after this one must carry."""
        return (self.seq + self.count) & 0xFF


class PacketReader(ChunkBuffer):
    """Splits a byte stream into logical packets, joining 16 MB continuations and checking that their
    sequence ids increase by one (mod 256). The logical payload length is checked against ``max_size`` as
    soon as each header is in. A framing error is final: every later feed raises it again.

    ``feed_offsets`` returns ``(buf, packets)``; each packet is ``(seq, start, end)`` where ``buf[start:end]``
    is the raw logical packet (all of its headers included) and :meth:`payload` gives its payload. When
    nothing was pending, ``buf`` is ``data`` itself, and a packet that arrives in many chunks is joined once.
    """

    __slots__ = ("_max_size", "_split")

    def __init__(self, max_size: int, split: int = MAX_PAYLOAD) -> None:
        _check_split(split)
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        super().__init__()
        self._max_size = max_size
        self._split = split

    def feed_offsets(self, data: bytes) -> tuple[bytes, list[tuple[int, int, int]]]:
        buf = self._take(data)
        if buf is None:
            return b"", []
        packets: list[tuple[int, int, int]] = []
        append = packets.append
        unpack = _HEADER.unpack_from
        max_size, split = self._max_size, self._split
        size = len(buf)
        pos = 0
        need = 4
        while size - pos >= 4:
            word = unpack(buf, pos)[0]
            length, seq = word & 0xFFFFFF, word >> 24
            end = pos + 4 + length
            if length > max_size:
                raise self._fail(ProtocolError(f"packet of {length} bytes exceeds the {max_size}-byte limit"))
            if length < split:  # the common case: a packet that is not continued
                if end > size:
                    need = end - pos
                    break
                append((seq, pos, end))
                pos = end
                continue
            complete, end, need = self._continued(buf, pos, seq)
            if not complete:
                break
            append((seq, pos, end))
            pos = end
        self._keep(buf, pos, need)
        return buf, packets

    def _continued(self, buf: bytes, start: int, seq: int) -> tuple[bool, int, int]:
        """Walk the physical packets of a continued logical packet at ``buf[start:]``: (complete, end, need)."""
        max_size, split = self._max_size, self._split
        size = len(buf)
        total = 0
        pos = start
        expected = seq
        while True:
            if size - pos < 4:
                return False, pos, pos + 4 - start
            word = _HEADER.unpack_from(buf, pos)[0]
            length, got = word & 0xFFFFFF, word >> 24
            if got != expected:
                raise self._fail(ProtocolError(f"continuation packet has sequence id {got}, expected {expected}"))
            total += length
            if total > max_size:
                raise self._fail(ProtocolError(f"packet of {total}+ bytes exceeds the {max_size}-byte limit"))
            end = pos + 4 + length
            if length < split:
                return (True, end, 4) if end <= size else (False, end, end - start)
            if end > size:
                return False, end, end + 4 - start
            pos = end
            expected = (got + 1) & 0xFF

    def payload(self, buf: bytes, start: int, end: int) -> bytes:
        """The logical payload of the packet at ``buf[start:end]`` (as returned by :meth:`feed_offsets`)."""
        if end - start - 4 < self._split:
            return buf[start + 4 : end]
        return join_payload(buf[start:end], self._split)

    def count(self, start: int, end: int) -> int:
        """How many physical packets the logical packet at ``buf[start:end]`` spans."""
        return (end - start) // (self._split + 4) + 1

    def feed(self, data: bytes) -> list[Packet]:
        buf, found = self.feed_offsets(data)
        split = self._split
        packets = []
        for seq, start, end in found:
            raw = buf[start:end]
            if end - start - 4 < split:
                packets.append(Packet(seq, raw[4:], raw))
            else:
                packets.append(Packet(seq, join_payload(raw, split), raw, (end - start) // (split + 4) + 1))
        return packets


class SequenceTracker:
    """The sequence ids of one exchange. Each command starts a new exchange at 0 (:meth:`reset`); every
    packet after it, in either direction, carries the next id (mod 256). The connection phase is one
    exchange, starting with the server's greeting at 0. A wrong id raises :class:`ProtocolError`, and the
    relay closes the session."""

    __slots__ = ("expected",)

    def __init__(self, expected: int = 0) -> None:
        self.expected = expected

    def reset(self, expected: int = 0) -> None:
        self.expected = expected

    def check(self, seq: int, count: int = 1) -> None:
        """Accept a logical packet of ``count`` physical packets whose first id is ``seq``."""
        if seq != self.expected:
            raise ProtocolError(f"packet has sequence id {seq}, expected {self.expected}")
        self.expected = (seq + count) & 0xFF

    def check_packet(self, packet: Packet) -> None:
        self.check(packet.seq, packet.count)

    def next(self, count: int = 1) -> int:
        """The id for a packet the caller sends itself (spanning ``count`` physical packets), and advance."""
        seq = self.expected
        self.expected = (seq + count) & 0xFF
        return seq


# --- packet base classes --------------------------------------------------------------------------------


class ServerPacket:
    """A packet the server sends. ``encode(caps)`` returns the payload for the negotiated capabilities."""

    __slots__ = ()

    def encode(self, caps: int) -> bytes:
        raise NotImplementedError

    def to_packet(self, seq: int, caps: int) -> bytes:
        """The framed packet(s), the first with sequence id ``seq``."""
        return split_payload(self.encode(caps), seq)


class ClientPacket:
    """A packet the client sends. ``encode(caps)`` returns the payload for the negotiated capabilities."""

    __slots__ = ()

    def encode(self, caps: int) -> bytes:
        raise NotImplementedError

    def to_packet(self, seq: int, caps: int) -> bytes:
        """The framed packet(s), the first with sequence id ``seq``."""
        return split_payload(self.encode(caps), seq)


class Command(ClientPacket):
    """A command-phase client packet; ``command`` is its first byte (a :class:`~.wire.CommandByte`)."""

    __slots__ = ()
    command: ClassVar[int]
