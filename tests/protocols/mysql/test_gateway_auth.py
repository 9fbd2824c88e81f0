"""Login and routing through the MySQL gateway: wrong tokens, unknown connections, allow lists, TLS rules off
loopback, a dead upstream; and what the upstream sees of the session (its user, database and attributes)."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import mysql.connector
import pymysql
import pytest
import yaml

from interceptor.protocols.mysql.codec import ERRPacket, OKPacket
from tests.conftest import GatewayProcess, MyUpstream, make_gateway
from tests.protocols.mysql.conftest import MyGateway
from tests.protocols.mysql.gateway_kit import GatewayClient, upstream_sessions, wait_for

pytestmark = pytest.mark.mysql


def refused(gw: GatewayProcess, **kw: Any) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as exc:
        gw.mysql_connect(**kw)
    return exc.value.args[0], exc.value.args[1]


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
def test_wrong_token_is_1045_and_never_reaches_upstream(mysql_gateway: MyGateway, tls: bool) -> None:
    gw, trap = mysql_gateway.gw, mysql_gateway.trap
    before = trap.accepted
    errno, message = refused(gw, connection="trap", token="itk_wrong", ssl_disabled=not tls)
    assert errno == 1045 and message == "Access denied for user 'bot'@'127.0.0.1' (using password: YES)"
    assert trap.accepted == before


def test_right_token_does_reach_the_trap(mysql_gateway: MyGateway) -> None:
    """The control for the test above: with the right token the gateway does dial the trap (which hangs up)."""
    gw, trap = mysql_gateway.gw, mysql_gateway.trap
    before = trap.accepted
    errno, message = refused(gw, connection="trap")
    assert errno == 1429 and "the upstream of connection 'trap' closed the connection during login" in message
    assert trap.accepted == before + 1


def test_wrong_token_by_each_login_path(mysql_gateway: MyGateway) -> None:
    """mysql_clear_password and the RSA-encrypted caching_sha2_password exchange (raw), caching_sha2_password's
    token in clear on loopback and inside TLS (connector): each refuses a wrong token, and accepts the right one."""
    gw, trap = mysql_gateway.gw, mysql_gateway.trap
    before = trap.accepted
    for login in (GatewayClient.login_token, GatewayClient.login_rsa):
        raw = GatewayClient(gw)
        err = login(raw, connection="trap", token="itk_wrong")
        assert isinstance(err, ERRPacket) and err.errno == 1045 and err.sqlstate == "28000"
        assert raw.sock.recv(1) == b""  # and the gateway hangs up
        raw = GatewayClient(gw)
        assert isinstance(login(raw), OKPacket)
        assert raw.rows("SELECT 'in'") == [[b"in"]]
        raw.close()
    for ssl_disabled in (True, False):
        with pytest.raises(mysql.connector.Error) as exc:
            mysql.connector.connect(host=gw.host, port=gw.mysql_port, user="bot", password="itk_wrong",
                                    database="trap", ssl_disabled=ssl_disabled, connection_timeout=10)  # fmt: skip
        assert exc.value.errno == 1045
    assert trap.accepted == before


def test_unknown_identity_looks_like_a_wrong_token(mysql_gateway: MyGateway) -> None:
    gw = mysql_gateway.gw
    gw.tokens["mallory"] = gw.tokens["bot"]
    try:
        errno, message = refused(gw, identity="mallory")
    finally:
        del gw.tokens["mallory"]
    assert errno == 1045 and "Access denied for user 'mallory'" in message


def test_unknown_connection_is_1049(mysql_gateway: MyGateway) -> None:
    assert refused(mysql_gateway.gw, connection="nope") == (1049, "Unknown database 'nope'")


def test_postgres_connection_is_not_a_mysql_database(mysql_gateway: MyGateway) -> None:
    """A connection of another protocol is unknown here, and is never dialled (it points at the trap)."""
    before = mysql_gateway.trap.accepted
    assert refused(mysql_gateway.gw, connection="pgonly") == (1049, "Unknown database 'pgonly'")
    assert mysql_gateway.trap.accepted == before


def test_no_database_is_1046(mysql_gateway: MyGateway) -> None:
    errno, message = refused(mysql_gateway.gw, connection=None)
    assert errno == 1046 and "use the connection's name as the database" in message


def test_connection_allow_list_is_1044(mysql_gateway: MyGateway, mysql_upstream: MyUpstream) -> None:
    gw = mysql_gateway.gw
    errno, message = refused(gw, connection="dba_only")
    assert errno == 1044 and message == "Access denied for user 'bot'@'127.0.0.1' to database 'dba_only'"
    with gw.mysql_connect("alice", connection="dba_only") as conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (mysql_upstream.database,)


def test_upstream_down_fails_fast_and_clearly(mysql_gateway: MyGateway) -> None:
    started = time.monotonic()
    errno, message = refused(mysql_gateway.gw, connection="down")
    assert time.monotonic() - started < 3.5  # timeouts.connect is 3s; a refused port fails at once
    assert errno == 1429 and message == "cannot reach the upstream of connection 'down'"


def test_upstream_sees_the_configured_user_and_database(mysql_gateway: MyGateway) -> None:
    """information_schema.PROCESSLIST of the gateway's own upstream connection: the vaulted user, the connection's
    database; one upstream connection per session, gone once the client quits (COM_QUIT)."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    before = upstream_sessions(up)
    conn = gw.mysql_connect()
    with conn.cursor() as cur:
        cur.execute("SELECT USER, DB, COMMAND FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
        assert cur.fetchone() == (up.user, up.database, "Query")
    assert upstream_sessions(up) == before + 1
    conn.close()  # COM_QUIT
    wait_for(lambda: upstream_sessions(up) == before)


def test_upstream_gets_identity_and_session_as_attributes(mysql_gateway: MyGateway) -> None:
    """performance_schema is off on the test server, so a fake upstream records the gateway's login instead."""
    gw, spy = mysql_gateway.gw, mysql_gateway.spy
    seen = len(spy.hellos)
    with gw.mysql_connect("alice", connection="spy", ssl_disabled=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")  # the spy answers OK
    hello = spy.hellos[seen]
    assert hello.username == "spy_user" and hello.database == "spydb"
    assert hello.auth_plugin_name == "mysql_native_password" and len(hello.auth_response) == 20  # a scramble
    attrs = hello.attrs
    assert attrs["program_name"] == "interceptor" and attrs["interceptor_identity"] == "alice"
    assert attrs["interceptor_client"].startswith("127.0.0.1:")
    opened = re.findall(r"session (\S+) opened: alice to spy from (\S+)\"", gw.log())
    assert (attrs["interceptor_session"], attrs["interceptor_client"]) in opened


# -- a gateway that clients reach from a non-loopback address ---------------------------------------------------


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the outgoing address
            address = str(s.getsockname()[0])
        with socket.socket() as s:
            s.bind((address, 0))
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, mysql_upstream: MyUpstream) -> Iterator[GatewayProcess]:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    gw = make_gateway(tmp_path_factory.mktemp("remote"), None, mysql=mysql_upstream)
    cfg = yaml.safe_load(gw.config_path.read_text())
    cfg["listen"] = {"postgres": f"{address}:{gw.port}", "mysql": f"{address}:{gw.mysql_port}"}
    gw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    gw.host = address
    gw.start()
    yield gw
    gw.stop()


def test_plaintext_login_off_loopback_is_refused(remote: GatewayProcess) -> None:
    errno, message = refused(remote, ssl_disabled=True)
    assert errno == 3159 and "TLS is required" in message
    with pytest.raises(mysql.connector.Error) as exc:
        mysql.connector.connect(host=remote.host, port=remote.mysql_port, user="bot", password=remote.tokens["bot"],
                                database="shop", ssl_disabled=True, connection_timeout=10)  # fmt: skip
    assert exc.value.errno == 3159
    raw = GatewayClient(remote)  # the ERR comes before any token is read
    assert raw.login_token(token="") == ERRPacket(
        3159, "HY000", "TLS is required: connect with --ssl (a token is never accepted in clear)"
    )


def test_tls_login_off_loopback_works(remote: GatewayProcess, mysql_upstream: MyUpstream) -> None:
    no_verify = {"check_hostname": False, "verify_mode": ssl.CERT_NONE}
    with remote.mysql_connect(ssl=no_verify) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0].split("@")[0] == mysql_upstream.user


def test_client_quit_is_passed_on_so_the_server_does_not_log_an_aborted_session(mysql_gateway: MyGateway) -> None:
    gw, spy = mysql_gateway.gw, mysql_gateway.spy
    conn = gw.mysql_connect("alice", connection="spy", ssl_disabled=True)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()  # COM_QUIT: payload 0x01, sequence id 0
    wait_for(lambda: bytes(spy.received).endswith(b"\x01\x00\x00\x00\x01"))
