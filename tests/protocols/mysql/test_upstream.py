"""The upstream leg against the real MariaDB 10.11 on this machine (mysql_native_password, no TLS there), driven
by a private Twisted reactor: log in with a throwaway account, run a query through the ready protocol and its
sink, and fail the ways a real network fails (wrong password, nothing listening, a server that never answers).
Also the capability negotiation, without sockets."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator

import pymysql
import pytest

from interceptor.protocols.mysql.codec import ERRPacket, ServerStatus
from interceptor.protocols.mysql.upstream import ER_CONNECT_TO_FOREIGN_DATA_SOURCE, UpstreamError, negotiate
from tests.conftest import free_port
from tests.protocols.mysql.fake_server import SERVER_CAPS
from tests.protocols.mysql.loop import Loop, private_loop
from tests.protocols.mysql.upstream_kit import (
    ATTRS,
    MARIADB_CLIENT_CAPS,
    PASSWORD_ENV,
    C,
    Sink,
    config,
    error_of,
    login,
    query,
    ready_of,
    start,
)

HOST = os.environ.get("INTERCEPTOR_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("INTERCEPTOR_TEST_MYSQL_PORT", "3306"))
ADMIN = os.environ.get("INTERCEPTOR_TEST_MYSQL_USER", "root")


@pytest.fixture
def loop() -> Iterator[Loop]:
    with private_loop() as lp:
        yield lp


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[str, str, str]]:
    """A throwaway mysql_native_password user with a random password, and a database of its own."""
    try:
        admin = pymysql.connect(host=HOST, port=PORT, user=ADMIN, autocommit=True, connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MariaDB is not reachable at {HOST}:{PORT}: {exc}")
    tag = secrets.token_hex(4)
    user, password, db = f"ic_up_{tag}", f"canary-{secrets.token_urlsafe(12)}", f"ic_up_db_{tag}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{password}')")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"GRANT ALL ON {db}.* TO '{user}'@'%'")
    try:
        yield user, password, db
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()


def test_login_query_and_attributes(loop: Loop, account: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    user, password, db = account
    monkeypatch.setenv(PASSWORD_ENV, password)
    ready = ready_of(login(loop, config(PORT, user, tls="prefer", host=HOST), MARIADB_CLIENT_CAPS, db))
    assert "MariaDB" in ready.greeting.server_version and ready.greeting.is_mariadb
    assert not ready.tls  # prefer, and this server has SSL disabled: plaintext
    for flag in (C.DEPRECATE_EOF, C.SESSION_TRACK, C.MULTI_STATEMENTS, C.MARIADB_CLIENT_EXTENDED_TYPE_INFO,
                 C.CONNECT_WITH_DB, C.CONNECT_ATTRS, C.INTERACTIVE):  # fmt: skip
        assert ready.caps & flag, flag
    for flag in (C.COMPRESS, C.SSL, C.LONG_PASSWORD, C.CAN_HANDLE_EXPIRED_PASSWORDS):
        assert not ready.caps & flag, flag
    assert ready.status & ServerStatus.AUTOCOMMIT
    sink = Sink()
    ready.protocol.set_sink(sink)
    rows = query(loop, ready, sink, "SELECT CURRENT_USER(), CONNECTION_ID(), DATABASE(), @@character_set_client")
    assert rows == [[f"{user}@%".encode(), str(ready.greeting.connection_id).encode(), db.encode(), b"utf8mb4"]]
    assert sink.packets[0][0] == 1  # the relay's view: raw packets with their sequence ids
    enabled = query(loop, ready, sink, "SELECT @@performance_schema")
    if enabled == [[b"1"]]:
        rows = query(loop, ready, sink, "SELECT ATTR_NAME, ATTR_VALUE FROM performance_schema.session_connect_attrs"
                                        " WHERE PROCESSLIST_ID = CONNECTION_ID()")  # fmt: skip
        assert {bytes(k or b"").decode(): bytes(v or b"").decode() for k, v in rows} == ATTRS
    # else: performance_schema is off on this server; test_upstream_tls.py checks the attributes on its own
    # throwaway server, which runs with performance_schema on
    assert sink.broken == [] and sink.lost == []
    ready.protocol.transport.loseConnection()
    loop.run_until(lambda: sink.lost)


def test_no_password_sends_an_empty_auth_response(loop: Loop) -> None:
    # the admin account here has no password: the connection has none configured either
    ready = ready_of(login(loop, config(PORT, ADMIN, password=False, host=HOST)))
    sink = Sink()
    ready.protocol.sink = sink  # the attribute style works as well as set_sink
    [[current]] = query(loop, ready, sink, "SELECT CURRENT_USER()")
    assert current.startswith(f"{ADMIN}@".encode())


def test_wrong_password_is_an_upstream_error_without_the_password(
    loop: Loop, account: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password, _ = account
    wrong = password + "-wrong"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    out = login(loop, config(PORT, user, host=HOST))
    err = error_of(out)
    assert err.public == "upstream login failed for connection 'orders' (server error 1045)"
    assert (err.errno, err.sqlstate) == (ER_CONNECT_TO_FOREIGN_DATA_SOURCE, "08004")  # never 1045 to the client
    assert err.err_packet() == ERRPacket(1429, "08004", err.public)
    assert "Access denied" in err.detail and user in err.detail  # the server's words, for the log
    for text in (str(err), err.public, err.detail, repr(err), err.err_packet().message):
        assert password not in text and wrong not in text
    assert user not in err.public
    loop.spin(0.1)
    assert out.calls == ["error"]


def test_missing_secret_fails_before_sending_anything(loop: Loop, account: tuple[str, str, str]) -> None:
    user, _, _ = account
    os.environ.pop(PASSWORD_ENV, None)
    err = error_of(login(loop, config(PORT, user, host=HOST)))
    assert err.public == "the credential for connection 'orders' is unavailable" and err.sqlstate == "08004"
    assert PASSWORD_ENV in err.detail


def test_a_capability_the_server_lacks_is_named(loop: Loop) -> None:
    # MariaDB has no OPTIONAL_RESULTSET_METADATA: a client that negotiated it would misread every result set
    caps = MARIADB_CLIENT_CAPS | C.OPTIONAL_RESULTSET_METADATA
    err = error_of(login(loop, config(PORT, ADMIN, password=False, host=HOST), caps))
    assert "OPTIONAL_RESULTSET_METADATA" in err.public and err.sqlstate == "08004"


def test_nothing_listening_fails_quickly(loop: Loop) -> None:
    began = time.monotonic()
    out = login(loop, config(free_port()))
    err = error_of(out)
    assert time.monotonic() - began < 2
    assert err.public == "cannot reach the upstream of connection 'orders'" and err.sqlstate == "08001"
    assert "refused" in err.detail.lower()


def test_a_server_that_never_answers_times_out(loop: Loop) -> None:
    with socket.socket() as silent:  # accepts connections (in the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        began = time.monotonic()
        out = start(loop, config(silent.getsockname()[1]), timeout=0.3)
        loop.run_until(lambda: out.calls)
        err = error_of(out)
        assert 0.25 < time.monotonic() - began < 3
        assert err.public == "the upstream of connection 'orders' did not answer in time"
        assert out.factory is not None and out.factory.instance is not None  # it had connected, then gave up
        loop.run_until(lambda: out.factory.instance.transport.disconnected)  # type: ignore[union-attr]
        loop.spin(0.1)
        assert out.calls == ["error"]  # exactly once, though the connection was then aborted


# -- capability negotiation, without sockets -------------------------------------------------------------------


def test_negotiate_keeps_the_clients_format_and_adds_the_logins_needs() -> None:
    caps = negotiate("x", int(C.PROTOCOL_41 | C.DEPRECATE_EOF | C.COMPRESS | C.SSL | C.LOCAL_FILES), SERVER_CAPS,
                     database=True, tls=False)  # fmt: skip
    assert caps & C.DEPRECATE_EOF and caps & C.LOCAL_FILES
    assert caps & C.PLUGIN_AUTH and caps & C.SECURE_CONNECTION and caps & C.PLUGIN_AUTH_LENENC_CLIENT_DATA
    assert caps & C.CONNECT_WITH_DB and caps & C.CONNECT_ATTRS and caps & C.LONG_PASSWORD  # MySQL: bit 0 as offered
    assert not caps & C.COMPRESS and not caps & C.SSL and not caps & C.SESSION_TRACK
    with_tls = negotiate("x", int(C.PROTOCOL_41), SERVER_CAPS | C.SSL, database=False, tls=True)
    assert with_tls & C.SSL and not with_tls & C.CONNECT_WITH_DB


def test_negotiate_drops_what_only_the_client_wanted_and_refuses_format_changes() -> None:
    assert not negotiate("x", int(C.PROTOCOL_41 | C.LOCAL_FILES), SERVER_CAPS & ~C.LOCAL_FILES, database=False,
                         tls=False) & C.LOCAL_FILES  # fmt: skip
    mariadb_caps = int(C.MARIADB_CLIENT_EXTENDED_TYPE_INFO | C.PROTOCOL_41)
    with pytest.raises(UpstreamError, match="MARIADB_CLIENT_EXTENDED_TYPE_INFO") as info:
        negotiate("orders", mariadb_caps, SERVER_CAPS, database=False, tls=False)  # a MySQL server
    assert info.value.public.startswith("the upstream of connection 'orders' does not support")
    with pytest.raises(UpstreamError, match="does not support SESSION_TRACK, DEPRECATE_EOF, which"):
        negotiate("x", int(C.PROTOCOL_41 | C.DEPRECATE_EOF | C.SESSION_TRACK),
                  SERVER_CAPS & ~(C.DEPRECATE_EOF | C.SESSION_TRACK), database=False, tls=False)  # fmt: skip
    with pytest.raises(UpstreamError, match="CONNECT_WITH_DB"):
        negotiate("x", int(C.PROTOCOL_41), SERVER_CAPS & ~C.CONNECT_WITH_DB, database=True, tls=False)
