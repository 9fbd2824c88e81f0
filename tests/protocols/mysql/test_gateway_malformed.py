"""Malformed input to the MySQL gateway, before and after login: that session gets an ERR (or is simply closed)
and nothing unframed reaches the server, while another session, in the middle of a transaction, carries on."""

from __future__ import annotations

import secrets
import socket
import struct
from collections.abc import Iterator

import pytest

from interceptor.protocols.mysql.codec import Capability, ComQuery, HandshakeResponse41, OKPacket, split_payload
from tests.conftest import GatewayProcess
from tests.protocols.mysql.conftest import MAX_MESSAGE, MyGateway
from tests.protocols.mysql.gateway_kit import (
    GatewayClient,
    err_of,
    logged_in,
    read_until_closed,
    upstream_sessions,
    wait_for,
)
from tests.protocols.mysql.test_gateway_clients import server_rows

pytestmark = pytest.mark.mysql


@pytest.fixture
def bystander(mysql_gateway: MyGateway) -> Iterator[None]:
    """A session with an open transaction that must be untouched by the others' misbehaviour: its uncommitted
    row is still visible to it (the same upstream connection, the same transaction), then commits."""
    up = mysql_gateway.up
    tag = secrets.randbelow(1 << 30)
    with mysql_gateway.gw.mysql_connect(autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO bystander VALUES (%s)", (tag,))
        yield
        cur.execute("SELECT COUNT(*) FROM bystander WHERE v = %s", (tag,))
        assert cur.fetchone() == (1,)
        assert server_rows(up.database, "SELECT COUNT(*) FROM bystander WHERE v = %s", (tag,)) == [(0,)]
        conn.commit()
    assert server_rows(up.database, "SELECT COUNT(*) FROM bystander WHERE v = %s", (tag,)) == [(1,)]


def greeted(gw: GatewayProcess) -> socket.socket:
    """A raw connection that has read the gateway's greeting."""
    s = socket.create_connection((gw.host, gw.mysql_port), timeout=10)
    header = s.recv(4, socket.MSG_WAITALL)
    s.recv(int.from_bytes(header[:3], "little"), socket.MSG_WAITALL)
    return s


def hello(c: GatewayClient, **kw: object) -> HandshakeResponse41:
    args = {"capabilities": c.caps, "max_packet_size": 1 << 24, "charset": 45, "username": "bot",
            "auth_response": c.gw.tokens["bot"].encode() + b"\0", "database": "shop",
            "auth_plugin_name": "mysql_clear_password", **kw}  # fmt: skip
    return HandshakeResponse41(**args)  # type: ignore[arg-type]


# -- before the login -------------------------------------------------------------------------------------------


def test_garbage_before_login(mysql_gateway: MyGateway, bystander: None) -> None:
    s = greeted(mysql_gateway.gw)
    s.sendall(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")  # "GET" read as a length: far over the login limit
    err = err_of(read_until_closed(s))
    assert err.errno == 1043 and err.sqlstate == "08S01" and "bad handshake: a login packet of" in err.message


def test_short_handshake_response(mysql_gateway: MyGateway, bystander: None) -> None:
    s = greeted(mysql_gateway.gw)
    s.sendall(split_payload(struct.pack("<I", int(Capability.PROTOCOL_41)) + b"\x00" * 6, 1))
    err = err_of(read_until_closed(s))
    assert err.errno == 1043 and "bad handshake" in err.message


def test_handshake_response_with_a_wrong_sequence_id(mysql_gateway: MyGateway, bystander: None) -> None:
    c = GatewayClient(mysql_gateway.gw)
    c.sock.sendall(split_payload(hello(c).encode(), 5))
    err = err_of(read_until_closed(c.sock))
    assert err.errno == 1043 and "sequence id 5, expected 1" in err.message


def test_handshake_response_claiming_capabilities_not_offered(mysql_gateway: MyGateway, bystander: None) -> None:
    c = GatewayClient(mysql_gateway.gw)
    c.send(hello(c, capabilities=c.caps | Capability.COMPRESS).encode())
    err = err_of(read_until_closed(c.sock))
    assert err.errno == 1043 and "claims capabilities it was not offered" in err.message


def test_login_packet_cut_short_then_closed(mysql_gateway: MyGateway, bystander: None) -> None:
    c = GatewayClient(mysql_gateway.gw)
    packet = split_payload(hello(c).encode(), 1)
    c.sock.sendall(packet[:-10])  # the header promises 10 more bytes than ever come
    c.sock.shutdown(socket.SHUT_WR)
    assert read_until_closed(c.sock) == []  # nothing to answer: the half-sent login is dropped


def test_plaintext_login_after_sslrequest(mysql_gateway: MyGateway, bystander: None) -> None:
    """Bytes after an SSLRequest belong to TLS: a plaintext login there is a failed TLS handshake, never a login."""
    c = GatewayClient(mysql_gateway.gw)
    ssl_request = struct.pack("<IIB", c.caps | Capability.SSL, 1 << 24, 45) + b"\0" * 23
    c.sock.sendall(split_payload(ssl_request, 1) + split_payload(hello(c).encode(), 2))
    c.sock.settimeout(10)
    data = b""
    while chunk := c.sock.recv(65536):
        data += chunk
    assert b"\x00\x00\x00\x02\x00" not in data  # no OK in clear
    assert data == b"" or data[:1] == b"\x15"  # at most a TLS alert


def test_login_packet_over_the_login_limit(mysql_gateway: MyGateway, bystander: None) -> None:
    s = greeted(mysql_gateway.gw)
    s.sendall(struct.pack("<I", 20000 | 1 << 24))  # header only: refused before any body arrives
    err = err_of(read_until_closed(s))
    assert err.errno == 1043 and "a login packet of 20000 bytes" in err.message


# -- after the login --------------------------------------------------------------------------------------------


def test_command_with_a_wrong_sequence_id(mysql_gateway: MyGateway, bystander: None) -> None:
    c = logged_in(mysql_gateway.gw)
    c.sock.sendall(split_payload(ComQuery("SELECT 1").encode(c.caps), 3))
    err = err_of(read_until_closed(c.sock))
    assert err.errno == 1835 and "a command with sequence id 3, expected 0" in err.message


def test_empty_command(mysql_gateway: MyGateway, bystander: None) -> None:
    c = logged_in(mysql_gateway.gw)
    c.sock.sendall(b"\x00\x00\x00\x00")
    err = err_of(read_until_closed(c.sock))
    assert err.errno == 1835 and "an empty command" in err.message


def test_command_over_the_size_limit(mysql_gateway: MyGateway, bystander: None) -> None:
    c = logged_in(mysql_gateway.gw)
    c.sock.sendall(struct.pack("<I", MAX_MESSAGE + 1) + b"\x03SELECT ")  # refused on the header alone
    err = err_of(read_until_closed(c.sock))
    assert err.errno == 1153 and f"exceeds the {MAX_MESSAGE}-byte limit" in err.message


def test_command_cut_short_then_closed(mysql_gateway: MyGateway, bystander: None) -> None:
    """A header that promises more than is sent, then the client closes: nothing is forwarded, and the session's
    upstream connection is closed with it."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    before = upstream_sessions(up)
    c = logged_in(gw)
    assert upstream_sessions(up) == before + 1
    tag = secrets.token_hex(4)
    payload = ComQuery(f"INSERT INTO notes (body) VALUES ('{tag}')").encode(c.caps)
    c.sock.sendall(struct.pack("<I", len(payload) + 20) + payload)
    c.sock.shutdown(socket.SHUT_WR)
    assert read_until_closed(c.sock) == []
    wait_for(lambda: upstream_sessions(up) == before)
    assert server_rows(up.database, "SELECT COUNT(*) FROM notes WHERE body = %s", (tag,)) == [(0,)]


def test_malformed_statement_command_gets_an_err_and_the_session_goes_on(
    mysql_gateway: MyGateway, bystander: None
) -> None:
    c = logged_in(mysql_gateway.gw)
    (err,) = c.ask(b"\x17\x01\x00")  # COM_STMT_EXECUTE without a whole statement id
    assert not isinstance(err, (tuple, OKPacket)) and err.errno == 1835 and "malformed command" in err.message
    assert c.rows("SELECT 'fine'") == [[b"fine"]]
    c.close()
