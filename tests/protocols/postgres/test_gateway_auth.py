"""Login, routing and refusals: wrong tokens, unknown connections, TLS rules, a dead upstream."""

from __future__ import annotations

import socket
import threading
import time

import psycopg
import pytest

from tests.conftest import Upstream, free_port, make_gateway
from tests.protocols.postgres import wire

pytestmark = pytest.mark.postgres


class CountingListener:
    """A TCP port that only counts connections: stands in for an upstream that must never be contacted."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
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


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream):
    """A gateway with the real upstream as ``app``, a counting listener as ``trap`` and a dead port as ``down``."""
    trap = CountingListener()
    conns = [
        {"name": "app", "protocol": "postgres", "upstream": f"{upstream.host}:{upstream.port}",
         "database": upstream.database, "username": upstream.role, "password": "${ICP_TEST_UPSTREAM_PASSWORD}"},
        {"name": "trap", "protocol": "postgres", "upstream": f"127.0.0.1:{trap.port}", "username": "x",
         "password": "${ICP_TEST_UPSTREAM_PASSWORD}", "tls": "disable"},
        {"name": "down", "protocol": "postgres", "upstream": f"127.0.0.1:{free_port()}", "username": "x",
         "password": "${ICP_TEST_UPSTREAM_PASSWORD}", "tls": "disable"},
        {"name": "dba_only", "protocol": "postgres", "upstream": f"{upstream.host}:{upstream.port}",
         "database": upstream.database, "username": upstream.role, "password": "${ICP_TEST_UPSTREAM_PASSWORD}",
         "allow": ["group:dba"]},
    ]  # fmt: skip
    gw = make_gateway(tmp_path_factory.mktemp("guarded"), upstream, connections=conns)
    gw.start()
    yield gw, trap
    gw.stop()
    trap.close()


def test_bad_token_is_28P01_and_never_reaches_upstream(guarded) -> None:
    gw, trap = guarded
    with pytest.raises(psycopg.OperationalError) as exc:
        psycopg.connect(gw.dsn("bot", "trap", token="itk_wrong"))
    assert 'password authentication failed for user "bot"' in str(exc.value)
    assert trap.accepted == 0


def test_missing_token_is_28P01_and_never_reaches_upstream(guarded) -> None:
    """libpq will not send an empty password, so speak the protocol directly."""
    gw, trap = guarded
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(wire.startup("bot", "trap"))
        assert s.recv(9) == b"R\x00\x00\x00\x08\x00\x00\x00\x03"
        s.sendall(b"p\x00\x00\x00\x05\x00")
        fields = wire.error_fields(wire.recv_all(s))
    assert fields["C"] == "28P01" and fields["S"] == "FATAL"
    assert trap.accepted == 0


def test_unknown_identity_looks_like_wrong_token(guarded) -> None:
    gw, _ = guarded
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "mallory"'):
        psycopg.connect(gw.dsn("bot", "app").replace("user='bot'", "user='mallory'"))


def test_unknown_connection_is_3D000(guarded) -> None:
    gw, _ = guarded
    with pytest.raises(psycopg.OperationalError, match='connection "nope" does not exist'):
        psycopg.connect(gw.dsn("bot", "nope"))
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(wire.startup("bot", "nope"))
        assert s.recv(9)[:1] == b"R"
        s.sendall(wire.password(gw.tokens["bot"]))
        assert wire.error_fields(wire.recv_all(s))["C"] == "3D000"


def test_connection_allow_list(guarded) -> None:
    gw, _ = guarded
    with pytest.raises(psycopg.OperationalError, match="may not use connection"):
        psycopg.connect(gw.dsn("bot", "dba_only"))
    with psycopg.connect(gw.dsn("alice", "dba_only")) as c:
        assert c.execute("select 1").fetchone() == (1,)


def test_upstream_down_fails_fast_and_clearly(guarded) -> None:
    gw, _ = guarded
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="cannot reach the upstream of connection 'down'"):
        psycopg.connect(gw.dsn("bot", "down"))
    assert time.monotonic() - started < 3.5  # timeouts.connect is 3s


def test_token_cache_makes_second_login_fast(tmp_path, upstream: Upstream) -> None:  # type: ignore[no-untyped-def]
    """With a production-cost hash (bcrypt 12), the first login pays bcrypt and the next ones do not."""
    import yaml

    from interceptor.identity import hash_token

    gw = make_gateway(tmp_path, upstream)
    cfg = yaml.safe_load(gw.config_path.read_text())
    cfg["identities"][1]["token_hash"] = hash_token(gw.tokens["alice"], 12)
    gw.config_path.write_text(yaml.safe_dump(cfg))
    gw.start()
    try:
        started = time.monotonic()
        psycopg.connect(gw.dsn("alice", "app")).close()
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(5):
            psycopg.connect(gw.dsn("alice", "app")).close()
        cached = (time.monotonic() - started) / 5
    finally:
        gw.stop()
    assert first > 0.1, f"bcrypt at cost 12 should take a while (took {first:.3f}s)"
    assert cached < first / 2, (first, cached)


def test_client_encoding_that_changes_parsing_is_refused(guarded) -> None:
    """client_encoding=SJIS in the startup packet would let the server read a statement differently from the
    gateway (a multibyte character can end in a backslash): refused before any upstream is opened."""
    gw, trap = guarded
    with pytest.raises(psycopg.OperationalError, match="client_encoding"):
        psycopg.connect(gw.dsn("bot", "trap", client_encoding="SJIS"))
    assert trap.accepted == 0
    with psycopg.connect(gw.dsn("bot", "app", client_encoding="LATIN1")) as c:
        assert c.execute("show client_encoding").fetchone() == ("LATIN1",)
