"""Malformed input closes that session with an error; another live session carries on."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.conftest import GatewayProcess

pytestmark = pytest.mark.postgres


def _recv_all(s: socket.socket, limit: int = 65536) -> bytes:
    s.settimeout(5)
    data = b""
    while len(data) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _error_fields(data: bytes) -> dict[str, str]:
    assert data[:1] == b"E", data[:40]
    (length,) = struct.unpack("!i", data[1:5])
    fields = {}
    for part in data[5 : 1 + length].split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


def _startup(user: str, database: str) -> bytes:
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{database}\0\0".encode()
    return struct.pack("!i", len(body) + 4) + body


def _password(token: str) -> bytes:
    body = token.encode() + b"\0"
    return b"p" + struct.pack("!i", len(body) + 4) + body


def _logged_in(gw: GatewayProcess) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(_startup("bot", "app"))
    assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"
    s.sendall(_password(gw.tokens["bot"]))
    s.settimeout(10)
    data = b""
    while not data.endswith(b"Z\x00\x00\x00\x05I"):
        data += s.recv(4096)
    return s


@pytest.fixture
def bystander(gateway: GatewayProcess):
    """A live session that must keep working while other sessions misbehave."""
    with gateway.connect() as c:
        c.execute("begin")
        c.execute("create temp table bystander (v int)")
        c.execute("insert into bystander values (1)")
        yield c
        assert c.execute("select v from bystander").fetchone() == (1,)
        c.execute("commit")


@pytest.mark.parametrize("length", [0, 3, -1])
def test_message_length_under_4(gateway: GatewayProcess, bystander, length: int) -> None:
    s = _logged_in(gateway)
    s.sendall(b"Q" + struct.pack("!i", length) + b"select 1\0")
    err = _error_fields(_recv_all(s))
    assert err["C"] == "08P01" and err["S"] == "FATAL"


def test_message_over_the_limit(gateway: GatewayProcess, bystander) -> None:
    s = _logged_in(gateway)
    s.sendall(b"Q" + struct.pack("!i", 1 << 30))  # header only: refused before any body arrives
    err = _error_fields(_recv_all(s))
    assert err["C"] == "08P01"


def test_bytes_after_sslrequest_before_handshake(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 80877103) + _startup("bot", "app"))
    data = _recv_all(s)
    assert b"S" not in data[:1]
    err = _error_fields(data)
    assert err["C"] == "08P01" and "unencrypted data after SSL request" in err["M"]


def test_truncated_startup(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(_startup("bot", "app")[:10])
    s.shutdown(socket.SHUT_WR)
    assert _recv_all(s) == b""  # nothing to answer: the gateway simply drops the half-sent startup


def test_startup_length_over_limit(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!i", 100_000) + struct.pack("!i", 196608))
    err = _error_fields(_recv_all(s))
    assert err["C"] == "08P01"


def test_garbage_startup_code(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 12345678))
    err = _error_fields(_recv_all(s))
    assert err["S"] == "FATAL"


def test_gssenc_is_refused_cleanly(gateway: GatewayProcess) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 80877104))
    s.settimeout(5)
    assert s.recv(1) == b"N"
    s.sendall(_startup("bot", "app"))  # and the connection goes on as a normal one
    assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"


def test_unknown_message_type_after_login(gateway: GatewayProcess, bystander) -> None:
    s = _logged_in(gateway)
    s.sendall(b"@" + struct.pack("!i", 4))
    data = _recv_all(s)
    assert _error_fields(data)["C"] == "08P01"
