"""A tiny blocking MySQL client built only from the codec, for the tests against the real MariaDB on this machine.
Every packet it decodes with :meth:`Client.same` must re-encode to the exact bytes received."""

from __future__ import annotations

import os
import socket
from typing import Any

from interceptor.protocols.mysql.auth import native_scramble
from interceptor.protocols.mysql.codec import (
    Capability,
    ColumnCount,
    ColumnDefinition41,
    ComQuit,
    HandshakeResponse41,
    HandshakeV10,
    OKPacket,
    Packet,
    PacketReader,
    SequenceTracker,
    decode_auth_reply,
    decode_binary_row,
    decode_greeting,
    decode_query_response,
    decode_result_end,
    decode_text_row,
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
    """Connects and reads the greeting; ``extra`` capabilities (MULTI_STATEMENTS, LOCAL_FILES ...) are asked for
    on top of ``WANTED`` when the server offers them. ``host``/``port``: another server (the gateway)."""

    def __init__(self, deprecate_eof: bool = True, extra: int = 0, host: str = HOST, port: int = PORT) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.reader = PacketReader(1 << 24)
        self.pending: list[Packet] = []
        self.seq = SequenceTracker()
        packet = self.recv()
        greeting = decode_greeting(packet.payload)
        assert isinstance(greeting, HandshakeV10), greeting
        assert greeting.encode() == packet.payload
        self.greeting = greeting
        self.caps = (WANTED | extra) & greeting.capabilities & ~(0 if deprecate_eof else C.DEPRECATE_EOF)

    def recv(self) -> Packet:
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.pending += self.reader.feed(data)
        packet = self.pending.pop(0)
        self.seq.check_packet(packet)
        return packet

    def quiet(self, seconds: float = 0.2) -> bool:
        """True if nothing more arrives within ``seconds``."""
        if self.pending:
            return False
        self.sock.settimeout(seconds)
        try:
            return not self.sock.recv(65536, socket.MSG_PEEK)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10)

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
