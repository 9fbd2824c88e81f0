"""Tests for the pure MySQL/MariaDB codec: round trips under several capability sets, fuzzing (only
ProtocolError may escape), known answers captured from the local MariaDB 10.11 and PyMySQL, and purity."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.protocols.mysql import codec
from interceptor.protocols.mysql.codec import (
    AuthMoreData,
    AuthSwitchRequest,
    AuthSwitchResponse,
    Capability,
    ClientPacket,
    ColumnCount,
    ColumnDefinition41,
    ComChangeUser,
    ComInitDB,
    CommandByte,
    CommandError,
    ComPing,
    ComQuery,
    ComQuit,
    ComStmtExecute,
    ComStmtPrepare,
    EOFPacket,
    ERRPacket,
    FieldType,
    HandshakeResponse41,
    HandshakeV10,
    LocalInfileRequest,
    OKPacket,
    OtherCommand,
    PacketReader,
    ProtocolError,
    QueryAttribute,
    ServerPacket,
    ServerStatus,
    SSLRequest,
    StmtPrepareOK,
    decode_auth_reply,
    decode_binary_row,
    decode_client_hello,
    decode_command,
    decode_greeting,
    decode_ok_or_err,
    decode_prepare_response,
    decode_query_response,
    decode_result_end,
    decode_text_row,
    encode_binary_row,
    encode_text_row,
    is_result_end,
    parse_session_state,
)
from tests.protocols.mysql.strategies import (
    FAST,
    FUZZ,
    capabilities,
    commands,
    eof_packets,
    err_packets,
    handshake_responses,
    handshakes,
    ok_packets,
    server_packets,
    ssl_requests,
    typed_values,
)

C = Capability
CAPS = capabilities()


def decodes_or_protocol_error(decode: Any, *args: Any) -> None:
    try:
        decode(*args)
    except ProtocolError as exc:
        assert exc.errno > 0 and len(exc.sqlstate) == 5


def mutate(data: st.DataObject, payload: bytes) -> bytes:
    draw = data.draw
    op = draw(st.sampled_from(["truncate", "flip", "insert", "append"]))
    pos = draw(st.integers(0, len(payload)))
    if op == "truncate":
        return payload[:pos]
    if op == "flip" and pos < len(payload):
        return payload[:pos] + bytes([payload[pos] ^ draw(st.integers(1, 255))]) + payload[pos + 1 :]
    if op == "append":
        return payload + draw(st.binary(min_size=1, max_size=8))
    return payload[:pos] + draw(st.binary(min_size=1, max_size=4)) + payload[pos:]


# --- round trips ----------------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_server_packets_round_trip(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    packet = data.draw(server_packets(caps))
    assert isinstance(packet, ServerPacket) and not isinstance(packet, ClientPacket)
    payload = packet.encode(caps)
    assert type(packet).decode(payload, caps) == packet
    framed = packet.to_packet(3, caps)
    assert framed[3] == 3 and framed[4:] == payload


@FAST
@given(st.data())
def test_generic_responses_decode_through_their_dispatchers(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    ok = data.draw(ok_packets(caps).filter(lambda p: not p.eof))
    err = data.draw(err_packets(caps))
    for packet in (ok, err):
        assert decode_ok_or_err(packet.encode(caps), caps) == packet
        assert decode_query_response(packet.encode(caps), caps) == packet
        assert decode_auth_reply(packet.encode(caps), caps) == packet
    assert decode_prepare_response(err.encode(caps), caps) == err


@FAST
@given(handshakes())
def test_handshake_v10_round_trip(greeting: HandshakeV10) -> None:
    payload = greeting.encode()
    assert HandshakeV10.decode(payload) == greeting
    assert decode_greeting(payload) == greeting
    assert greeting.is_mariadb == (not greeting.capabilities & C.CLIENT_MYSQL)


@FAST
@given(handshake_responses(), CAPS)
def test_handshake_response_round_trip(response: HandshakeResponse41, caps: int) -> None:
    payload = response.encode()
    assert len(payload) > 32
    assert HandshakeResponse41.decode(payload) == response
    assert decode_client_hello(payload) == response
    assert response.encode(caps) == payload  # the layout follows the response's own capabilities
    assert HandshakeResponse41.decode(payload, caps) == response


@FAST
@given(ssl_requests)
def test_ssl_request_round_trip(request: SSLRequest) -> None:
    payload = request.encode()
    assert len(payload) == 32
    assert SSLRequest.decode(payload) == request
    assert decode_client_hello(payload) == request


@FAST
@given(st.data())
def test_commands_round_trip(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    command = data.draw(commands(caps))
    assert isinstance(command, ClientPacket) and not isinstance(command, ServerPacket)
    payload = command.encode(caps)
    assert decode_command(payload, caps) == command
    assert type(command).decode(payload, caps) == command


@FAST
@given(st.data())
def test_stmt_execute_round_trip(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    types, values = data.draw(typed_values())
    statement_id = data.draw(st.integers(0, 2**32 - 1))
    flags = data.draw(st.sampled_from([0, 1, 8, 9]))
    rebind = data.draw(st.booleans()) and bool(values)
    names = tuple(data.draw(st.text(max_size=5)) for _ in values) if rebind and caps & C.QUERY_ATTRIBUTES else ()
    execute = ComStmtExecute(statement_id, flags, 1, values, types if rebind else None, names)
    previous = None if rebind or not values else types
    payload = execute.encode(caps, previous)
    assert ComStmtExecute.decode(payload, len(values), previous, caps) == execute
    assert decode_command(payload, caps, {statement_id: (len(values), previous)}) == execute
    if values:
        assert execute.param_types(previous) == types


@FAST
@given(st.lists(st.none() | st.binary(max_size=300), max_size=8))
def test_text_rows_round_trip(values: list[bytes | None]) -> None:
    payload = encode_text_row(values)
    assert decode_text_row(payload, len(values)) == values


@FAST
@given(typed_values(max_size=20))
def test_binary_rows_round_trip(typed: tuple[tuple[int, ...], tuple[bytes | None, ...]]) -> None:
    types = tuple(t & 0xFF for t in typed[0])
    payload = encode_binary_row(typed[1], types)
    assert payload[0] == 0 and len(payload) >= 1 + (len(types) + 9) // 8
    assert decode_binary_row(payload, types) == list(typed[1])


@FAST
@given(st.data())
def test_result_terminators_are_told_apart_from_rows(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    if caps & C.DEPRECATE_EOF:
        end: Any = data.draw(ok_packets(caps).map(lambda p: dataclasses.replace(p, eof=True)))
    else:
        end = data.draw(eof_packets(caps))
    assert is_result_end(end.encode(caps), caps)
    assert decode_result_end(end.encode(caps), caps) == end
    row = encode_text_row(data.draw(st.lists(st.none() | st.binary(max_size=40), min_size=1, max_size=4)))
    assert not is_result_end(row, caps)


# --- fuzzing: only ProtocolError escapes ----------------------------------------------------------------

SERVER_DECODERS = [
    OKPacket.decode,
    ERRPacket.decode,
    EOFPacket.decode,
    ColumnCount.decode,
    ColumnDefinition41.decode,
    StmtPrepareOK.decode,
    LocalInfileRequest.decode,
    AuthSwitchRequest.decode,
    AuthMoreData.decode,
    HandshakeV10.decode,
    decode_ok_or_err,
    decode_query_response,
    decode_prepare_response,
    decode_result_end,
    decode_auth_reply,
]
CLIENT_DECODERS = [
    HandshakeResponse41.decode,
    SSLRequest.decode,
    decode_client_hello,
    AuthSwitchResponse.decode,
    decode_command,
    lambda payload, caps: decode_command(payload, caps, {1: (2, None), 2: (3, (1, 253, 7))}),
    lambda payload, caps: ComStmtExecute.decode(payload, caps % 5, (3, 253, 12, 0x8008, 246)[: caps % 5], caps),
    lambda payload, caps: decode_text_row(payload, caps % 7),
    lambda payload, caps: decode_binary_row(payload, [t for t in FieldType][: caps % 40]),
    lambda payload, caps: parse_session_state(payload),
    lambda payload, caps: decode_greeting(payload),
]


@FUZZ
@given(st.binary(max_size=80), CAPS)
def test_fuzz_every_decoder(payload: bytes, caps: int) -> None:
    for decode in SERVER_DECODERS + CLIENT_DECODERS:
        decodes_or_protocol_error(decode, payload, caps)
    for code in (0x03, 0x11, 0x17, 0x16, 0x18, 0x1B, 0x1C):
        decodes_or_protocol_error(decode_command, bytes((code,)) + payload, caps)


@FAST
@given(st.data())
def test_fuzz_mutated_packets(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    packet = data.draw(server_packets(caps) | commands(caps) | handshakes() | handshake_responses() | ssl_requests)
    mutated = mutate(data, packet.encode(caps) if not isinstance(packet, HandshakeV10) else packet.encode())
    for decode in SERVER_DECODERS + CLIENT_DECODERS:
        decodes_or_protocol_error(decode, mutated, caps)


@FUZZ
@given(st.data())
def test_fuzz_mutated_executes_and_rows(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    types, values = data.draw(typed_values())
    names = tuple("p" for _ in values) if caps & C.QUERY_ATTRIBUTES else ()
    execute = ComStmtExecute(1, 0, 1, values, types if values else None, names)
    mutated = mutate(data, execute.encode(caps))
    decodes_or_protocol_error(ComStmtExecute.decode, mutated, len(values), types, caps)
    decodes_or_protocol_error(ComStmtExecute.decode, mutated, len(values), None, caps)
    row_types = [t & 0xFF for t in types]
    decodes_or_protocol_error(decode_binary_row, mutate(data, encode_binary_row(values, row_types)), row_types)
    decodes_or_protocol_error(decode_text_row, mutate(data, encode_text_row(values)), len(values))


# --- dispatch and direction -----------------------------------------------------------------------------


def test_direction_lives_in_the_type() -> None:
    caps = int(C.PROTOCOL_41 | C.DEPRECATE_EOF)
    # 0xFE: an auth switch during authentication, an OK terminator in a result set, never a client packet
    assert decode_auth_reply(b"\xfeplugin\0data", caps) == AuthSwitchRequest("plugin", b"data")
    assert decode_result_end(b"\xfe\0\0\x02\0\0\0", caps) == OKPacket(status=2, eof=True)
    assert decode_result_end(b"\xfe\0\0\x02\0", int(C.PROTOCOL_41)) == EOFPacket(0, 2)
    assert decode_command(b"\xfe\x01\x02", caps) == OtherCommand(0xFE, b"\x01\x02")
    # 0x00: OK from a server, COM_SLEEP (refused) from a client
    assert decode_command(b"\x00", caps) == OtherCommand(0, b"")
    assert OtherCommand(0x12, b"").name == "COM_BINLOG_DUMP"
    assert OtherCommand(0x99, b"").name == "unknown command 0x99"
    with pytest.raises(ProtocolError):
        OKPacket.decode(b"\xfe\0\0\x02\0\0\0", int(C.PROTOCOL_41))  # 0xFE OK only under DEPRECATE_EOF
    with pytest.raises(ProtocolError):
        decode_command(b"", caps)


def test_commands_the_relay_must_refuse_are_recognised() -> None:
    refused = ["BINLOG_DUMP", "REGISTER_SLAVE", "BINLOG_DUMP_GTID", "SHUTDOWN", "PROCESS_KILL"]
    refused += ["STMT_BULK_EXECUTE", "MULTI"]
    for code in (CommandByte[name] for name in refused):
        command = decode_command(bytes((code,)) + b"\x04\0\0\0", 0)
        assert isinstance(command, OtherCommand) and command.code == code
        assert command.encode() == bytes((code,)) + b"\x04\0\0\0"


def test_execute_of_an_unknown_statement_is_a_command_error() -> None:
    payload = ComStmtExecute(7).encode()
    with pytest.raises(CommandError) as info:
        decode_command(payload, 0, {})
    assert (info.value.errno, info.value.sqlstate) == (1243, "HY000")
    assert isinstance(info.value, ProtocolError)
    assert decode_command(payload, 0, {7: (0, None)}) == ComStmtExecute(7)
    with pytest.raises(ProtocolError):  # parameters without types, and none bound before
        ComStmtExecute.decode(b"\x17" + b"\x07\0\0\0" + b"\0" + b"\x01\0\0\0" + b"\0\0", 1, None)


def test_query_attributes_layout() -> None:
    caps = int(C.PROTOCOL_41 | C.QUERY_ATTRIBUTES)
    attr = QueryAttribute("trace", FieldType.VAR_STRING, b"abc")
    payload = ComQuery("select 1", (attr,)).encode(caps)
    assert payload == b"\x03\x01\x01" + b"\x00" + b"\x01" + b"\xfd\x00" + b"\x05trace" + b"\x03abc" + b"select 1"
    assert decode_command(payload, caps) == ComQuery("select 1", (attr,))
    assert ComQuery("select 1").encode(caps) == b"\x03\x00\x01select 1"
    assert ComQuery("select 1").encode(0) == b"\x03select 1"
    with pytest.raises(CommandError):  # two parameter sets: a shape the relay answers with an ERR
        decode_command(b"\x03\x00\x02select 1", caps)
    with pytest.raises(ValueError):
        ComQuery("x", (attr,)).encode(0)


def test_session_state_and_info_under_session_track() -> None:
    caps = int(C.PROTOCOL_41 | C.SESSION_TRACK)
    changed = ServerStatus.SESSION_STATE_CHANGED | ServerStatus.AUTOCOMMIT
    # captured from MariaDB 10.11 after "use mysql": schema change entry
    ok = OKPacket.decode(b"\x00\x00\x00\x02\x40\x00\x00\x00\x08\x01\x06\x05mysql", caps)
    assert ok.status == changed and ok.session_changes() == [(1, b"\x05mysql")]
    assert OKPacket(info="Records: 2").encode(caps) == b"\0\0\0\0\0\0\0\x0aRecords: 2"
    assert OKPacket().encode(caps) == b"\0" * 7
    assert OKPacket.decode(b"\0" * 7, caps) == OKPacket()
    with pytest.raises(ValueError):
        OKPacket(session_state=b"x").encode(caps)
    with pytest.raises(ProtocolError):  # the flag promises session state that is not there
        OKPacket.decode(b"\0\0\0\x00\x40\0\0", caps)


def test_err_packet_helpers() -> None:
    err = ERRPacket.build(1045, "28000", "Access denied")
    assert err.encode(int(C.PROTOCOL_41)) == b"\xff\x15\x04#28000Access denied"
    assert err.encode(0) == b"\xff\x15\x04Access denied"
    assert ERRPacket.decode(b"\xff\x15\x04Access denied", int(C.PROTOCOL_41)) == ERRPacket(
        1045, "HY000", "Access denied"
    )
    assert ERRPacket.from_error(ProtocolError("bad packet")) == ERRPacket(1835, "08S01", "bad packet")
    for bad in ("2800", "28000x", "28 00", "2800é"):
        with pytest.raises(ValueError):
            ERRPacket.build(1045, bad, "x")
    with pytest.raises(ProtocolError):  # a MariaDB progress report
        ERRPacket.decode(b"\xff\xff\xff\x01", int(C.PROTOCOL_41))


def test_auth_packets() -> None:
    switch = decode_auth_reply(b"\xfemysql_native_password\0" + b"n" * 20 + b"\0", 0)
    assert isinstance(switch, AuthSwitchRequest) and switch.nonce == b"n" * 20
    more = decode_auth_reply(b"\x01\x03", 0)
    assert isinstance(more, AuthMoreData) and more.fast_auth_ok and not more.full_auth_needed
    assert AuthMoreData(b"\x04").full_auth_needed
    with pytest.raises(ProtocolError):
        decode_auth_reply(b"\xfe", 0)  # old-style switch to mysql_old_password
    with pytest.raises(ProtocolError):
        decode_auth_reply(b"\x02", 0)


def test_strings_are_lossless_for_any_bytes() -> None:
    latin1 = "select 'caf\xe9'".encode("latin-1")
    query = decode_command(b"\x03" + latin1, 0)
    assert isinstance(query, ComQuery) and query.encode(0) == b"\x03" + latin1
    assert ComInitDB("db\udce9").encode() == b"\x02db\xe9"


def test_encoding_refuses_what_cannot_be_put_on_the_wire() -> None:
    p41 = int(C.PROTOCOL_41 | C.SECURE_CONNECTION)
    for packet, caps in [
        (OKPacket(eof=True), p41),
        (OKPacket(warnings=1), int(C.TRANSACTIONS)),
        (EOFPacket(1, 0), 0),
        (ColumnCount(0), p41),
        (ColumnCount(1, False), p41),
        (StmtPrepareOK(1, 0, 0, metadata_follows=False), p41),
        (ComChangeUser("u", b"x" * 256), p41),
        (ComChangeUser("u", b"a\0b"), 0),
        (ComChangeUser("u", auth_plugin_name="p"), p41),
        (HandshakeResponse41(p41, 0, 0, "u", b"x" * 256), None),
        (HandshakeResponse41(p41, 0, 0, "u", database="db"), None),
        (HandshakeResponse41(int(C.SECURE_CONNECTION), 0, 0, "u"), None),
        (HandshakeResponse41(p41 | 1 | 1 << 32, 0, 0, "u"), None),  # MariaDB bits with CLIENT_MYSQL set
        (SSLRequest(p41), None),
        (HandshakeV10("v", 1, b"x" * 19, p41), 0),
        (HandshakeV10("v\0", 1, b"x" * 20, p41), 0),
        (ComStmtExecute(1, values=(b"abc",), types=(FieldType.LONG,)), 0),
        (ComStmtExecute(1, values=(b"abc",)), 0),
        (ColumnDefinition41("", "", "", "", "", 0, 0, 0, extended_info=((0, "json"),)), p41),
    ]:
        with pytest.raises(ValueError):
            packet.encode(caps)


def test_handshake_response_tolerates_missing_optional_tail() -> None:
    caps = int(C.PROTOCOL_41 | C.SECURE_CONNECTION | C.CONNECT_WITH_DB | C.PLUGIN_AUTH | C.CONNECT_ATTRS)
    prefix = HandshakeResponse41(caps, 0, 33, "bob").encode()
    assert prefix.endswith(b"bob\0\0\0\0\0")
    truncated = HandshakeResponse41.decode(prefix[: -len(b"\0\0\0")])
    assert (truncated.database, truncated.auth_plugin_name, truncated.attributes) == ("", "", ())
    with pytest.raises(ProtocolError):
        HandshakeResponse41.decode(prefix + b"junk")
    with pytest.raises(ProtocolError):  # pre-4.1 clients
        HandshakeResponse41.decode(b"\0" * 32 + b"bob\0\0")


# --- known answers --------------------------------------------------------------------------------------

# Captured from MariaDB 10.11.19 (Debian 12) on 127.0.0.1:3306 and PyMySQL 1.1 logging in as root with no
# password, through a recording TCP relay. Each is one whole packet, header included.
MARIADB_GREETING = bytes.fromhex(
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310009000000752d21587a212d6100fef7"
    "2d0200ff81150000000000001d0000007e79656b6c5d6c2a27272a40006d7973716c5f6e61746976655f70617373776f726400"
)
PYMYSQL_RESPONSE = bytes.fromhex(
    "8a0000010da23a00ffffff002d0000000000000000000000000000000000000000000000726f6f7400006d7973716c006d7973716c"
    "5f6e61746976655f70617373776f726400470c5f636c69656e745f6e616d650770796d7973716c0f5f636c69656e745f7665727369"
    "6f6e05312e322e34045f7069640531353636340c70726f6772616d5f6e616d65036b6174"
)
# the answer to "select 1 as a, null as b, 'x' as c" for PyMySQL's capabilities (no DEPRECATE_EOF)
MARIADB_RESULT_SET = bytes.fromhex(
    "010000010317000002036465660000000161000c3f000100000003810000000017000003036465660000000162000c3f0000000000"
    "06800000000017000004036465660000000163000c2d0004000000fd010027000005000005fe00000000050000060131fb01780500"
    "0007fe00000000"
)
# a binary row of "select * from t" (COM_STMT_EXECUTE) with the column types below, from the same server
BINARY_ROW_TYPES = (3, 253, 10, 12, 11, 4, 5, 252, 13, 252, 9, 2, 1, 8, 246)
BINARY_ROW = bytes.fromhex(
    "00000000010000000668c3a96c6c6f04e807021d0be807021d0c223840e201000c0122000000163b3a20a107000000c03f00000000"
    "000002400200ffe807055b312c325dfbffffffd4fef900e68ee7fdffffff0631322e353030"
)


def test_known_mariadb_greeting() -> None:
    [packet] = PacketReader(1 << 20).feed(MARIADB_GREETING)
    assert packet.seq == 0 and packet.raw == MARIADB_GREETING
    greeting = decode_greeting(packet.payload)
    assert isinstance(greeting, HandshakeV10)
    assert greeting.server_version == "5.5.5-10.11.19-MariaDB-0+deb12u1"
    assert greeting.connection_id == 9
    assert greeting.auth_data == b"u-!Xz!-a~yekl]l*''*@"
    assert greeting.auth_plugin_name == "mysql_native_password"
    assert (greeting.charset, greeting.status) == (45, ServerStatus.AUTOCOMMIT)
    assert greeting.is_mariadb
    caps = Capability(greeting.capabilities)
    assert C.PROTOCOL_41 in caps and C.DEPRECATE_EOF in caps and C.SESSION_TRACK in caps
    assert C.MARIADB_CLIENT_EXTENDED_TYPE_INFO in caps and C.MARIADB_CLIENT_CACHE_METADATA in caps
    assert C.MARIADB_CLIENT_COM_MULTI not in caps and C.CLIENT_MYSQL not in caps
    assert greeting.to_packet(0, 0) == MARIADB_GREETING


def test_known_pymysql_response() -> None:
    [packet] = PacketReader(1 << 20).feed(PYMYSQL_RESPONSE)
    assert packet.seq == 1
    response = decode_client_hello(packet.payload)
    assert isinstance(response, HandshakeResponse41)
    assert (response.username, response.database, response.auth_response) == ("root", "mysql", b"")
    assert response.auth_plugin_name == "mysql_native_password"
    assert response.attrs["_client_name"] == "pymysql" and response.attrs["program_name"] == "kat"
    assert response.max_packet_size == 0xFFFFFF and response.charset == 45
    caps = Capability(response.capabilities)
    assert C.PLUGIN_AUTH_LENENC_CLIENT_DATA in caps and C.CONNECT_ATTRS in caps and C.DEPRECATE_EOF not in caps
    assert response.to_packet(1, 0) == PYMYSQL_RESPONSE


def test_known_result_set() -> None:
    caps = int(decode_client_hello(PacketReader(1 << 20).feed(PYMYSQL_RESPONSE)[0].payload).capabilities)
    packets = PacketReader(1 << 20).feed(MARIADB_RESULT_SET)
    assert [p.seq for p in packets] == list(range(1, 8))
    assert decode_query_response(packets[0].payload, caps) == ColumnCount(3)
    columns = [ColumnDefinition41.decode(p.payload, caps) for p in packets[1:4]]
    assert [(c.name, c.type, c.charset) for c in columns] == [("a", 3, 63), ("b", 6, 63), ("c", 253, 45)]
    assert columns[0].unsigned is False and columns[0].flags == 0x81
    assert [c.encode(caps) for c in columns] == [p.payload for p in packets[1:4]]
    assert is_result_end(packets[4].payload, caps) and decode_result_end(packets[4].payload, caps) == EOFPacket(0, 0)
    assert not is_result_end(packets[5].payload, caps)
    assert decode_text_row(packets[5].payload, 3) == [b"1", None, b"x"]
    assert decode_result_end(packets[6].payload, caps) == EOFPacket(0, 0)


def test_known_binary_row() -> None:
    values = decode_binary_row(BINARY_ROW, BINARY_ROW_TYPES)
    assert encode_binary_row(values, BINARY_ROW_TYPES) == BINARY_ROW
    text = [codec.binary_to_text(v, t) for v, t in zip(values, BINARY_ROW_TYPES, strict=True) if v is not None]
    assert text == [
        b"1", "h\xe9llo".encode(), b"2024-02-29", b"2024-02-29 12:34:56.123456", b"-838:59:58.500000", b"1.5",
        b"2.25", b"\x00\xff", b"2024", b"[1,2]", b"-5", b"-300", b"-7", b"-9000000000", b"12.500",
    ]  # fmt: skip


def test_protocol_error_defaults() -> None:
    exc = ProtocolError("x")
    assert (exc.errno, exc.sqlstate, str(exc)) == (1835, "08S01", "x")
    assert ProtocolError.errno == 1835 and ProtocolError.sqlstate == "08S01"
    assert issubclass(CommandError, ProtocolError)


def test_simple_commands_are_strict() -> None:
    assert decode_command(b"\x01", 0) == ComQuit()
    assert decode_command(b"\x0e", 0) == ComPing()
    assert decode_command(b"\x16select ?", 0) == ComStmtPrepare("select ?")
    for bad in (b"\x01x", b"\x0e\0", b"\x1b\0", b"\x19\0\0\0", b"\x04table"):
        with pytest.raises(ProtocolError):
            decode_command(bad, 0)


# --- purity ---------------------------------------------------------------------------------------------

CODEC_MODULES = {"codec", "wire", "packets", "generic", "handshake", "commands", "statements", "binary", "results"}
STDLIB = {"__future__", "struct", "dataclasses", "enum", "typing", "collections.abc", "re"}


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, int]]:
    found: list[tuple[ast.AST, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node, node.module or "", node.level))
    return found


def test_codec_is_pure() -> None:
    folder = Path(codec.__file__).parent
    for name in sorted(CODEC_MODULES):
        for _node, module, level in _imports(ast.parse((folder / f"{name}.py").read_text())):
            if level == 2:  # the shared, equally pure chunk buffer
                assert module == "framing", name
            elif level:
                assert level == 1 and module in CODEC_MODULES, name
            else:
                assert module in STDLIB, (name, module)
    tree = ast.parse((folder / "auth.py").read_text())
    top_level = {
        module
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for _n, module, _l in _imports(node)
    }
    assert top_level <= {"__future__", "hashlib", "hmac", "wire"}
    for _node, module, level in _imports(tree):
        assert (
            (level == 1 and module == "wire")
            or module in {"__future__", "hashlib", "hmac"}
            or module.startswith("cryptography.")
        )


def test_importing_the_codec_loads_no_io_or_crypto() -> None:
    script = (
        "import sys\n"
        "from interceptor.protocols.mysql import codec, auth\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'twisted', 'socket', 'ssl', 'select', 'cryptography'}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
