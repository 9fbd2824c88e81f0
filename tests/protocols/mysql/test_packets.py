"""Tests for MySQL packet framing: splitting and joining payloads of 16 MB and more (with a small split size,
and once with the real one), sequence-id checks, the size limit, and fuzzing of the reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.protocols.mysql.codec import (
    MAX_PAYLOAD,
    Packet,
    PacketReader,
    ProtocolError,
    SequenceTracker,
    join_payload,
    packet_count,
    split_payload,
)
from tests.protocols.mysql.strategies import FAST, chunked

SPLIT = 16
sizes = st.sampled_from([0, 1, 15, 16, 17, 31, 32, 33, 48, 64]) | st.integers(0, 100)
payloads = sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n))


def header(length: int, seq: int) -> bytes:
    return length.to_bytes(3, "little") + bytes((seq,))


@FAST
@given(st.lists(st.tuples(payloads, st.integers(0, 255)), max_size=6), st.data())
def test_split_payloads_rejoin_across_any_chunking(items: list[tuple[bytes, int]], data: st.DataObject) -> None:
    raws = [split_payload(payload, seq, SPLIT) for payload, seq in items]
    for (payload, _seq), raw in zip(items, raws, strict=True):
        assert len(raw) == len(payload) + 4 * packet_count(len(payload), SPLIT)
        assert join_payload(raw, SPLIT) == payload
    reader = PacketReader(1000, SPLIT)
    offsets_reader = PacketReader(1000, SPLIT)
    got: list[Packet] = []
    got_offsets: list[tuple[int, bytes, bytes, int]] = []
    for chunk in data.draw(chunked(b"".join(raws))):
        got += reader.feed(chunk)
        buf, found = offsets_reader.feed_offsets(chunk)
        for seq, start, end in found:
            got_offsets.append(
                (seq, buf[start:end], offsets_reader.payload(buf, start, end), offsets_reader.count(start, end))
            )
    expected = [
        Packet(seq, payload, raw, packet_count(len(payload), SPLIT))
        for (payload, seq), raw in zip(items, raws, strict=True)
    ]
    assert got == expected
    assert got_offsets == [(p.seq, p.raw, p.payload, p.count) for p in expected]
    assert reader.pending == offsets_reader.pending == 0
    tracker = SequenceTracker()
    for packet in got:
        tracker.reset(packet.seq)
        tracker.check_packet(packet)
        assert tracker.expected == packet.next_seq == (packet.seq + packet.count) % 256


def test_exact_multiple_ends_with_an_empty_packet() -> None:
    raw = split_payload(b"a" * 32, 254, SPLIT)
    assert raw == header(16, 254) + b"a" * 16 + header(16, 255) + b"a" * 16 + header(0, 0)
    [packet] = PacketReader(100, SPLIT).feed(raw)
    assert (packet.seq, packet.payload, packet.count, packet.next_seq) == (254, b"a" * 32, 3, 1)
    assert split_payload(b"", 7, SPLIT) == header(0, 7)
    assert split_payload(b"abc", 7) == header(3, 7) + b"abc"


def test_real_split_size() -> None:
    payload = bytes(MAX_PAYLOAD) + b"tail"
    raw = split_payload(payload, 0)
    assert raw[:4] == b"\xff\xff\xff\x00" and raw[MAX_PAYLOAD + 4 : MAX_PAYLOAD + 8] == header(4, 1)
    reader = PacketReader(MAX_PAYLOAD + 4)
    assert reader.feed(raw[:1000]) == []
    [packet] = reader.feed(raw[1000:])
    assert packet.payload == payload and packet.count == 2
    with pytest.raises(ProtocolError):
        PacketReader(MAX_PAYLOAD + 3).feed(raw)
    [exact] = PacketReader(MAX_PAYLOAD).feed(split_payload(bytes(MAX_PAYLOAD), 9))
    assert exact.count == 2 and len(exact.payload) == MAX_PAYLOAD and exact.next_seq == 11


@pytest.mark.parametrize("bad_seq", [0, 2, 255])
def test_continuation_with_a_wrong_sequence_id_is_refused(bad_seq: int) -> None:
    reader = PacketReader(100, SPLIT)
    reader.feed(header(16, 0) + b"x" * 16)
    with pytest.raises(ProtocolError):
        reader.feed(header(3, bad_seq) + b"abc")
    with pytest.raises(ProtocolError):  # the stream cannot be resynchronised
        reader.feed(header(0, 0))


def test_sequence_ids_wrap_in_continuations() -> None:
    raw = header(16, 255) + b"x" * 16 + header(1, 0) + b"y"
    assert PacketReader(100, SPLIT).feed(raw) == [Packet(255, b"x" * 16 + b"y", raw, 2)]


def test_size_limit_is_enforced_at_the_header() -> None:
    reader = PacketReader(20, SPLIT)
    assert reader.feed(header(5, 0)[:3]) == []
    assert reader.feed(header(5, 0)[3:]) == []  # within the limit: waits for the body
    reader = PacketReader(4, 100)
    with pytest.raises(ProtocolError):
        reader.feed(header(5, 0))  # no body yet
    # a continued packet: refused when the second header shows the total passes the limit, before its body
    reader = PacketReader(20, SPLIT)
    assert reader.feed(header(16, 0) + b"x" * 16) == []
    with pytest.raises(ProtocolError):
        reader.feed(header(5, 1))
    limit = PacketReader(20, SPLIT)  # inclusive
    assert limit.feed(header(16, 0) + b"x" * 16 + header(4, 1) + b"abcd")[0].payload == b"x" * 16 + b"abcd"


def test_feed_offsets_is_zero_copy_when_nothing_is_pending() -> None:
    reader = PacketReader(1 << 20)
    data = split_payload(b"\x03select 1", 0) + split_payload(b"\x01", 0)
    buf, found = reader.feed_offsets(data)
    assert buf is data and found == [(0, 0, 13), (0, 13, 18)]
    assert reader.payload(buf, 13, 18) == b"\x01"
    buf, found = reader.feed_offsets(data[:7])
    assert found == [] and reader.pending == 7
    assert reader.feed_offsets(data[7:10]) == (b"", [])  # still short of the announced length
    buf, found = reader.feed_offsets(data[10:])
    assert buf == data and found == [(0, 0, 13), (0, 13, 18)]


def test_sequence_tracker() -> None:
    tracker = SequenceTracker()
    tracker.check(0)
    assert tracker.next() == 1
    tracker.check(2, count=3)
    assert tracker.expected == 5
    with pytest.raises(ProtocolError):
        tracker.check(4)
    tracker.reset()
    tracker.check(0)
    tracker.reset(255)
    tracker.check(255)
    assert tracker.expected == 0


def test_encoding_refuses_bad_arguments() -> None:
    for seq in (-1, 256):
        with pytest.raises(ValueError):
            split_payload(b"", seq)
    for split in (0, MAX_PAYLOAD + 1):
        with pytest.raises(ValueError):
            split_payload(b"", 0, split)
        with pytest.raises(ValueError):
            PacketReader(10, split)


@FAST
@given(st.lists(st.binary(max_size=40), max_size=6), st.integers(0, 64), st.sampled_from([1, 4, SPLIT, MAX_PAYLOAD]))
def test_fuzz_reader(chunks: list[bytes], max_size: int, split: int) -> None:
    reader = PacketReader(max_size, split)
    try:
        for chunk in chunks:
            for packet in reader.feed(chunk):
                assert len(packet.payload) <= max_size
                assert join_payload(packet.raw, split) == packet.payload
    except ProtocolError:
        pass
