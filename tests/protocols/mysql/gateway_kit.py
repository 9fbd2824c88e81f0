"""What the MySQL gateway's end-to-end tests share: a raw client that logs in to the gateway with its token
(mysql_clear_password over loopback) and speaks commands that no client library exposes, a counting trap
listener, a fake upstream that records the gateway's login and asks for a file it was never told about, and
helpers that count the upstream user's connections on the real MariaDB."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from interceptor.protocols.mysql.auth import caching_sha2_scramble, rsa_encrypt_password
from interceptor.protocols.mysql.codec import (
    AuthMoreData,
    Capability,
    ColumnCount,
    ColumnDefinition41,
    CommandByte,
    ComQuery,
    ERRPacket,
    HandshakeResponse41,
    HandshakeV10,
    LocalInfileRequest,
    OKPacket,
    PacketReader,
    ServerStatus,
    decode_auth_reply,
    decode_binary_row,
    decode_query_response,
    decode_result_end,
    decode_text_row,
    is_result_end,
    split_payload,
)
from tests.conftest import GatewayProcess, MyUpstream, my_admin
from tests.protocols.mysql.fake_server import SERVER_CAPS
from tests.protocols.mysql.live_client import Client

C = Capability
Row = list[bytes | None]
Result = tuple[list[ColumnDefinition41], list[Row]]


class GatewayClient(Client):
    """The codec's blocking client, pointed at the gateway; :meth:`login` sends the token in clear (loopback)."""

    def __init__(self, gw: GatewayProcess, extra: int = int(C.MULTI_STATEMENTS | C.LOCAL_FILES)) -> None:
        super().__init__(extra=int(C.CONNECT_WITH_DB) | extra, host=gw.host, port=gw.mysql_port)
        self.gw = gw

    def login_token(self, identity: str = "bot", connection: str = "shop", token: str | None = None) -> Any:
        secret = self.gw.tokens[identity] if token is None else token
        hello = HandshakeResponse41(
            self.caps, 1 << 24, 45, identity, secret.encode() + b"\0", connection, "mysql_clear_password", ()
        )
        self.send(hello.encode())
        return decode_auth_reply(self.recv().payload, self.caps)

    def login_rsa(self, identity: str = "bot", connection: str = "shop", token: str | None = None) -> Any:
        """caching_sha2_password without TLS, as a careful client does it: the scramble, then (full authentication
        asked) the gateway's RSA public key, then the token encrypted with it."""
        secret = self.gw.tokens[identity] if token is None else token
        nonce = self.greeting.auth_data
        hello = HandshakeResponse41(self.caps, 1 << 24, 45, identity, caching_sha2_scramble(secret, nonce),
                                    connection, "caching_sha2_password", ())  # fmt: skip
        self.send(hello.encode())
        assert decode_auth_reply(self.recv().payload, self.caps) == AuthMoreData(b"\x04")
        self.send(b"\x02")
        pem = decode_auth_reply(self.recv().payload, self.caps)
        assert isinstance(pem, AuthMoreData) and pem.data.startswith(b"-----BEGIN PUBLIC KEY-----")
        self.send(rsa_encrypt_password(secret, nonce, pem.data))
        return decode_auth_reply(self.recv().payload, self.caps)

    def ask(self, payload: bytes, binary: bool = False) -> list[Result | OKPacket | ERRPacket]:
        """Send one command; every result of its response (a result set, an OK or an ERR), in order."""
        self.command(payload)
        return self.response(binary)

    def response(self, binary: bool = False) -> list[Result | OKPacket | ERRPacket]:
        """Read the response to the command sent last (a text or binary result set per result, or an OK/ERR)."""
        out: list[Result | OKPacket | ERRPacket] = []
        while True:
            first = decode_query_response(self.recv().payload, self.caps)
            assert not isinstance(first, LocalInfileRequest), first
            if isinstance(first, ColumnCount):
                columns = [ColumnDefinition41.decode(self.recv().payload, self.caps) for _ in range(first.count)]
                if not self.caps & C.DEPRECATE_EOF:
                    self.recv()
                rows, end = self.rows_until_end(columns, binary)
                out.append((columns, rows))
                status = end.status
            else:
                out.append(first)
                status = first.status if isinstance(first, OKPacket) else 0
            if not status & ServerStatus.MORE_RESULTS_EXISTS:
                return out

    def rows_until_end(self, columns: list[ColumnDefinition41], binary: bool) -> tuple[list[Row], OKPacket | Any]:
        """Rows up to the result's terminator (EOF, or the 0xFE OK): (rows, terminator)."""
        rows: list[Row] = []
        while not is_result_end((payload := self.recv().payload), self.caps):
            assert payload[:1] != b"\xff", ERRPacket.decode(payload, self.caps)
            if binary:
                rows.append(decode_binary_row(payload, [c.type for c in columns]))
            else:
                rows.append(decode_text_row(payload, len(columns)))
        return rows, decode_result_end(payload, self.caps)

    def query(self, sql: str) -> Result | OKPacket | ERRPacket:
        (only,) = self.ask(ComQuery(sql).encode(self.caps))
        return only

    def rows(self, sql: str) -> list[Row]:
        result = self.query(sql)
        assert isinstance(result, tuple), result
        return result[1]


def logged_in(gw: GatewayProcess, identity: str = "bot", extra: int | None = None) -> GatewayClient:
    client = GatewayClient(gw) if extra is None else GatewayClient(gw, extra)
    assert isinstance(client.login_token(identity), OKPacket)
    return client


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> list[bytes]:
    """Every packet payload the peer sends until it closes (the test fails if it does not close in time)."""
    sock.settimeout(timeout)
    reader = PacketReader(1 << 24)
    payloads: list[bytes] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return payloads
        payloads += [p.payload for p in reader.feed(data)]


def err_of(payloads: list[bytes]) -> ERRPacket:
    errs = [ERRPacket.decode(p, int(C.PROTOCOL_41)) for p in payloads if p[:1] == b"\xff"]
    assert len(errs) == 1, payloads
    return errs[0]


def upstream_sessions(up: MyUpstream) -> int:
    """How many connections the upstream user has open on the real server (the gateway's upstream legs)."""
    admin = my_admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (up.user,))
            return int(cur.fetchone()[0])
    finally:
        admin.close()


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


class CountingListener:
    """A TCP port that only counts connections: an upstream that must never be contacted."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


class SpyUpstream:
    """A fake MySQL server (one thread per connection) that accepts any login, keeps each HandshakeResponse41 the
    gateway sends, answers every COM_QUERY with an OK, except one naming ``spy_query``: that one gets a LOCAL
    INFILE request for ``filename`` (and the file, if it comes, an OK). Every byte received after the login is
    kept, so a test can assert that the file's contents never arrived."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.hellos: list[HandshakeResponse41] = []
        self.received = bytearray()
        self.closed_by_peer = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            nonce = bytes((b % 255) + 1 for b in os.urandom(20))
            greeting = HandshakeV10("5.5.5-10.11.0-spy", 7, nonce, SERVER_CAPS, 45, 2, "mysql_native_password")
            conn.sendall(split_payload(greeting.encode(), 0))
            reader = PacketReader(1 << 24)
            packets = []
            while not packets:
                data = conn.recv(65536)
                if not data:
                    return
                packets = reader.feed(data)
            hello = HandshakeResponse41.decode(packets[0].payload)
            self.hellos.append(hello)
            caps = hello.capabilities
            conn.sendall(split_payload(OKPacket(status=int(ServerStatus.AUTOCOMMIT)).encode(caps), 2))
            asked = False  # a LOCAL INFILE request is outstanding
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_peer.set()
                    return
                self.received += data
                for packet in reader.feed(data):
                    if asked and not packet.payload:  # the end of the file the client sent: OK
                        asked = False
                        conn.sendall(split_payload(OKPacket(status=int(ServerStatus.AUTOCOMMIT)).encode(caps),
                                                   packet.seq + 1))  # fmt: skip
                    if asked or packet.payload[:1] != bytes((CommandByte.QUERY,)):
                        continue
                    if b"spy_query" in packet.payload:
                        asked = True
                        conn.sendall(split_payload(LocalInfileRequest(self.filename).encode(), 1))
                    else:
                        conn.sendall(split_payload(OKPacket(status=int(ServerStatus.AUTOCOMMIT)).encode(caps), 1))

    def close(self) -> None:
        self.sock.close()
