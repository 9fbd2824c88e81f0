"""PyMySQL, mysql-connector-python and the ``mariadb`` CLI through the gateway to the real MariaDB, with a token:
plaintext on loopback and TLS, multi-statements, prepared statements (binary rows), masking, a large result."""

from __future__ import annotations

import ssl
import subprocess
from typing import Any

import mysql.connector
import pymysql
import pytest
from pymysql.constants import CLIENT

from tests.conftest import GatewayProcess, my_admin, need
from tests.protocols.mysql.conftest import MyGateway

pytestmark = pytest.mark.mysql

NO_VERIFY = {"check_hostname": False, "verify_mode": ssl.CERT_NONE}


def connector(gw: GatewayProcess, identity: str = "bot", **kw: Any) -> Any:
    return mysql.connector.connect(
        host=gw.host, port=gw.mysql_port, user=identity, password=gw.tokens[identity], database="shop",
        connection_timeout=10, autocommit=True, **kw,
    )  # fmt: skip


def server_rows(database: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    """Read the server directly (not through the gateway)."""
    admin = my_admin(database)
    try:
        with admin.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        admin.close()


def test_pymysql_plaintext_on_loopback(mysql_gateway: MyGateway) -> None:
    gw, up = mysql_gateway.gw, mysql_gateway.up
    with gw.mysql_connect(ssl_disabled=True) as conn, conn.cursor() as cur:
        assert not isinstance(conn._sock, ssl.SSLSocket)
        cur.execute("SELECT CURRENT_USER(), DATABASE(), @@version")
        user, database, version = cur.fetchone()
        assert user.split("@")[0] == up.user and database == up.database and "MariaDB" in version
        cur.execute("SELECT name FROM items WHERE id = %s", (7,))
        assert cur.fetchone() == ("item 7",)


@pytest.mark.parametrize("kw", [{}, {"ssl": NO_VERIFY}], ids=["preferred", "required"])
def test_pymysql_over_tls(mysql_gateway: MyGateway, kw: dict[str, Any]) -> None:
    """PyMySQL 1.1.1+ prefers TLS when the server offers it; ``ssl=...`` requires it."""
    with mysql_gateway.gw.mysql_connect(**kw) as conn, conn.cursor() as cur:
        assert isinstance(conn._sock, ssl.SSLSocket) and conn._sock.version() in ("TLSv1.2", "TLSv1.3")
        cur.execute("SELECT COUNT(*), SUM(id) FROM items")
        assert cur.fetchone() == (20, 210)


def test_pymysql_multi_statements(mysql_gateway: MyGateway) -> None:
    gw, up = mysql_gateway.gw, mysql_gateway.up
    with gw.mysql_connect(client_flag=CLIENT.MULTI_STATEMENTS) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1; SELECT 'a', 'b'; INSERT INTO notes (body) VALUES ('multi-ok'); SELECT 3")
        results = [cur.fetchall()]
        while cur.nextset():
            results.append(cur.fetchall())
        assert [tuple(r) for r in results] == [((1,),), (("a", "b"),), (), ((3,),)]
        # one statement of a multi-statement text is denied: the whole text is refused, nothing of it runs
        with pytest.raises(pymysql.err.MySQLError) as exc:
            cur.execute("INSERT INTO notes (body) VALUES ('never'); SELECT 'forbidden_marker'")
        assert exc.value.args[0] == 1227 and "forbidden_marker are blocked" in exc.value.args[1]
        cur.execute("SELECT 'still usable'")
        assert cur.fetchone() == ("still usable",)
    assert server_rows(up.database, "SELECT body FROM notes WHERE body IN ('multi-ok', 'never')") == [("multi-ok",)]


def test_pymysql_large_result(mysql_gateway: MyGateway) -> None:
    with mysql_gateway.gw.mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT seq FROM seq_1_to_100000")
        rows = cur.fetchall()
    assert len(rows) == 100_000 and rows[0] == (1,) and rows[-1] == (100_000,)
    assert sum(r[0] for r in rows) == 100_000 * 100_001 // 2


def test_text_rows_are_masked(mysql_gateway: MyGateway) -> None:
    with mysql_gateway.gw.mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, secret_col, name FROM items WHERE id IN (1, 2) ORDER BY id")
        assert cur.fetchall() == ((1, "***", "item 1"), (2, "***", "item 2"))


def test_denied_statement_never_reaches_the_server(mysql_gateway: MyGateway) -> None:
    gw, up = mysql_gateway.gw, mysql_gateway.up
    with gw.mysql_connect() as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as exc:
            cur.execute("INSERT INTO notes (body) VALUES ('forbidden_marker')")
        assert exc.value.args[0] == 1227 and "[rule test-deny]" in exc.value.args[1]
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    assert server_rows(up.database, "SELECT COUNT(*) FROM notes WHERE body = 'forbidden_marker'") == [(0,)]


def test_held_statement_runs_once_approved(mysql_gateway: MyGateway) -> None:
    """The test plugin holds statements naming hold_marker for a second and approves those that say approve."""
    with mysql_gateway.gw.mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 'hold_marker approve'")
        assert cur.fetchone() == ("hold_marker approve",)


@pytest.mark.parametrize("ssl_disabled", [False, True], ids=["default-tls", "plaintext"])
def test_connector_prepared_statements(mysql_gateway: MyGateway, ssl_disabled: bool) -> None:
    """mysql-connector-python: TLS by default (caching_sha2_password full auth inside TLS), or plaintext on
    loopback; a prepared cursor speaks the binary protocol, whose rows the gateway masks too."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    conn = connector(gw, ssl_disabled=ssl_disabled)
    try:
        assert isinstance(conn._socket.sock, ssl.SSLSocket) is not ssl_disabled
        cur = conn.cursor(prepared=True)
        cur.execute("SELECT id, name, secret_col, n * ? AS doubled FROM items WHERE id BETWEEN ? AND ? ORDER BY id",
                    (2, 3, 5))  # fmt: skip
        assert cur.fetchall() == [(3, "item 3", "***", 6), (4, "item 4", "***", 8), (5, "item 5", "***", 10)]
        cur.execute("SELECT CURRENT_USER(), ? + 1", (41,))
        user, answer = cur.fetchone()
        assert user.split("@")[0] == up.user and answer == 42
        # a masked number no longer fits its binary column type: the gateway withholds it as NULL
        cur.execute("SELECT n AS secret_col, name FROM items WHERE id = ?", (9,))
        assert cur.fetchall() == [(None, "item 9")]
        cur.execute("INSERT INTO notes (body) VALUES (?)", (f"prepared {ssl_disabled}",))
        cur.close()
    finally:
        conn.close()
    assert server_rows(up.database, "SELECT COUNT(*) FROM notes WHERE body = %s", (f"prepared {ssl_disabled}",)) == [
        (1,)
    ]


def test_connector_prepared_large_result(mysql_gateway: MyGateway) -> None:
    conn = connector(mysql_gateway.gw)
    try:
        cur = conn.cursor(prepared=True)
        cur.execute("SELECT seq, seq * 2 FROM seq_1_to_100000 WHERE seq > ?", (0,))
        rows = cur.fetchall()
    finally:
        conn.close()
    assert len(rows) == 100_000 and rows[-1] == (100_000, 200_000)


def mariadb_cli(gw: GatewayProcess, sql: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(gw.env, MYSQL_PWD=gw.tokens["bot"])
    return subprocess.run(
        [need("mariadb"), "--no-defaults", "-h", gw.host, "-P", str(gw.mysql_port), "-u", "bot", "--batch",
         "--skip-column-names", "--connect-timeout=10", *args, "-e", sql, "shop"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "tls"), [([], True), (["--ssl"], True), (["--skip-ssl"], False)], ids=["default", "ssl", "skip-ssl"]
)
def test_mariadb_cli(mysql_gateway: MyGateway, args: list[str], tls: bool) -> None:
    """The CLI (Connector/C 3.4: TLS unless --skip-ssl). Its ``\\s`` reads the status over COM_STATISTICS."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    r = mariadb_cli(gw, "SELECT CURRENT_USER(), DATABASE(), COUNT(*) FROM items; \\s", *args)
    assert r.returncode == 0, r.stderr
    first, status = r.stdout.split("\n", 1)
    user, database, count = first.split("\t")
    assert user.split("@")[0] == up.user and database == up.database and count == "20"
    assert ("Cipher in use is" in status) is tls, status
    assert "Uptime:" in status and "Queries per second avg" in status  # COM_STATISTICS's answer, relayed
