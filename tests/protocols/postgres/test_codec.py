"""Tests for the pure PostgreSQL v3 codec: round trips, framing, fuzzing and the edge cases."""

from __future__ import annotations

import ast
import itertools
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.protocols.postgres import codec
from interceptor.protocols.postgres.codec import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationRequest,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    Backend,
    BackendKeyData,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyBothResponse,
    CopyData,
    CopyDone,
    CopyFail,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Flush,
    FrameReader,
    Frontend,
    FunctionCall,
    FunctionCallResponse,
    GSSENCRequest,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PasswordMessage,
    PortalSuspended,
    ProtocolError,
    Query,
    ReadyForQuery,
    RowDescription,
    SASLInitialResponse,
    SASLResponse,
    SSLRequest,
    StartupMessage,
    StartupReader,
    Sync,
    Terminate,
    data_row_values,
    decode_backend,
    decode_frontend,
    decode_startup,
    encode_data_row,
    error_fields,
    frame,
    ready_status,
)

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings(FAST, max_examples=100)

# --- strategies -----------------------------------------------------------------------------------------


def tuples(elements: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(elements, max_size=max_size).map(tuple)


text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
i8 = st.integers(-(2**7), 2**7 - 1)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
u32 = st.integers(0, 2**32 - 1)
blob = st.binary(max_size=24)
value = st.none() | blob
kind = st.sampled_from([b"S", b"P"])
field_code = st.characters(min_codepoint=1, max_codepoint=127)
KNOWN_AUTH = {0, 3, 5, 10, 11, 12}

field_description = st.builds(FieldDescription, text, u32, i16, u32, i16, i32, i16)

FRONTEND = st.one_of(
    st.builds(Query, text),
    st.builds(Parse, text, text, tuples(u32)),
    st.builds(Bind, text, text, tuples(i16), tuples(value), tuples(i16)),
    st.builds(Describe, kind, text),
    st.builds(Close, kind, text),
    st.builds(Execute, text, i32),
    st.builds(Sync),
    st.builds(Flush),
    st.builds(Terminate),
    st.builds(CopyData, blob),
    st.builds(CopyDone),
    st.builds(CopyFail, text),
    st.builds(FunctionCall, u32, tuples(i16), tuples(value), i16),
    st.builds(PasswordMessage, blob),
)
SASL = st.one_of(st.builds(SASLInitialResponse, text, value), st.builds(SASLResponse, blob))
BACKEND = st.one_of(
    st.builds(AuthenticationOk),
    st.builds(AuthenticationCleartextPassword),
    st.builds(AuthenticationMD5Password, st.binary(min_size=4, max_size=4)),
    st.builds(AuthenticationSASL, tuples(names)),
    st.builds(AuthenticationSASLContinue, blob),
    st.builds(AuthenticationSASLFinal, blob),
    st.builds(AuthenticationRequest, st.sampled_from([2, 7, 8, 9]) | i32.filter(lambda c: c not in KNOWN_AUTH), blob),
    st.builds(BackendKeyData, u32, u32),
    st.builds(ParameterStatus, text, text),
    st.builds(ReadyForQuery, st.sampled_from([b"I", b"T", b"E"])),
    st.builds(RowDescription, tuples(field_description)),
    st.builds(DataRow, tuples(value, 6)),
    st.builds(CommandComplete, text),
    st.builds(EmptyQueryResponse),
    st.builds(ErrorResponse, tuples(st.tuples(field_code, text))),
    st.builds(NoticeResponse, tuples(st.tuples(field_code, text))),
    st.builds(NotificationResponse, u32, text, text),
    st.builds(ParseComplete),
    st.builds(BindComplete),
    st.builds(CloseComplete),
    st.builds(NoData),
    st.builds(ParameterDescription, tuples(u32)),
    st.builds(PortalSuspended),
    st.builds(CopyInResponse, i8, tuples(i16)),
    st.builds(CopyOutResponse, i8, tuples(i16)),
    st.builds(CopyBothResponse, i8, tuples(i16)),
    st.builds(FunctionCallResponse, value),
    st.builds(NegotiateProtocolVersion, i32, tuples(text)),
    st.builds(CopyData, blob),
    st.builds(CopyDone),
)
STARTUP = st.one_of(
    st.builds(
        StartupMessage, st.integers(0, 0xFFFF).map(lambda minor: 3 << 16 | minor), tuples(st.tuples(names, text))
    ),
    st.builds(SSLRequest),
    st.builds(GSSENCRequest),
    st.builds(CancelRequest, u32, u32),
)


def check_frame(msg: Any) -> bytes:
    encoded: bytes = msg.encode()
    assert encoded[0] == msg.type_byte
    assert struct.unpack_from("!i", encoded, 1)[0] == len(encoded) - 1
    body = encoded[5:]
    assert msg.body() == body
    assert type(msg).decode(body) == msg
    return body


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at arbitrary points (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def mutate(data_object: st.DataObject, data: bytes) -> bytes:
    draw = data_object.draw
    op = draw(st.sampled_from(["truncate", "flip", "insert", "append"]))
    pos = draw(st.integers(0, len(data)))
    if op == "truncate":
        return data[:pos]
    if op == "flip" and pos < len(data):
        return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
    if op == "append":
        return data + draw(st.binary(min_size=1, max_size=8))
    return data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]


def decodes_or_protocol_error(decode: Any, *args: Any) -> None:
    try:
        decode(*args)
    except ProtocolError as exc:
        assert exc.sqlstate in ("08P01", "0A000")


# --- round trips ----------------------------------------------------------------------------------------


@FAST
@given(FRONTEND)
def test_frontend_round_trip(msg: Any) -> None:
    body = check_frame(msg)
    assert decode_frontend(msg.type_byte, body) == msg


@FAST
@given(BACKEND)
def test_backend_round_trip(msg: Any) -> None:
    body = check_frame(msg)
    assert decode_backend(msg.type_byte, body) == msg


@FAST
@given(SASL)
def test_sasl_messages_round_trip_and_decode_as_password_messages(msg: Any) -> None:
    body = check_frame(msg)
    assert msg.type_byte == Frontend.PASSWORD
    assert decode_frontend(Frontend.PASSWORD, body) == PasswordMessage(body)


@FAST
@given(STARTUP)
def test_startup_round_trip(packet: Any) -> None:
    encoded = packet.encode()
    assert struct.unpack_from("!i", encoded)[0] == len(encoded)
    assert decode_startup(encoded[4:]) == packet
    assert StartupReader().feed(encoded) == [encoded[4:]]


@FAST
@given(st.lists(FRONTEND | BACKEND, max_size=8), st.data())
def test_frame_reader_splits_any_chunking(msgs: list[Any], data: st.DataObject) -> None:
    frames = [m.encode() for m in msgs]
    reader = FrameReader(1 << 20)
    got = []
    for chunk in data.draw(chunked(b"".join(frames))):
        buf, found = reader.feed(chunk)
        for t, start, end in found:
            assert buf[start] == t
            got.append(buf[start:end])
    assert got == frames
    assert reader.pending == 0


@FAST
@given(st.lists(STARTUP, max_size=5), st.data())
def test_startup_reader_splits_any_chunking(packets: list[Any], data: st.DataObject) -> None:
    encoded = [p.encode() for p in packets]
    reader = StartupReader()
    got = []
    for chunk in data.draw(chunked(b"".join(encoded))):
        got += reader.feed(chunk)
    assert [decode_startup(p) for p in got] == packets
    assert reader.pending == 0
    assert reader.remaining() == b""


# --- fuzzing: only ProtocolError may escape -------------------------------------------------------------

ALL_TYPES = sorted({*Frontend, *Backend, ord("p"), 0, ord("?"), 255})


@pytest.mark.parametrize("type_byte", ALL_TYPES)
@FUZZ
@given(body=st.binary(max_size=64))
def test_fuzz_decode_any_body(type_byte: int, body: bytes) -> None:
    decodes_or_protocol_error(decode_frontend, type_byte, body)
    decodes_or_protocol_error(decode_backend, type_byte, body)


@settings(FAST, max_examples=1000)
@given(FRONTEND | BACKEND | SASL, st.data())
def test_fuzz_decode_mutated_messages(msg: Any, data: st.DataObject) -> None:
    mutated = mutate(data, msg.body())
    decodes_or_protocol_error(type(msg).decode, mutated)  # the class decoder alone, without the dispatch net
    decodes_or_protocol_error(decode_frontend, msg.type_byte, mutated)
    decodes_or_protocol_error(decode_backend, msg.type_byte, mutated)


@settings(FAST, max_examples=300)
@given(st.binary(max_size=64))
def test_fuzz_body_helpers(body: bytes) -> None:
    decodes_or_protocol_error(data_row_values, body)
    decodes_or_protocol_error(error_fields, body)
    decodes_or_protocol_error(ready_status, body)
    decodes_or_protocol_error(PasswordMessage(body).password)
    decodes_or_protocol_error(SASLInitialResponse.decode, body)


@settings(FAST, max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=6), st.integers(4, 64))
def test_fuzz_frame_reader(chunks: list[bytes], max_size: int) -> None:
    reader = FrameReader(max_size)
    try:
        for chunk in chunks:
            _buf, frames = reader.feed(chunk)
            for _t, start, end in frames:
                assert 5 <= end - start <= max_size + 1
    except ProtocolError:
        pass


@settings(FAST, max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_fuzz_startup_reader_and_decoder(chunks: list[bytes]) -> None:
    reader = StartupReader()
    try:
        for chunk in chunks:
            for payload in reader.feed(chunk):
                decodes_or_protocol_error(decode_startup, payload)
    except ProtocolError:
        pass
    for chunk in chunks:
        decodes_or_protocol_error(decode_startup, chunk)


@FAST
@given(STARTUP, st.data())
def test_fuzz_decode_mutated_startup_packets(packet: Any, data: st.DataObject) -> None:
    decodes_or_protocol_error(decode_startup, mutate(data, packet.encode()[4:]))


# --- framing edge cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [-1, 0, 3, 101, 2**31 - 1])
def test_bad_frame_length_is_refused_as_soon_as_the_header_is_in(length: int) -> None:
    reader = FrameReader(100)
    header = b"Q" + struct.pack("!i", length)
    assert reader.feed(header[:3])[1] == []
    with pytest.raises(ProtocolError) as info:
        reader.feed(header[3:])  # no body yet
    assert info.value.sqlstate == "08P01"
    with pytest.raises(ProtocolError):  # the stream cannot be resynchronised
        reader.feed(Sync().encode())


def test_frame_length_limits_are_inclusive() -> None:
    reader = FrameReader(100)
    data = frame(ord("d"), b"x" * 96) + frame(ord("S"), b"")
    _buf, frames = reader.feed(data)
    assert frames == [(ord("d"), 0, 101), (ord("S"), 101, 106)]


def test_frame_reader_is_zero_copy_when_nothing_is_pending() -> None:
    reader = FrameReader(1 << 20)
    data = Query("select 1").encode() + Sync().encode()
    buf, frames = reader.feed(data)
    assert buf is data
    assert len(frames) == 2
    assert reader.pending == 0
    partial = Query("select 2").encode()
    buf, frames = reader.feed(data + partial[:7])
    assert buf is not None
    assert [f[0] for f in frames] == [Frontend.QUERY, Frontend.SYNC]
    assert reader.pending == 7
    buf, frames = reader.feed(partial[7:])
    assert frames == [(Frontend.QUERY, 0, len(partial))]
    assert buf == partial


def test_frame_reader_buffers_a_large_frame_until_complete() -> None:
    reader = FrameReader(1 << 20)
    encoded = CopyData(b"z" * 100_000).encode()
    for i in range(0, len(encoded) - 1000, 1000):
        assert reader.feed(encoded[i : i + 1000])[1] == []
    assert reader.pending == len(encoded) // 1000 * 1000
    buf, frames = reader.feed(encoded[len(encoded) // 1000 * 1000 :])
    assert frames == [(Frontend.COPY_DATA, 0, len(encoded))]
    assert decode_frontend(frames[0][0], buf[5:]) == CopyData(b"z" * 100_000)


@pytest.mark.parametrize("length", [-5, 0, 7, 10001, 2**31 - 1])
def test_bad_startup_length_is_refused_as_soon_as_it_is_in(length: int) -> None:
    reader = StartupReader()
    assert reader.feed(struct.pack("!i", length)[:2]) == []
    with pytest.raises(ProtocolError):
        reader.feed(struct.pack("!i", length)[2:])


def test_startup_length_limit_is_inclusive_and_remaining_takes_the_rest() -> None:
    reader = StartupReader()
    packet = struct.pack("!iI", 10000, codec.PROTOCOL_V3) + b"x" * 9991 + b"\0"
    assert reader.feed(packet[:5000]) == []
    assert reader.feed(packet[5000:] + b"\x16\x03") == [packet[4:]]
    assert reader.pending == 2
    assert reader.remaining() == b"\x16\x03"
    assert reader.pending == 0


def test_ssl_request_then_smuggled_bytes_are_visible() -> None:
    reader = StartupReader()
    assert reader.feed(SSLRequest().encode() + b"Q\0") == [SSLRequest().encode()[4:]]
    assert reader.remaining() == b"Q\0"


# --- startup packets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("major", [1, 2, 4, 1234])
def test_other_protocol_versions_are_refused_with_0a000(major: int) -> None:
    payload = struct.pack("!I", major << 16) + b"user\0bob\0\0"
    with pytest.raises(ProtocolError) as info:
        decode_startup(payload)
    assert info.value.sqlstate == "0A000"


def test_startup_message_layout() -> None:
    msg = StartupMessage(parameters=(("user", "alice"), ("database", "")))
    assert msg.encode() == struct.pack("!iI", 30, 196608) + b"user\0alice\0database\0\0\0"
    assert msg.params == {"user": "alice", "database": ""}
    assert decode_startup(struct.pack("!I", 196608) + b"\0") == StartupMessage()
    assert decode_startup(struct.pack("!I", 196610) + b"\0").protocol == 196610  # 3.2: the relay negotiates
    for bad in (b"", b"user\0alice\0", b"user\0alice\0\0x", b"user\0", b"user\0\xff\0\0"):
        with pytest.raises(ProtocolError):
            decode_startup(struct.pack("!I", 196608) + bad)
    with pytest.raises(ValueError):
        StartupMessage(parameters=(("", "x"),)).encode()


def test_special_startup_packets() -> None:
    assert SSLRequest().encode() == struct.pack("!iI", 8, 80877103)
    assert GSSENCRequest().encode() == struct.pack("!iI", 8, 80877104)
    cancel = CancelRequest(0xFFFFFFFF, 0x80000000)
    assert cancel.encode() == struct.pack("!iIII", 16, 80877102, 0xFFFFFFFF, 0x80000000)
    for bad in (b"\0", b"\0" * 9, b"\0" * 7):
        with pytest.raises(ProtocolError):
            decode_startup(struct.pack("!I", 80877102) + bad)
    with pytest.raises(ProtocolError):
        decode_startup(struct.pack("!I", 80877103) + b"\0")


# --- messages -------------------------------------------------------------------------------------------


def test_error_response_build() -> None:
    err = ErrorResponse.build("42501", "permission denied", detail="d", hint="h")
    assert err.fields == (
        ("S", "ERROR"),
        ("V", "ERROR"),
        ("C", "42501"),
        ("M", "permission denied"),
        ("D", "d"),
        ("H", "h"),
    )
    assert (err.sqlstate, err.message, err.severity) == ("42501", "permission denied", "ERROR")
    body = err.encode()[5:]
    assert body == b"SERROR\0VERROR\0C42501\0Mpermission denied\0Dd\0Hh\0\0"
    assert error_fields(body) == {
        "S": "ERROR",
        "V": "ERROR",
        "C": "42501",
        "M": "permission denied",
        "D": "d",
        "H": "h",
    }
    notice = NoticeResponse.build("01000", "careful", severity="WARNING")
    assert notice.type_byte == Backend.NOTICE_RESPONSE
    assert notice.severity == "WARNING"
    assert decode_backend(Backend.NOTICE_RESPONSE, notice.encode()[5:]) == notice
    assert ErrorResponse((("S", "FEHLER"),)).severity == "FEHLER"
    assert ErrorResponse(()).sqlstate == ""
    with pytest.raises(ValueError):
        ErrorResponse.build("425", "short sqlstate")
    with pytest.raises(ValueError):
        ErrorResponse((("CC", "x"),)).encode()
    for bad in (b"", b"Mx\0", b"\x80x\0\0", b"\0\0"):
        with pytest.raises(ProtocolError):
            error_fields(bad)


def test_data_row_with_nulls() -> None:
    row = DataRow((b"1", None, b"", None))
    encoded = row.encode()
    assert encoded == b"D" + struct.pack("!ihi1sii0si", 23, 4, 1, b"1", -1, 0, b"", -1)
    assert encoded == encode_data_row([b"1", None, b"", None])
    assert data_row_values(encoded[5:]) == [b"1", None, b"", None]
    assert decode_backend(Backend.DATA_ROW, encoded[5:]) == row
    assert data_row_values(b"\0\0") == []
    with pytest.raises(ProtocolError):
        data_row_values(struct.pack("!hi", 1, -2))  # only -1 means NULL
    with pytest.raises(ProtocolError):
        data_row_values(struct.pack("!hi", 1, 5) + b"abc")
    with pytest.raises(ProtocolError):
        data_row_values(struct.pack("!hi", 1, -1) + b"x")


def test_direction_decides_the_meaning_of_a_type_byte() -> None:
    assert decode_frontend(ord("D"), b"Sstmt\0") == Describe(b"S", "stmt")
    assert decode_backend(ord("D"), b"\0\0") == DataRow(())
    assert decode_frontend(ord("S"), b"") == Sync()
    assert decode_backend(ord("S"), b"a\0b\0") == ParameterStatus("a", "b")
    assert decode_frontend(ord("d"), b"x") == decode_backend(ord("d"), b"x") == CopyData(b"x")
    with pytest.raises(ProtocolError):
        decode_frontend(ord("Z"), b"I")
    with pytest.raises(ProtocolError):
        decode_backend(ord("Q"), b"select 1\0")


def test_password_message_variants() -> None:
    msg = decode_frontend(ord("p"), b"secret\0")
    assert msg == PasswordMessage(b"secret\0")
    assert isinstance(msg, PasswordMessage)
    assert msg.password() == "secret"
    assert PasswordMessage.from_password("md5abc").encode() == frame(ord("p"), b"md5abc\0")
    for bad in (b"secret", b"secret\0x", b"\xff\0"):
        with pytest.raises(ProtocolError):
            PasswordMessage(bad).password()
    initial = SASLInitialResponse("SCRAM-SHA-256", b"n,,n=,r=abc")
    assert SASLInitialResponse.decode(initial.body()) == initial
    assert SASLInitialResponse("SCRAM-SHA-256").body() == b"SCRAM-SHA-256\0\xff\xff\xff\xff"
    assert SASLResponse.decode(b"c=biws") == SASLResponse(b"c=biws")


def test_authentication_dispatch() -> None:
    assert decode_backend(ord("R"), struct.pack("!i", 0)) == AuthenticationOk()
    assert decode_backend(ord("R"), struct.pack("!i", 5) + b"salt") == AuthenticationMD5Password(b"salt")
    sasl = struct.pack("!i", 10) + b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
    assert decode_backend(ord("R"), sasl) == AuthenticationSASL(("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"))
    for code in (2, 7, 9, 42):
        assert decode_backend(ord("R"), struct.pack("!i", code)) == AuthenticationRequest(code, b"")
    assert decode_backend(ord("R"), struct.pack("!i", 8) + b"tok") == AuthenticationRequest(8, b"tok")
    for bad in (b"", struct.pack("!i", 0) + b"x", struct.pack("!i", 5) + b"sal", struct.pack("!i", 10) + b"x\0"):
        with pytest.raises(ProtocolError):
            decode_backend(ord("R"), bad)
    with pytest.raises(ProtocolError):
        AuthenticationOk.decode(struct.pack("!i", 3))


def test_ready_for_query_status() -> None:
    assert ready_status(b"T") == b"T"
    assert ReadyForQuery(b"E").encode() == b"Z\0\0\0\x05E"
    for bad in (b"", b"X", b"II"):
        with pytest.raises(ProtocolError):
            ready_status(bad)
        with pytest.raises(ProtocolError):
            decode_backend(ord("Z"), bad)
    with pytest.raises(ValueError):
        ReadyForQuery(b"X").encode()


def test_counts_are_unsigned_int16_like_the_server_reads_them() -> None:
    many = Parse("s", "select", tuple(range(40000)))
    assert decode_frontend(ord("P"), many.encode()[5:]) == many
    with pytest.raises(ValueError):
        Parse("s", "select", tuple(range(70000))).encode()
    with pytest.raises(ProtocolError):
        decode_frontend(ord("P"), b"s\0q\0\xff\xff")  # 65535 OIDs announced, none present


def test_encoding_refuses_what_cannot_be_put_on_the_wire() -> None:
    for msg in (
        Query("a\0b"),
        ParameterStatus("a", "\0"),
        Describe(b"X", "a"),
        AuthenticationMD5Password(b"abc"),
        AuthenticationSASL(("",)),
        BackendKeyData(-1, 0),
        Execute("", 2**31),
        Bind("", "", (70000,)),
    ):
        with pytest.raises(ValueError):
            msg.encode()


def test_strict_bodies() -> None:
    for type_byte, body in [
        (ord("Q"), b"select 1"),  # no NUL terminator
        (ord("Q"), b"select 1\0\0"),  # trailing garbage
        (ord("Q"), b"\xc3\x28\0"),  # bad UTF-8
        (ord("S"), b"x"),
        (ord("D"), b"Xname\0"),  # bad Describe kind
        (ord("B"), b"\0\0" + struct.pack("!hhhi", 0, 1, 0, -3)),  # negative value length
        (ord("E"), b"\0"),  # truncated
    ]:
        with pytest.raises(ProtocolError):
            decode_frontend(type_byte, body)
    with pytest.raises(ProtocolError):
        decode_backend(ord("v"), struct.pack("!ii", 0, -1))
    with pytest.raises(ProtocolError):
        decode_backend(ord("T"), struct.pack("!h", 1) + b"col\0" + b"\0" * 17)


def test_protocol_error() -> None:
    assert ProtocolError("x").sqlstate == "08P01"
    assert ProtocolError("x", "0A000").sqlstate == "0A000"
    assert str(ProtocolError("boom")) == "boom"
    assert issubclass(ProtocolError, Exception)


def test_shared_framing_is_pure() -> None:
    tree = ast.parse((Path(codec.__file__).parent.parent / "framing.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__"}


def test_codec_is_pure() -> None:
    allowed = {"__future__", "struct", "dataclasses", "enum", "typing", "collections.abc"}
    folder = Path(codec.__file__).parent
    codec_modules = {"codec", "wire", "frontend", "backend_session", "backend"}
    for name in sorted(codec_modules):
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= allowed, name
            elif isinstance(node, ast.ImportFrom) and node.level == 2:  # the shared, equally pure chunk buffer
                assert node.module == "framing", name
            elif isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and node.module in codec_modules, name
            elif isinstance(node, ast.ImportFrom):
                assert node.module in allowed, name
