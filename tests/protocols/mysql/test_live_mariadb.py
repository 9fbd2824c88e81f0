"""The codec against the real MariaDB on this machine: a tiny blocking client built only from the codec logs
in with mysql_native_password (directly and after an auth switch) and runs text and prepared queries, and every
packet the server sends must re-encode to the exact bytes received."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from interceptor.protocols.mysql.auth import native_scramble
from interceptor.protocols.mysql.codec import (
    AuthSwitchRequest,
    Capability,
    ColumnCount,
    ColumnDefinition41,
    ComQuery,
    ComQuit,
    ComStmtClose,
    ComStmtExecute,
    ComStmtPrepare,
    ERRPacket,
    FieldType,
    HandshakeResponse41,
    HandshakeV10,
    OKPacket,
    Packet,
    PacketReader,
    SequenceTracker,
    StmtPrepareOK,
    binary_to_text,
    decode_auth_reply,
    decode_binary_row,
    decode_greeting,
    decode_prepare_response,
    decode_query_response,
    decode_result_end,
    decode_text_row,
    encode_binary_int,
    is_result_end,
    split_payload,
)

HOST = os.environ.get("INTERCEPTOR_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("INTERCEPTOR_TEST_MYSQL_PORT", "3306"))
ADMIN = os.environ.get("INTERCEPTOR_TEST_MYSQL_USER", "root")
C = Capability
WANTED = int(
    C.LONG_FLAG | C.PROTOCOL_41 | C.TRANSACTIONS | C.SECURE_CONNECTION | C.MULTI_RESULTS | C.PS_MULTI_RESULTS
    | C.PLUGIN_AUTH | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.SESSION_TRACK | C.DEPRECATE_EOF
    | C.MARIADB_CLIENT_EXTENDED_TYPE_INFO
)  # fmt: skip


class Client:
    def __init__(self, deprecate_eof: bool = True) -> None:
        self.sock = socket.create_connection((HOST, PORT), timeout=10)
        self.reader = PacketReader(1 << 24)
        self.pending: list[Packet] = []
        self.seq = SequenceTracker()
        packet = self.recv()
        greeting = decode_greeting(packet.payload)
        assert isinstance(greeting, HandshakeV10), greeting
        assert greeting.encode() == packet.payload
        self.greeting = greeting
        self.caps = WANTED & greeting.capabilities & ~(0 if deprecate_eof else C.DEPRECATE_EOF)

    def recv(self) -> Packet:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.pending += self.reader.feed(data)
        packet = self.pending.pop(0)
        self.seq.check_packet(packet)
        return packet

    def send(self, payload: bytes) -> None:
        self.sock.sendall(split_payload(payload, self.seq.next()))

    def same(self, obj: Any, packet: Packet) -> Any:
        assert obj.encode(self.caps) == packet.payload, obj
        return obj

    def login(self, user: str, password: str, plugin: str = "mysql_native_password") -> Any:
        auth = native_scramble(password, self.greeting.auth_data) if plugin == "mysql_native_password" else b"?"
        response = HandshakeResponse41(self.caps, 1 << 24, 45, user, auth, "", plugin, (("_client_name", "ic"),))
        self.send(response.encode())
        packet = self.recv()
        return self.same(decode_auth_reply(packet.payload, self.caps), packet)

    def command(self, payload: bytes) -> None:
        self.seq.reset()
        self.send(payload)

    def result(self, binary: bool = False) -> tuple[list[ColumnDefinition41], list[list[bytes | None]]]:
        packet = self.recv()
        first = self.same(decode_query_response(packet.payload, self.caps), packet)
        if not isinstance(first, ColumnCount):
            assert isinstance(first, OKPacket), first
            return [], []
        columns = []
        for _ in range(first.count):
            packet = self.recv()
            columns.append(self.same(ColumnDefinition41.decode(packet.payload, self.caps), packet))
        if not self.caps & C.DEPRECATE_EOF:
            self.recv()
        rows: list[list[bytes | None]] = []
        while True:
            packet = self.recv()
            if is_result_end(packet.payload, self.caps):
                self.same(decode_result_end(packet.payload, self.caps), packet)
                return columns, rows
            if binary:
                rows.append(decode_binary_row(packet.payload, [c.type for c in columns]))
            else:
                rows.append(decode_text_row(packet.payload, len(columns)))

    def close(self) -> None:
        self.command(ComQuit().encode())
        self.sock.close()


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[str, str]]:
    try:
        admin = Client()
    except OSError as exc:
        pytest.fail(f"MariaDB is not reachable at {HOST}:{PORT}: {exc}")
    assert isinstance(admin.login(ADMIN, ""), OKPacket)
    user, password = f"ic_codec_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    admin.command(ComQuery(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'").encode(admin.caps))
    assert admin.result() == ([], [])
    try:
        yield user, password
    finally:
        admin.command(ComQuery(f"DROP USER '{user}'@'%'").encode(admin.caps))
        admin.result()
        admin.close()


@pytest.mark.parametrize("deprecate_eof", [True, False])
def test_native_password_login_and_queries(account: tuple[str, str], deprecate_eof: bool) -> None:
    user, password = account
    client = Client(deprecate_eof)
    assert isinstance(client.login(user, password), OKPacket)
    client.command(ComQuery("select 1 as a, null as b, 'x' as c, json_object('k', 1) as j").encode(client.caps))
    columns, rows = client.result()
    assert [c.name for c in columns] == ["a", "b", "c", "j"] and rows == [[b"1", None, b"x", b'{"k": 1}']]
    assert columns[3].extended_info == ((1, "json"),)  # MariaDB's extended type info: format json
    client.command(ComStmtPrepare("select ? + 1 as n, concat(?, 'z') as s, cast(? as date) as d").encode())
    packet = client.recv()
    prepared = client.same(decode_prepare_response(packet.payload, client.caps), packet)
    assert isinstance(prepared, StmtPrepareOK) and prepared.num_params == 3
    for count in (prepared.num_params, prepared.num_columns):  # each list ends with an EOF unless DEPRECATE_EOF
        for _ in range(count):
            packet = client.recv()
            client.same(ColumnDefinition41.decode(packet.payload, client.caps), packet)
        if not client.caps & C.DEPRECATE_EOF:
            packet = client.recv()
            assert is_result_end(packet.payload, client.caps)
    types = (FieldType.LONGLONG, FieldType.VAR_STRING, FieldType.VAR_STRING)
    values = (encode_binary_int(41, FieldType.LONGLONG), b"y", b"2024-02-29")
    execute = ComStmtExecute(prepared.statement_id, values=values, types=types)
    client.command(execute.encode(client.caps))
    columns, rows = client.result(binary=True)
    texts = [binary_to_text(v, c.type, c.unsigned) for v, c in zip(rows[0], columns, strict=True) if v is not None]
    assert texts == [b"42", b"yz", b"2024-02-29"]
    client.command(ComStmtClose(prepared.statement_id).encode())
    client.close()


def test_wrong_password_and_auth_switch(account: tuple[str, str]) -> None:
    user, password = account
    client = Client()
    err = client.login(user, password + "x")
    assert isinstance(err, ERRPacket) and err.errno == 1045 and err.sqlstate == "28000"
    client.sock.close()
    client = Client()
    switch = client.login(user, password, "caching_sha2_password")  # unknown to MariaDB: it switches us back
    assert isinstance(switch, AuthSwitchRequest) and switch.plugin_name == "mysql_native_password"
    client.send(native_scramble(password, switch.nonce))
    packet = client.recv()
    assert isinstance(client.same(decode_auth_reply(packet.payload, client.caps), packet), OKPacket)
    client.close()
