"""One suite, both protocols: the built-in plugins (blocking, approval, masking, recording, audit) under the example
read-only policy, through one gateway process to the real PostgreSQL (psycopg) and the real MariaDB (PyMySQL, and
mysql-connector-python for the binary protocol).

Each case runs through a small protocol-neutral :class:`Driver`, so the same assertion holds for both wire
protocols. Every block is judged on the server: the table must still be there with its rows.
"""

from __future__ import annotations

import ast
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mysql.connector
import psycopg
import pymysql
import pytest
import yaml
from pymysql.constants import CLIENT, COMMAND

from interceptor.identity import hash_token, new_token
from tests.conftest import ROOT, GatewayProcess, MyUpstream, Upstream, make_gateway, my_admin, pg_admin
from tests.protocols.postgres import wire

pytestmark = pytest.mark.postgres

CARD = "4111111111111111"
SSN = "123-45-6789"
EMAIL = "ada@example.com"
VICTIM_ROWS = 5
POLICIES = yaml.safe_load((ROOT / "contrib" / "policies" / "readonly-agents.yaml").read_text())
#: a permissive policy that still masks: for statements the read-only policy refuses (an INSERT's duplicate key)
OPEN_MASKED = {
    "unknown": "allow",
    "mask": {"columns": ["customers.card"], "detect": ["credit_card", "us_ssn", "email"]},
}
#: connection names per protocol: read-only, reviewed, open-but-masked
CONNECTIONS = {"postgres": {"ro": "ro", "rv": "rv", "open": "open"},
               "mysql": {"ro": "my_ro", "rv": "my_rv", "open": "my_open"}}  # fmt: skip
PG_DENIED = "42501"
MY_DENIED = 1227


# -- the gateway and the tables --------------------------------------------------------------------------------


@dataclass
class Env:
    gw: GatewayProcess
    pg: Upstream
    my: MyUpstream
    #: the client-side port of every gateway session this module opened, by protocol (how recordings name them)
    ports: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, mysql_upstream: MyUpstream) -> Iterator[Env]:
    pg = {"protocol": "postgres", "upstream": f"{upstream.host}:{upstream.port}", "database": upstream.database,
          "username": upstream.role, "password": "${ICP_TEST_UPSTREAM_PASSWORD}"}  # fmt: skip
    my = {"protocol": "mysql", "upstream": f"{mysql_upstream.host}:{mysql_upstream.port}",
          "database": mysql_upstream.database, "username": mysql_upstream.user,
          "password": "${ICP_TEST_MYSQL_PASSWORD}"}  # fmt: skip
    policy = {"ro": "readonly", "rv": "reviewed", "open": "open_masked"}
    conns = [dict(base, name=CONNECTIONS[proto][key], policy=policy[key])
             for proto, base in (("postgres", pg), ("mysql", my)) for key in policy]  # fmt: skip
    policies = dict(POLICIES, open_masked=OPEN_MASKED, default={"unknown": "allow"})
    gw = make_gateway(tmp_path_factory.mktemp("both"), upstream, connections=conns, mysql=mysql_upstream,
                      extra={"policies": policies, "plugin_config": {"approval": {"poll_interval": 0.1}}})  # fmt: skip
    _add_identity(gw, "carol", "human", ["dba"])  # a DBA who asks: an approver, but not of her own request
    _seed_postgres(upstream)
    _seed_mysql(mysql_upstream)
    gw.start()
    try:
        yield Env(gw, upstream, mysql_upstream)
    finally:
        gw.stop()


def _add_identity(gw: GatewayProcess, name: str, kind: str, groups: list[str]) -> None:
    cfg = yaml.safe_load(gw.config_path.read_text())
    gw.tokens[name] = new_token()
    cfg["identities"].append(
        {"name": name, "kind": kind, "groups": groups, "token_hash": hash_token(gw.tokens[name], 4)}
    )
    gw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _seed_postgres(up: Upstream) -> None:
    """``customers`` (100 rows, every card 4111...) comes from the ``upstream`` fixture."""
    with pg_admin(up.database) as admin:
        admin.execute(f"set role {up.role}")
        admin.execute("drop table if exists bp_victim, bp_people, bp_cards")
        admin.execute("create table bp_victim (id int primary key, v text)")
        admin.execute("insert into bp_victim select g, 'v' || g from generate_series(1, 5) g")
        admin.execute("create table bp_people (id int, ssn text, email text, note text)")
        admin.execute("insert into bp_people values (1, %s, %s, 'plain note')", (SSN, EMAIL))
        admin.execute("create table bp_cards (card text primary key)")
        admin.execute("insert into bp_cards values (%s)", (CARD,))


def _seed_mysql(up: MyUpstream) -> None:
    admin = my_admin(up.database)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80),"
                        " card VARCHAR(32))")  # fmt: skip
            cur.execute("INSERT INTO customers SELECT seq, CONCAT('name ', seq), CONCAT('user', seq, '@example.com'),"
                        f" '{CARD}' FROM seq_1_to_100")  # fmt: skip
            cur.execute("CREATE TABLE bp_victim (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute("INSERT INTO bp_victim SELECT seq, CONCAT('v', seq) FROM seq_1_to_5")
            cur.execute("CREATE TABLE bp_people (id INT, ssn VARCHAR(11), email VARCHAR(80), note VARCHAR(40))")
            cur.execute("INSERT INTO bp_people VALUES (1, %s, %s, 'plain note')", (SSN, EMAIL))
            cur.execute("CREATE TABLE bp_cards (card VARCHAR(32) PRIMARY KEY)")
            cur.execute("INSERT INTO bp_cards VALUES (%s)", (CARD,))
    finally:
        admin.close()


# -- the protocol-neutral driver -------------------------------------------------------------------------------


Rows = list[tuple[Any, ...]]


def _plain(rows: Any) -> Rows:
    """Rows as tuples of plain values (connector's bytearrays as text), for equality checks."""
    out: Rows = []
    for row in rows:
        out.append(tuple(v.decode() if isinstance(v, bytes | bytearray) else v for v in row))
    return out


class Denied(AssertionError):
    pass


@dataclass
class Client:
    """One gateway session (and, for MySQL binary-protocol work, a second one from mysql-connector)."""

    driver: Driver
    connection: str
    identity: str
    conn: Any
    binary_conn: Any = None
    port: int = 0  # the client's local port: how the recording names the session

    @property
    def mysql(self) -> bool:
        return self.driver.protocol == "mysql"

    def run(self, sql: str, *, binary: bool = False) -> Rows:
        """A statement's rows; ``binary``: psycopg's binary cursor / mysql-connector's prepared cursor."""
        if not self.mysql:
            with self.conn.cursor(binary=binary) as cur:
                cur.execute(sql)
                return _plain(cur.fetchall()) if cur.description else []
        if binary:
            return self.run_prepared(sql, ())
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return _plain(cur.fetchall())

    def rowcount(self, sql: str) -> int:
        """The affected-row count of a data-changing statement."""
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return int(cur.rowcount)

    def run_prepared(self, sql: str, params: tuple[Any, ...]) -> Rows:
        """PostgreSQL: the extended protocol (Parse/Bind/Execute, prepared server-side); MySQL: the binary protocol
        (COM_STMT_PREPARE / COM_STMT_EXECUTE through mysql-connector's prepared cursor)."""
        if not self.mysql:
            with self.conn.cursor() as cur:
                cur.execute(sql, params, prepare=True)
                return _plain(cur.fetchall()) if cur.description else []
        cur = self._binary().cursor(prepared=True)
        try:
            cur.execute(sql, params)
            return _plain(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    def run_prepared_many(self, sql: str, params: list[tuple[Any, ...]]) -> list[int]:
        """One prepared statement executed once per parameter tuple; the affected-row counts."""
        counts = []
        if not self.mysql:
            for p in params:
                with self.conn.cursor() as cur:
                    cur.execute(sql, p, prepare=True)
                    counts.append(int(cur.rowcount))
            return counts
        cur = self._binary().cursor(prepared=True)
        try:
            for p in params:
                cur.execute(sql, p)
                counts.append(int(cur.rowcount))
        finally:
            cur.close()
        return counts

    def _binary(self) -> Any:
        if self.binary_conn is None:
            gw = self.driver.env.gw
            self.binary_conn = mysql.connector.connect(
                host=gw.host, port=gw.mysql_port, user=self.identity, password=gw.tokens[self.identity],
                database=self.connection, use_pure=True, autocommit=True, connection_timeout=10, ssl_disabled=True,
            )  # fmt: skip
            self.driver.env_ports().append(self.binary_conn._socket.sock.getsockname()[1])
        return self.binary_conn

    def denied(self, sql: str, *, prepared: bool = False, params: tuple[Any, ...] = ()) -> str:
        """Run ``sql`` expecting the gateway's own denial; returns the error text. The session stays usable."""
        try:
            self.run_prepared(sql, params) if prepared else self.run(sql)
        except (psycopg.Error, pymysql.MySQLError, mysql.connector.Error) as e:
            text = _deny_text(e)
        else:
            raise Denied(f"not denied: {sql!r}")
        assert self.run("SELECT 1") == [(1,)], "the session is unusable after a denial"
        return text

    def close(self) -> None:
        for c in (self.conn, self.binary_conn):
            if c is not None:
                c.close()


def _deny_text(e: Exception) -> str:
    """The gateway's denial as text; any other error (the server's own) fails the test."""
    if isinstance(e, psycopg.Error):
        assert e.sqlstate == PG_DENIED, f"not a denial: {e.sqlstate} {e}"
        text = f"{e.diag.message_primary} [{e.diag.message_detail}]"
    elif isinstance(e, pymysql.MySQLError):
        assert e.args[0] == MY_DENIED, f"not a denial: {e.args}"
        text = str(e.args[1])
    else:
        assert isinstance(e, mysql.connector.Error) and e.errno == MY_DENIED, f"not a denial: {e!r}"
        text = str(e.msg)
    assert text.startswith("interceptor: "), f"denied by the server, not by the gateway: {text}"
    return text


@dataclass
class Driver:
    protocol: str
    env: Env

    def name(self, key: str) -> str:
        return CONNECTIONS[self.protocol][key]

    def open(self, key: str = "ro", identity: str = "bot", **kw: Any) -> Client:
        gw, connection = self.env.gw, self.name(key)
        if self.protocol == "postgres":
            conn = gw.connect(identity, connection=connection, **kw)
            port = _pg_local_port(conn)
        else:
            conn = gw.mysql_connect(identity, connection=connection, **kw)
            port = conn._sock.getsockname()[1]
        self.env_ports().append(port)
        return Client(self, connection, identity, conn, port=port)

    def env_ports(self) -> list[int]:
        return self.env.ports.setdefault(self.protocol, [])

    def run(self, sql: str, key: str = "ro", *, binary: bool = False) -> Rows:
        c = self.open(key)
        try:
            return c.run(sql, binary=binary)
        finally:
            c.close()

    def run_prepared(self, sql: str, params: tuple[Any, ...], key: str = "ro") -> Rows:
        c = self.open(key)
        try:
            return c.run_prepared(sql, params)
        finally:
            c.close()

    def expect_denied(self, sql: str, key: str = "ro", **kw: Any) -> str:
        c = self.open(key)
        try:
            return c.denied(sql, **kw)
        finally:
            c.close()

    def server(self, sql: str) -> Rows:
        """Straight to the server, not through the gateway."""
        if self.protocol == "postgres":
            with pg_admin(self.env.pg.database) as admin:
                return _plain(admin.execute(sql).fetchall())
        admin = my_admin(self.env.my.database)
        try:
            with admin.cursor() as cur:
                cur.execute(sql)
                return _plain(cur.fetchall())
        finally:
            admin.close()

    def count(self, table: str) -> int:
        return int(self.server(f"SELECT count(*) FROM {table}")[0][0])

    def server_error(self, sql: str) -> str:
        """The error the server itself gives for ``sql`` (to prove that a masking case really quotes a value)."""
        try:
            self.server(sql)
        except (psycopg.Error, pymysql.MySQLError) as e:
            return str(e)
        raise AssertionError(f"the server ran {sql!r} without an error")


def _pg_local_port(conn: psycopg.Connection[Any]) -> int:
    with socket.socket(fileno=conn.pgconn.socket) as s:
        try:
            return int(s.getsockname()[1])
        finally:
            s.detach()


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def driver(request: pytest.FixtureRequest, env: Env) -> Driver:
    return Driver(request.param, env)


@pytest.fixture(scope="module")
def my(env: Env) -> Driver:
    return Driver("mysql", env)


def _sql(driver: Driver, postgres: str, mariadb: str) -> str:
    return mariadb if driver.protocol == "mysql" else postgres


# -- blocks, judged on the server ------------------------------------------------------------------------------

BLOCKED = {
    "drop": "DROP TABLE bp_victim",
    "truncate": "TRUNCATE bp_victim",
    "delete": "DELETE FROM bp_victim WHERE id > 0",
    "insert": "INSERT INTO bp_victim VALUES (99, 'new')",
    "update": "UPDATE bp_victim SET id = id + 100",
}


@pytest.mark.parametrize("sql", list(BLOCKED.values()), ids=list(BLOCKED))
def test_blocked(driver: Driver, sql: str) -> None:
    text = driver.expect_denied(sql)
    assert "[" in text  # the rule is named
    assert driver.count("bp_victim") == VICTIM_ROWS
    assert driver.server("SELECT min(id), max(id) FROM bp_victim") == [(1, 5)]


def test_blocked_rules_are_named(driver: Driver) -> None:
    assert "no-ddl" in driver.expect_denied("DROP TABLE bp_victim")
    assert "allow_effects" in driver.expect_denied("DELETE FROM bp_victim")


def test_prepared_delete_blocked(driver: Driver) -> None:
    """PostgreSQL: Parse/Bind/Execute; MySQL: COM_STMT_PREPARE through mysql-connector's prepared cursor."""
    text = driver.expect_denied("DELETE FROM bp_victim WHERE id = %s", prepared=True, params=(1,))
    assert "delete" in text
    assert driver.count("bp_victim") == VICTIM_ROWS


def test_prepared_select_still_runs(driver: Driver) -> None:
    """The prepared path is not simply closed: an allowed statement runs through it with its parameter."""
    assert driver.run_prepared("SELECT v FROM bp_victim WHERE id = %s", (3,)) == [("v3",)]


def test_multi_statement_blocked(driver: Driver) -> None:
    """PostgreSQL: one simple Query; MySQL: a client that logged in with CLIENT_MULTI_STATEMENTS."""
    kw = {"client_flag": CLIENT.MULTI_STATEMENTS} if driver.protocol == "mysql" else {}
    c = driver.open(**kw)
    try:
        if driver.protocol == "mysql":  # the server really runs several statements per COM_QUERY here
            assert _multi_results(c.conn, "SELECT 1; SELECT 2") == [((1,),), ((2,),)]
        assert "no-ddl" in c.denied("SELECT 1; DROP TABLE bp_victim")
    finally:
        c.close()
    assert driver.count("bp_victim") == VICTIM_ROWS


def _multi_results(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        results = [tuple(cur.fetchall())]
        while cur.nextset():
            results.append(tuple(cur.fetchall()))
    return results


def _set_multi_statements_on(conn: Any) -> None:
    """COM_SET_OPTION MYSQL_OPTION_MULTI_STATEMENTS_ON (PyMySQL has no public call for it)."""
    conn._execute_command(COMMAND.COM_SET_OPTION, struct.pack("<H", 0))
    packet = conn._read_packet()  # an ERR raises
    assert packet.is_eof_packet() or packet.is_ok_packet()


def test_mysql_multi_statement_blocked_after_set_option(my: Driver) -> None:
    c = my.open()
    try:
        with pytest.raises(pymysql.MySQLError) as off:  # off at login: the server refuses a second statement
            c.run("SELECT 1; SELECT 2")
        assert off.value.args[0] == 1064
        assert "no-ddl" in c.denied("SELECT 1; DROP TABLE bp_victim")  # read whole even while it is off
        _set_multi_statements_on(c.conn)
        assert _multi_results(c.conn, "SELECT 1; SELECT 2") == [((1,),), ((2,),)]
        assert "no-ddl" in c.denied("SELECT 1; DROP TABLE bp_victim")
        assert "no-ddl" in c.denied("SELECT 1;DROP TABLE bp_victim;SELECT 2")
    finally:
        c.close()
    assert my.count("bp_victim") == VICTIM_ROWS


MYSQL_BLOCKED = {
    "versioned-comment": "/*!50000DROP*/ TABLE bp_victim",
    "versioned-comment-mariadb": "/*M!100000 DROP TABLE bp_victim */",
    "rename": "RENAME TABLE bp_victim TO bp_victim_gone",
    "alter-rename": "ALTER TABLE bp_victim RENAME TO bp_victim_gone",
    "into-outfile": "SELECT * FROM bp_victim INTO OUTFILE '/tmp/icp_both_outfile'",
    "into-dumpfile": "SELECT v FROM bp_victim LIMIT 1 INTO DUMPFILE '/tmp/icp_both_dumpfile'",
    "load-file": "SELECT LOAD_FILE('/etc/passwd')",
    "prepare": "PREPARE s FROM 'DROP TABLE bp_victim'",
    "execute-immediate": "EXECUTE IMMEDIATE 'DROP TABLE bp_victim'",
    "multi-table-delete": "DELETE bp_victim FROM bp_victim JOIN bp_people",
}


@pytest.mark.parametrize("sql", list(MYSQL_BLOCKED.values()), ids=list(MYSQL_BLOCKED))
def test_mysql_specific_blocked(my: Driver, sql: str) -> None:
    my.expect_denied(sql)
    assert my.count("bp_victim") == VICTIM_ROWS
    assert my.server("SHOW TABLES LIKE 'bp_victim%'") == [("bp_victim",)]


def test_mysql_dynamic_sql_blocked(my: Driver) -> None:
    """Built from pieces at run time, PREPARE ... FROM @s cannot be read before it runs: refused at PREPARE,
    whether sent as one multi-statement text or statement by statement."""
    c = my.open(client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        text = c.denied("SET @s = CONCAT('DR', 'OP TABLE bp_victim'); PREPARE s FROM @s; EXECUTE s")
        assert "no-dynamic-sql" in text
        c.run("SET @s = CONCAT('DR', 'OP TABLE bp_victim')")  # only a user variable: allowed
        assert "no-dynamic-sql" in c.denied("PREPARE s FROM @s")
        assert "no-dynamic-sql" in c.denied("EXECUTE s")
    finally:
        c.close()
    assert my.count("bp_victim") == VICTIM_ROWS


def test_not_blocked(driver: Driver) -> None:
    assert driver.run("SELECT 'DROP TABLE bp_victim'") == [("DROP TABLE bp_victim",)]
    assert driver.run("SELECT 'DROP TABLE bp_victim' AS s", binary=True) == [("DROP TABLE bp_victim",)]
    assert driver.count("bp_victim") == VICTIM_ROWS


def test_parser_state_settings_refused(driver: Driver) -> None:
    """The read-only policy allows SET, but never one that changes how the server reads later statements."""
    if driver.protocol == "postgres":
        cases = ["SET standard_conforming_strings = off"]
        probe = "SHOW standard_conforming_strings"
        expected: Rows = [("on",)]
    else:
        cases = ["SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "SET SESSION sql_mode = 'ANSI_QUOTES'",
                 "SET @@sql_mode = CONCAT(@@sql_mode, ',ANSI')", "SET NAMES sjis",
                 "SET STATEMENT sql_mode = 'ANSI' FOR SELECT 1"]  # fmt: skip
        probe = "SELECT @@sql_mode LIKE '%ANSI%' OR @@sql_mode LIKE '%BACKSLASH%'"
        expected = [(0,)]
    c = driver.open()
    try:
        assert c.run("SET application_name = 'x'" if driver.protocol == "postgres" else "SET @x = 1") == []
        for sql in cases:
            assert "parser-state" in c.denied(sql), sql
        assert c.run(probe) == expected  # the setting never reached the server
    finally:
        c.close()


# -- approval --------------------------------------------------------------------------------------------------


def _cli(gw: GatewayProcess, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(gw.env)
    env.pop("INTERCEPTOR_TOKEN", None)
    if token:
        env["INTERCEPTOR_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "interceptor.cli", *args, "-c", str(gw.config_path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip


def _pending(gw: GatewayProcess) -> list[dict[str, Any]]:
    r = _cli(gw, "approvals", "list", "--json")
    assert r.returncode == 0, r.stderr
    return [a for a in json.loads(r.stdout) if a["state"] == "pending"]


def _wait_pending(gw: GatewayProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = _pending(gw)
        if pending:
            assert len(pending) == 1, pending
            return pending[0]
        time.sleep(0.1)
    raise AssertionError("no pending approval appeared")


HELD = "DELETE FROM bp_victim WHERE id = 5"


def _held(driver: Driver, result: dict[str, Any], identity: str) -> threading.Thread:
    c = driver.open("rv", identity)

    def run() -> None:
        try:
            result["rowcount"] = c.rowcount(HELD)
        except (psycopg.Error, pymysql.MySQLError) as e:
            result["error"] = str(e)
        finally:
            c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _restore_victim(driver: Driver, ids: tuple[int, ...] = (5,)) -> None:
    if driver.count("bp_victim") == VICTIM_ROWS:
        return
    values = ", ".join(f"({i}, 'v{i}')" for i in ids)
    if driver.protocol == "postgres":
        with pg_admin(driver.env.pg.database) as admin:
            admin.execute(f"insert into bp_victim values {values} on conflict do nothing")
    else:
        admin = my_admin(driver.env.my.database)
        try:
            with admin.cursor() as cur:
                cur.execute(f"INSERT IGNORE INTO bp_victim VALUES {values}")
        finally:
            admin.close()


def test_review_approve_runs_once(driver: Driver) -> None:
    gw = driver.env.gw
    result: dict[str, Any] = {}
    t = _held(driver, result, "carol")
    try:
        req = _wait_pending(gw)
        assert req["statement"] == HELD and req["requester"] == "carol" and req["connection"] == driver.name("rv")
        # the command is held, not run: the row is still there, and another session is served meanwhile
        assert driver.count("bp_victim") == VICTIM_ROWS
        other = driver.open("rv", "alice")
        try:
            assert other.run("SELECT count(*) FROM bp_victim") == [(VICTIM_ROWS,)]
        finally:
            other.close()
        assert t.is_alive() and not result
        own = _cli(gw, "approvals", "approve", req["id"], token=gw.tokens["carol"])  # carol is a DBA too
        assert own.returncode == 1 and "your own request" in own.stderr, own.stderr
        bot = _cli(gw, "approvals", "approve", req["id"], token=gw.tokens["bot"])
        assert bot.returncode == 1 and "not belong to any approver" in bot.stderr, bot.stderr
        assert t.is_alive() and not result
        assert driver.count("bp_victim") == VICTIM_ROWS
        ok = _cli(gw, "approvals", "approve", req["id"], token=gw.tokens["alice"])
        assert ok.returncode == 0, ok.stderr
        t.join(15)
        assert result == {"rowcount": 1}, result
        again = _cli(gw, "approvals", "approve", req["id"], token=gw.tokens["alice"])
        assert again.returncode == 1
        time.sleep(0.3)  # a second run would have had time to happen
        assert driver.count("bp_victim") == VICTIM_ROWS - 1
    finally:
        t.join(15)
        _restore_victim(driver)


def test_review_deny_names_the_request(driver: Driver) -> None:
    gw = driver.env.gw
    result: dict[str, Any] = {}
    t = _held(driver, result, "bot")
    try:
        req = _wait_pending(gw)
        denied = _cli(gw, "approvals", "deny", req["id"], token=gw.tokens["alice"])
        assert denied.returncode == 0, denied.stderr
        t.join(15)
        assert req["id"] in result.get("error", ""), result
        assert driver.count("bp_victim") == VICTIM_ROWS
    finally:
        t.join(15)
        _restore_victim(driver)


def test_review_approval_of_a_prepared_statement_runs_once(driver: Driver, request: pytest.FixtureRequest) -> None:
    """The approver sees ``DELETE ... WHERE id = $1`` / ``?`` and approves one run. Executing the same prepared
    statement again (psycopg reuses its named statement; mysql-connector's prepared cursor reuses its statement
    id) must be held again or refused, never run on the old approval."""
    gw = driver.env.gw
    c = driver.open("rv", "bot")
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["counts"] = c.run_prepared_many("DELETE FROM bp_victim WHERE id = %s", [(5,), (4,), (3,)])
        except (psycopg.Error, pymysql.MySQLError, mysql.connector.Error) as e:
            result["error"] = str(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        req = _wait_pending(gw)
        ok = _cli(gw, "approvals", "approve", req["id"], token=gw.tokens["alice"])
        assert ok.returncode == 0, ok.stderr
        t.join(3)
        time.sleep(0.3)
        assert driver.count("bp_victim") == VICTIM_ROWS - 1, result  # the approved run, and no other
    finally:
        for pending in _pending(gw):  # a second execution held for a new approval: deny it, to finish
            _cli(gw, "approvals", "deny", pending["id"], token=gw.tokens["alice"])
        t.join(15)
        c.close()
        _restore_victim(driver, ids=(3, 4, 5))


# -- masking ---------------------------------------------------------------------------------------------------


def _no_secrets(text: str) -> None:
    assert CARD not in text
    assert SSN not in text
    assert EMAIL not in text
    assert "user7@example.com" not in text


#: case -> (PostgreSQL, MySQL); one statement when both read it alike
MASKED: dict[str, tuple[str, str] | str] = {
    "star": "SELECT * FROM customers ORDER BY id LIMIT 10",
    "column": "SELECT card, email FROM customers WHERE id = 7",
    "alias": "SELECT card AS innocent FROM customers WHERE id < 4",
    "concat": ("SELECT card || '' AS c FROM customers LIMIT 5", "SELECT CONCAT(card, '') FROM customers"),
    "aggregate": ("SELECT string_agg(card, ',') FROM customers", "SELECT GROUP_CONCAT(card) FROM customers"),
    "json": (
        "SELECT json_build_object('c', card, 'e', email)::text FROM customers WHERE id < 4",
        "SELECT JSON_OBJECT('c', card, 'e', email) FROM customers WHERE id < 4",
    ),
    "detectors": "SELECT * FROM bp_people",
    "detectors-concat": ("SELECT ssn || ' ' || email FROM bp_people", "SELECT CONCAT(ssn, ' ', email) FROM bp_people"),
}


def _masked_query(protocol: str, case: str) -> str:
    sql = MASKED[case]
    return sql if isinstance(sql, str) else sql[protocol == "mysql"]


@pytest.mark.parametrize("case", list(MASKED))
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masking_in_results(driver: Driver, case: str, binary: bool) -> None:
    sql = _masked_query(driver.protocol, case)
    direct = repr(driver.server(sql))
    assert CARD in direct or SSN in direct, "the query does not return a secret: the case proves nothing"
    rows = driver.run(sql, binary=binary)
    assert rows and all(any(v is not None for v in r) for r in rows), rows
    _no_secrets(repr(rows))
    if CARD in direct:
        assert "1111" in repr(rows)  # partial masking keeps the last four: the value was masked, not dropped


def test_unmasked_columns_read_normally(driver: Driver) -> None:
    for binary in (False, True):
        assert driver.run("SELECT id, name FROM customers WHERE id = 7", binary=binary) == [(7, "name 7")]
        assert driver.run("SELECT note FROM bp_people", binary=binary) == [("plain note",)]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masking_in_error_message(driver: Driver, binary: bool) -> None:
    """The server quotes the value in its error message; the client gets the message masked (binary: the error
    answers an extended-protocol Execute / a COM_STMT_PREPARE or COM_STMT_EXECUTE)."""
    sql = _sql(driver, "SELECT card::int FROM customers WHERE id = 1",
               "SET time_zone = (SELECT card FROM customers WHERE id = 1)")  # fmt: skip
    assert CARD in driver.server_error(sql)
    c = driver.open()
    try:
        with pytest.raises((psycopg.Error, pymysql.MySQLError, mysql.connector.Error)) as exc:
            c.run(sql, binary=binary)
        assert "interceptor" not in str(exc.value)  # the server's error, not a denial
        _no_secrets(str(exc.value))
        assert "1111" in str(exc.value)
    finally:
        c.close()


def test_masking_in_duplicate_key_error(driver: Driver) -> None:
    """A permissive policy that masks: the duplicate-key error quotes the card."""
    sql = "INSERT INTO bp_cards SELECT card FROM customers WHERE id = 1"
    assert CARD in driver.server_error(sql)
    c = driver.open("open")
    try:
        with pytest.raises((psycopg.Error, pymysql.MySQLError)) as exc:
            c.run(sql)
        text = str(exc.value) + (str(exc.value.diag.message_detail) if isinstance(exc.value, psycopg.Error) else "")
        assert "uplicate" in text
        _no_secrets(text)
    finally:
        c.close()
    assert driver.count("bp_cards") == 1


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masked_number_becomes_null(driver: Driver, binary: bool, request: pytest.FixtureRequest) -> None:
    """A number column cannot carry ``************1111``: the value is withheld as NULL, and the client can still
    read the row (its other values included)."""
    sql = _sql(driver, "SELECT id, card::bigint AS n FROM customers WHERE id = 7",
               "SELECT id, CAST(card AS UNSIGNED) AS n FROM customers WHERE id = 7")  # fmt: skip
    assert driver.server(sql) == [(7, int(CARD))]
    assert driver.run(sql, binary=binary) == [(7, None)]


def _pg_messages(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 0
    while pos + 5 <= len(data):
        (length,) = struct.unpack_from("!i", data, pos + 1)
        out.append((data[pos : pos + 1], data[pos + 5 : pos + 1 + length]))
        pos += 1 + length
    return out


def _pg_data_row(body: bytes) -> tuple[str | None, ...]:
    (count,) = struct.unpack_from("!h", body)
    pos, values = 2, []
    for _ in range(count):
        (length,) = struct.unpack_from("!i", body, pos)
        pos += 4
        values.append(None if length < 0 else body[pos : pos + length].decode())
        pos += max(length, 0)
    return tuple(values)


def _pg_msg(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def fetch_in_pieces(driver: Driver, sql: str, size: int, describe: bool = True) -> Rows:
    """The rows of ``sql`` fetched ``size`` at a time from a server-side cursor. PostgreSQL: Parse, Bind,
    [Describe portal], Execute(max_rows=size) until CommandComplete, Sync (raw wire: no driver sends it so);
    MySQL: COM_STMT_EXECUTE with a read-only cursor, then COM_STMT_FETCH (mysql-connector's command layer)."""
    gw = driver.env.gw
    if driver.protocol == "postgres":
        with socket.create_connection((gw.host, gw.port), timeout=10) as s:
            driver.env_ports().append(s.getsockname()[1])
            wire.login(s, "bot", driver.name("ro"), gw.tokens["bot"])
            out = _pg_msg(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
            out += _pg_msg(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
            out += _pg_msg(b"D", b"P\0") if describe else b""
            out += b"".join(_pg_msg(b"E", b"\0" + struct.pack("!i", size)) for _ in range(20))
            s.sendall(out + _pg_msg(b"S", b""))
            messages = _pg_messages(wire.recv_until_ready(s))
        kinds = [k for k, _ in messages]
        assert b"E" not in kinds, messages
        assert kinds.count(b"s") >= 2 and b"C" in kinds, kinds  # really fetched in pieces: PortalSuspended
        return [_pg_data_row(body) for kind, body in messages if kind == b"D"]
    conn: Any = mysql.connector.connect(host=gw.host, port=gw.mysql_port, user="bot", password=gw.tokens["bot"],
                                   database=driver.name("ro"), use_pure=True, autocommit=True,
                                   ssl_disabled=True, connection_timeout=10)  # fmt: skip
    try:
        driver.env_ports().append(conn._socket.sock.getsockname()[1])
        stmt = conn.cmd_stmt_prepare(sql.encode())
        _, columns, eof = conn.cmd_stmt_execute(stmt["statement_id"], flags=1)  # CURSOR_TYPE_READ_ONLY
        assert eof["status_flag"] & 0x40, eof  # SERVER_STATUS_CURSOR_EXISTS: the rows wait on the server
        rows: Rows = []
        while True:
            conn.cmd_stmt_fetch(stmt["statement_id"], size)
            got, end = conn.get_rows(binary=True, columns=columns, prepared=True)
            rows += _plain(got)
            if end["status_flag"] & 0x80:  # SERVER_STATUS_LAST_ROW_SENT
                break
        conn.cmd_stmt_close(stmt["statement_id"])
        return rows
    finally:
        conn.close()


PIECES_SQL = "SELECT id, card, email FROM customers WHERE id < 8 ORDER BY id"


def test_masking_in_rows_fetched_in_pieces(driver: Driver) -> None:
    """Rows that come without their column definitions (PostgreSQL: a suspended portal's next Execute; MySQL:
    COM_STMT_FETCH from a cursor) are masked and recorded like any others."""
    rows = fetch_in_pieces(driver, PIECES_SQL, 2)
    assert [int(r[0]) for r in rows] == list(range(1, 8))
    _no_secrets(repr(rows))
    assert "1111" in repr(rows)
    port = driver.env_ports()[-1]
    mine = _by_port(_wait_ended(driver.env.gw, [port]), port)
    assert mine is not None
    replay = _cli(driver.env.gw, "replay", mine["id"], "--json")
    entries = json.loads(replay.stdout)["entries"]
    results = [e for e in entries if e["type"] == "result"]
    assert sum(int(e["row_count"]) for e in results) == 7, results
    recorded = json.dumps(results)
    _no_secrets(recorded)
    assert "1111" in recorded


def test_postgres_masking_without_describe(env: Env) -> None:
    """A client need not Describe before it Executes; the gateway must mask what it cannot describe anyway
    (describe the statement itself, or refuse the Execute)."""
    rows = fetch_in_pieces(Driver("postgres", env), PIECES_SQL, 3, describe=False)
    assert len(rows) == 7
    _no_secrets(repr(rows))


# -- recording and audit ---------------------------------------------------------------------------------------


def _sessions(gw: GatewayProcess) -> list[dict[str, Any]]:
    r = _cli(gw, "sessions", "--json", "--limit", "1000")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def _by_port(sessions: list[dict[str, Any]], port: int) -> dict[str, Any] | None:
    for s in sessions:
        if str(s["client"]).rsplit(":", 1)[-1] == str(port):
            return s
    return None


def _wait_ended(gw: GatewayProcess, ports: list[int]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        sessions = _sessions(gw)
        found = [_by_port(sessions, p) for p in ports]
        if all(s is not None and s["ended_at"] is not None for s in found) or time.monotonic() > deadline:
            return sessions
        time.sleep(0.2)


def test_sessions_recorded_and_replayable(driver: Driver) -> None:
    gw = driver.env.gw
    marker = f"rec_{driver.protocol}_{time.monotonic_ns()}"
    c = driver.open()
    try:
        c.run(f"SELECT '{marker}' AS m, card FROM customers WHERE id = 1")
        c.denied("DROP TABLE bp_victim")
    finally:
        c.close()
    sessions = _wait_ended(gw, [c.port])
    mine = _by_port(sessions, c.port)
    assert mine is not None, f"no recording for the session from port {c.port}"
    assert mine["protocol"] == driver.protocol and mine["connection"] == driver.name("ro")
    assert mine["identity"] == "bot" and mine["denied"] == 1, mine
    replay = _cli(gw, "replay", mine["id"])
    assert replay.returncode == 0, replay.stderr
    assert marker in replay.stdout
    assert "DROP TABLE bp_victim" in replay.stdout and "DENY" in replay.stdout
    assert f"({driver.protocol})" in replay.stdout
    _no_secrets(replay.stdout)  # the recording holds what the client saw: masked
    assert "1111" in replay.stdout


def test_every_session_has_a_recording(driver: Driver) -> None:
    """Every gateway session this module opened for this protocol so far (all the tests before this one)."""
    ports = list(driver.env_ports())
    assert len(ports) > 10
    sessions = _wait_ended(driver.env.gw, ports)
    missing = [p for p in ports if _by_port(sessions, p) is None]
    assert not missing, f"{len(missing)} of {len(ports)} sessions have no recording"


def test_audit_verify_names_the_changed_line(driver: Driver) -> None:
    gw = driver.env.gw
    ok = _cli(gw, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    c = driver.open()
    try:
        c.run("SELECT 'to be tampered with'")
    finally:
        c.close()
    mine = _by_port(_wait_ended(gw, [c.port]), c.port)
    assert mine is not None and mine["ended_at"] is not None
    target = Path(mine["path"])
    original = target.read_bytes()
    lines = original.split(b"\n")
    assert len(lines) > 3
    offset = len(lines[0]) + 1 + len(lines[1]) + 1 + 12  # a byte in line 3
    raw = bytearray(original)
    raw[offset] = ord("X") if raw[offset] != ord("X") else ord("Y")
    target.write_bytes(bytes(raw))
    try:
        r = _cli(gw, "audit", "verify")
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        assert target.name in out and "line 3" in out, out
    finally:
        target.write_bytes(original)
    again = _cli(gw, "audit", "verify")
    assert again.returncode == 0, again.stdout + again.stderr


# -- the plugin layer knows no wire protocol -------------------------------------------------------------------


def _protocol_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every import in ``source`` whose module or name mentions ``protocols`` (absolute or relative)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(a.name for a in node.names)]
        else:
            continue
        found += [f"{filename}:{node.lineno}: {n}" for n in names if "protocols" in n]
    return found


def test_plugins_import_nothing_from_protocols() -> None:
    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert {"blocking.py", "approval.py", "masking.py", "recording.py"} <= {f.name for f in files}
    offenders = [hit for path in files for hit in _protocol_imports(path.read_text(), path.name)]
    assert not offenders, offenders
    # the check itself sees every spelling
    for sample in ("import interceptor.protocols.mysql.relay", "from interceptor.protocols.postgres import codec",
                   "from ..protocols import send", "from interceptor import protocols"):  # fmt: skip
        assert _protocol_imports(sample), sample
