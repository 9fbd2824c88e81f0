"""A result far larger than memory streams through: a client that stops reading stops the upstream too."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.conftest import GatewayProcess
from tests.protocols.postgres import wire

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROWS, WIDTH = 300_000, 1000  # about 300 MB of DataRows


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_reader_holds_gateway_memory_flat(gateway: GatewayProcess) -> None:
    assert gateway.proc is not None
    before = _rss_kib(gateway.proc.pid)
    s = socket.create_connection(("127.0.0.1", gateway.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(wire.startup("bot", "app"))
    assert s.recv(9)[:1] == b"R"
    s.sendall(wire.password(gateway.tokens["bot"]))
    data = b""
    while not data.endswith(b"Z\x00\x00\x00\x05I"):
        data += s.recv(4096)
    sql = f"select repeat('x', {WIDTH}) from generate_series(1, {ROWS})".encode() + b"\0"
    s.sendall(b"Q" + struct.pack("!i", len(sql) + 4) + sql)
    time.sleep(3)  # the upstream could have sent everything by now, were nothing holding it back
    held = _rss_kib(gateway.proc.pid) - before
    assert held < 64 * 1024, f"gateway grew by {held} KiB while the client was not reading"
    total, tail = 0, b""
    s.settimeout(60)
    while True:
        chunk = s.recv(1 << 20)
        assert chunk, "connection closed before the end of the result"
        total += len(chunk)
        tail = (tail + chunk)[-6:]
        if tail == b"Z\x00\x00\x00\x05I":
            break
    s.close()
    assert total > ROWS * WIDTH
