"""Malformed input closes that session with an error; another live session carries on."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.conftest import GatewayProcess
from tests.protocols.postgres import wire

pytestmark = pytest.mark.postgres


def _logged_in(gw: GatewayProcess) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(wire.startup("bot", "app"))
    assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"
    s.sendall(wire.password(gw.tokens["bot"]))
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
    err = wire.error_fields(wire.recv_all(s))
    assert err["C"] == "08P01" and err["S"] == "FATAL"


def test_message_over_the_limit(gateway: GatewayProcess, bystander) -> None:
    s = _logged_in(gateway)
    s.sendall(b"Q" + struct.pack("!i", 1 << 30))  # header only: refused before any body arrives
    err = wire.error_fields(wire.recv_all(s))
    assert err["C"] == "08P01"


def test_bytes_after_sslrequest_before_handshake(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 80877103) + wire.startup("bot", "app"))
    data = wire.recv_all(s)
    assert b"S" not in data[:1]
    err = wire.error_fields(data)
    assert err["C"] == "08P01" and "unencrypted data after SSL request" in err["M"]


def test_truncated_startup(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(wire.startup("bot", "app")[:10])
    s.shutdown(socket.SHUT_WR)
    assert wire.recv_all(s) == b""  # nothing to answer: the gateway simply drops the half-sent startup


def test_startup_length_over_limit(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!i", 100_000) + struct.pack("!i", 196608))
    err = wire.error_fields(wire.recv_all(s))
    assert err["C"] == "08P01"


def test_garbage_startup_code(gateway: GatewayProcess, bystander) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 12345678))
    err = wire.error_fields(wire.recv_all(s))
    assert err["S"] == "FATAL"


def test_gssenc_is_refused_cleanly(gateway: GatewayProcess) -> None:
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.sendall(struct.pack("!ii", 8, 80877104))
    s.settimeout(5)
    assert s.recv(1) == b"N"
    s.sendall(wire.startup("bot", "app"))  # and the connection goes on as a normal one
    assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"


def test_unknown_message_type_after_login(gateway: GatewayProcess, bystander) -> None:
    s = _logged_in(gateway)
    s.sendall(b"@" + struct.pack("!i", 4))
    data = wire.recv_all(s)
    assert wire.error_fields(data)["C"] == "08P01"
