"""What the upstream leg's tests share: a connection config, one login through UpstreamFactory on a private
reactor, a recording sink, and a COM_QUERY round trip read back through that sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.python.failure import Failure

from interceptor.config import Address, ConnectionConfig
from interceptor.protocols.mysql.codec import (
    Capability,
    ComQuery,
    ERRPacket,
    OKPacket,
    decode_query_response,
    decode_text_row,
    is_result_end,
    split_payload,
)
from interceptor.protocols.mysql.upstream import UpstreamError, UpstreamFactory, UpstreamReady
from interceptor.vault import Secret
from tests.protocols.mysql.loop import Loop

C = Capability
PASSWORD_ENV = "ICP_TEST_MYSQL_UPSTREAM_PASSWORD"
ATTRS = {"_client_name": "interceptor", "interceptor_identity": "bot", "interceptor_session": "s-0123"}
# what a client might have negotiated with the gateway; COMPRESS and SSL are the gateway's own business per leg
CLIENT_CAPS = int(
    C.LONG_FLAG | C.FOUND_ROWS | C.CONNECT_WITH_DB | C.PROTOCOL_41 | C.TRANSACTIONS | C.SECURE_CONNECTION
    | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.PS_MULTI_RESULTS | C.PLUGIN_AUTH | C.SESSION_TRACK | C.DEPRECATE_EOF
    | C.COMPRESS | C.SSL | C.INTERACTIVE | C.CAN_HANDLE_EXPIRED_PASSWORDS
)  # fmt: skip
MARIADB_CLIENT_CAPS = CLIENT_CAPS & ~C.LONG_PASSWORD | C.MARIADB_CLIENT_EXTENDED_TYPE_INFO
CHARSET = 45  # utf8mb4_general_ci


def config(
    port: int,
    username: str | None = "app",
    *,
    password: bool = True,
    tls: str = "disable",
    ca: Path | None = None,
    host: str = "127.0.0.1",
) -> ConnectionConfig:
    """The connection ``orders``; its password is read from $ICP_TEST_MYSQL_UPSTREAM_PASSWORD at connect time."""
    secret = Secret("${" + PASSWORD_ENV + "}") if password else None
    return ConnectionConfig(name="orders", protocol="mysql", upstream=Address(host, port), username=username,
                            password=secret, tls=tls, ca=ca)  # fmt: skip


class Sink:
    """Records what the upstream hands over after the login."""

    def __init__(self) -> None:
        self.packets: list[tuple[int, bytes]] = []  # (sequence id, raw packet)
        self.broken: list[str] = []
        self.lost: list[Failure] = []

    def upstream_packets(self, buf: bytes, packets: list[tuple[int, int, int]]) -> None:
        self.packets += [(seq, buf[start:end]) for seq, start, end in packets]

    def upstream_broken(self, why: str) -> None:
        self.broken.append(why)

    def upstream_lost(self, reason: Failure) -> None:
        self.lost.append(reason)

    @property
    def payloads(self) -> list[bytes]:
        return [raw[4:] for _, raw in self.packets]


@dataclass
class Outcome:
    factory: UpstreamFactory | None = None
    ready: UpstreamReady | None = None
    error: UpstreamError | None = None
    calls: list[str] = field(default_factory=list)


def start(
    loop: Loop,
    conn: ConnectionConfig,
    caps: int = CLIENT_CAPS,
    database: str | None = None,
    *,
    timeout: float | None = None,
    max_size: int = 1 << 24,
    **kw: Any,
) -> Outcome:
    """Start one login (the callbacks record into the returned Outcome), as the client side will."""
    out = Outcome()

    def ready(r: UpstreamReady) -> None:
        out.ready = r
        out.calls.append("ready")

    def error(e: UpstreamError) -> None:
        out.error = e
        out.calls.append("error")

    out.factory = UpstreamFactory(conn, caps, database, dict(ATTRS), CHARSET, max_size, ready, error, **kw)
    if timeout is not None:
        loop.reactor.callLater(timeout, out.factory.timed_out)
    loop.reactor.connectTCP(conn.upstream.host, conn.upstream.port, out.factory, timeout=5)
    return out


def login(loop: Loop, conn: ConnectionConfig, caps: int = CLIENT_CAPS, database: str | None = None,
          **kw: Any) -> Outcome:  # fmt: skip
    out = start(loop, conn, caps, database, **kw)
    loop.run_until(lambda: out.calls)
    return out


def ready_of(out: Outcome) -> UpstreamReady:
    assert out.ready is not None, f"login failed: {out.error}"
    return out.ready


def error_of(out: Outcome) -> UpstreamError:
    assert out.error is not None, f"login did not fail: {out.ready}"
    return out.error


def parse_result(payloads: list[bytes], caps: int) -> OKPacket | ERRPacket | list[list[bytes | None]] | None:
    """A text result set's rows (or the OK/ERR that answered), None while incomplete."""
    if not payloads:
        return None
    first = decode_query_response(payloads[0], caps)
    if isinstance(first, OKPacket | ERRPacket):
        return first
    assert not isinstance(first, bytes) and hasattr(first, "count"), first
    index = 1 + first.count + (0 if caps & C.DEPRECATE_EOF else 1)
    rows: list[list[bytes | None]] = []
    for payload in payloads[index:]:
        if is_result_end(payload, caps):
            return rows
        rows.append(decode_text_row(payload, first.count))
    return None


def query(loop: Loop, ready: UpstreamReady, sink: Sink, sql: str) -> Any:
    """Send COM_QUERY on the ready upstream, as the relay will, and read the answer back through the sink."""
    sink.packets.clear()
    ready.protocol.transport.write(split_payload(ComQuery(sql).encode(ready.caps), 0))
    loop.run_until(lambda: parse_result(sink.payloads, ready.caps) is not None)
    return parse_result(sink.payloads, ready.caps)
