"""Each command of the MySQL protocol through the gateway to the real MariaDB: what is forwarded, checked,
translated or refused; LOAD DATA LOCAL both ways; a server's uninvited file request; pipelined commands; the
NO_BACKSLASH_ESCAPES guard."""

from __future__ import annotations

import contextlib
import secrets
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mysql.connector
import pymysql
import pytest

from interceptor.protocols.mysql.codec import (
    CURSOR_TYPE_READ_ONLY,
    MYSQL_OPTION_MULTI_STATEMENTS_OFF,
    MYSQL_OPTION_MULTI_STATEMENTS_ON,
    ColumnCount,
    ColumnDefinition41,
    ComFieldList,
    ComPing,
    ComQuery,
    ComResetConnection,
    ComSetOption,
    ComStatistics,
    ComStmtExecute,
    ComStmtFetch,
    ComStmtPrepare,
    ERRPacket,
    FieldType,
    HandshakeResponse41,
    OKPacket,
    ServerStatus,
    StmtPrepareOK,
    decode_prepare_response,
    decode_query_response,
    encode_binary_int,
    is_result_end,
    split_payload,
)
from tests.conftest import GatewayProcess, MyUpstream, make_gateway
from tests.protocols.mysql.conftest import MyGateway
from tests.protocols.mysql.gateway_kit import GatewayClient, logged_in, upstream_sessions, wait_for
from tests.protocols.mysql.test_gateway_clients import connector, server_rows

pytestmark = pytest.mark.mysql

TLS = {"ssl": {"check_hostname": False, "verify_mode": ssl.CERT_NONE}}


def ok_or_eof(c: GatewayClient) -> bytes:
    """The payload of a reply that must be an OK (0x00) or, for COM_SET_OPTION, an EOF (0xFE)."""
    payload = c.recv().payload
    assert payload[:1] in (b"\x00", b"\xfe"), ERRPacket.decode(payload, c.caps) if payload[:1] == b"\xff" else payload
    return payload


def prepare(c: GatewayClient, sql: str) -> StmtPrepareOK:
    c.command(ComStmtPrepare(sql).encode())
    prepared = decode_prepare_response(c.recv().payload, c.caps)
    assert isinstance(prepared, StmtPrepareOK), prepared
    for _ in range(prepared.num_params + prepared.num_columns):  # DEPRECATE_EOF: no EOF after either list
        ColumnDefinition41.decode(c.recv().payload, c.caps)
    return prepared


def test_ping_statistics_and_field_list(mysql_gateway: MyGateway) -> None:
    with mysql_gateway.gw.mysql_connect() as conn:
        conn.ping(reconnect=False)  # COM_PING through PyMySQL
    c = logged_in(mysql_gateway.gw)
    (ok,) = c.ask(ComPing().encode())
    assert isinstance(ok, OKPacket)
    c.command(ComStatistics().encode())
    assert c.recv().payload.startswith(b"Uptime: ")
    c.command(ComFieldList("items", "").encode())  # column definitions, then the terminator
    names = []
    while not is_result_end((payload := c.recv().payload), c.caps):
        names.append(ColumnDefinition41.decode(payload, c.caps).name)
    assert names == ["id", "name", "secret_col", "n"]
    c.command(ComFieldList("no_such_table", "").encode())
    err = ERRPacket.decode(c.recv().payload, c.caps)
    assert err.errno == 1146  # the server's own "table doesn't exist"
    assert c.rows("SELECT 'after'") == [[b"after"]]
    c.close()


def test_set_option_switches_multi_statements(mysql_gateway: MyGateway) -> None:
    c = logged_in(mysql_gateway.gw)
    assert len(c.ask(ComQuery("SELECT 1; SELECT 2").encode(c.caps))) == 2
    c.command(ComSetOption(MYSQL_OPTION_MULTI_STATEMENTS_OFF).encode())
    ok_or_eof(c)
    (err,) = c.ask(ComQuery("SELECT 1; SELECT 2").encode(c.caps))
    assert isinstance(err, ERRPacket) and err.errno == 1064  # the server now refuses a second statement
    # with multi-statements off, the gateway still reads (and here refuses) every statement of the text
    (err,) = c.ask(ComQuery("SELECT 1; SELECT 'forbidden_marker'").encode(c.caps))
    assert isinstance(err, ERRPacket) and err.errno == 1227
    c.command(ComSetOption(MYSQL_OPTION_MULTI_STATEMENTS_ON).encode())
    ok_or_eof(c)
    results = c.ask(ComQuery("SELECT 1; SELECT 2").encode(c.caps))
    assert [r[1] for r in results if isinstance(r, tuple)] == [[[b"1"]], [[b"2"]]]
    c.close()


def test_init_db_maps_the_connection_and_is_checked_as_use(mysql_gateway: MyGateway) -> None:
    up = mysql_gateway.up
    with mysql_gateway.gw.mysql_connect() as conn, conn.cursor() as cur:
        conn.select_db("information_schema")
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == ("information_schema",)
        conn.select_db("shop")  # the connection's name stands for its upstream database
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (up.database,)
        with pytest.raises(pymysql.err.MySQLError) as exc:
            conn.select_db("forbidden_marker")  # checked by the policy as USE `forbidden_marker`
        assert exc.value.args[0] == 1227
        with pytest.raises(pymysql.err.MySQLError) as exc:
            conn.select_db("mysql")  # allowed by the policy, refused by the server
        assert exc.value.args[0] == 1044
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (up.database,)


def test_change_user_is_refused_and_the_session_stays_as_it_was(mysql_gateway: MyGateway) -> None:
    gw, up = mysql_gateway.gw, mysql_gateway.up
    conn = connector(gw)
    try:
        with pytest.raises(mysql.connector.Error) as exc:
            conn.cmd_change_user(username="alice", password=gw.tokens["alice"], database="shop")
        assert exc.value.errno == 1235 and "COM_CHANGE_USER is not supported" in exc.value.msg
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        user, database = cur.fetchone()
        assert user.split("@")[0] == up.user and database == up.database
    finally:
        conn.close()


def test_reset_connection_forgets_session_state_and_statements(mysql_gateway: MyGateway) -> None:
    c = logged_in(mysql_gateway.gw)
    assert isinstance(c.query("SET @kept = 7"), OKPacket)
    prepared = prepare(c, "SELECT ? + 1")
    (ok,) = c.ask(ComResetConnection().encode())
    assert isinstance(ok, OKPacket)
    assert c.rows("SELECT @kept") == [[None]]
    execute = ComStmtExecute(prepared.statement_id, values=(encode_binary_int(1, FieldType.LONGLONG),),
                             types=(FieldType.LONGLONG,))  # fmt: skip
    (err,) = c.ask(execute.encode(c.caps))
    assert isinstance(err, ERRPacket) and err.errno == 1243  # the gateway forgot it too
    c.close()
    conn = connector(mysql_gateway.gw)  # and a real client's COM_RESET_CONNECTION
    try:
        cur = conn.cursor()
        cur.execute("SET @kept = 7")
        assert conn.cmd_reset_connection()
        cur.execute("SELECT @kept")
        assert cur.fetchone() == (None,)
    finally:
        conn.close()


@pytest.mark.parametrize(("byte", "name"), [(0x42, "COM_0x42"), (0x12, "COM_BINLOG_DUMP"), (0x08, "COM_SHUTDOWN")])
def test_unknown_and_unsupported_commands_are_refused(mysql_gateway: MyGateway, byte: int, name: str) -> None:
    c = logged_in(mysql_gateway.gw)
    (err,) = c.ask(bytes((byte,)) + b"\x00\x00\x00\x00")
    assert err == ERRPacket(1235, "42000", f"interceptor: {name} is not supported")
    assert c.rows("SELECT 'still here'") == [[b"still here"]]
    c.close()


def test_prepared_statement_cursor_fetch(mysql_gateway: MyGateway) -> None:
    """COM_STMT_EXECUTE with a read-only cursor, then COM_STMT_FETCH in two batches; fetched rows are masked."""
    c = logged_in(mysql_gateway.gw)
    prepared = prepare(c, "SELECT seq, CONCAT('s', seq) AS secret_col FROM seq_1_to_10 WHERE seq > ?")
    sid = prepared.statement_id
    execute = ComStmtExecute(sid, CURSOR_TYPE_READ_ONLY, values=(encode_binary_int(0, FieldType.LONGLONG),),
                             types=(FieldType.LONGLONG,))  # fmt: skip
    c.command(execute.encode(c.caps))
    count = decode_query_response(c.recv().payload, c.caps)
    assert isinstance(count, ColumnCount) and count.count == 2
    columns = [ColumnDefinition41.decode(c.recv().payload, c.caps) for _ in range(2)]
    rows, end = c.rows_until_end(columns, binary=True)
    assert rows == [] and end.status & ServerStatus.CURSOR_EXISTS
    batches = []
    for n in (3, 100):
        c.command(ComStmtFetch(sid, n).encode())
        rows, end = c.rows_until_end(columns, binary=True)
        batches.append(([int.from_bytes(r[0] or b"", "little") for r in rows], {r[1] for r in rows}, end.status))
    assert batches[0][:2] == ([1, 2, 3], {b"***"}) and not batches[0][2] & ServerStatus.LAST_ROW_SENT
    assert batches[1][:2] == ([4, 5, 6, 7, 8, 9, 10], {b"***"}) and batches[1][2] & ServerStatus.LAST_ROW_SENT
    c.command(ComStmtFetch(0x7FFF, 1).encode())  # a statement this session never prepared
    assert ERRPacket.decode(c.recv().payload, c.caps).errno == 1243
    c.close()


def test_pipelined_commands_are_each_checked_in_order(mysql_gateway: MyGateway) -> None:
    c = logged_in(mysql_gateway.gw)
    texts = ["SELECT 1", "SELECT 'forbidden_marker'", "SELECT 3"]
    c.sock.sendall(b"".join(split_payload(ComQuery(t).encode(c.caps), 0) for t in texts))
    answers = []
    for _ in texts:
        c.seq.reset(1)
        answers.append(c.response())
    assert answers[0][0][1] == [[b"1"]] and answers[2][0][1] == [[b"3"]]  # type: ignore[index]
    assert isinstance(answers[1][0], ERRPacket) and answers[1][0].errno == 1227
    c.close()


def _load(gw: Any, connection: str, path: Path) -> None:
    with gw.mysql_connect(connection=connection, local_infile=True) as conn, conn.cursor() as cur:
        cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE loaded FIELDS TERMINATED BY ','")


def test_load_data_local_infile(mysql_gateway: MyGateway, tmp_path: Path) -> None:
    gw, up = mysql_gateway.gw, mysql_gateway.up
    tag = secrets.token_hex(4)
    path = tmp_path / "rows.csv"
    path.write_text("".join(f"{i},{tag}\n" for i in range(1, 4)))
    with pytest.raises(pymysql.err.MySQLError) as exc:
        _load(gw, "nofiles", path)  # a policy that blocks file reads
    assert exc.value.args[0] == 1227 and "no file reads here" in exc.value.args[1]
    assert server_rows(up.database, "SELECT COUNT(*) FROM loaded WHERE v = %s", (tag,)) == [(0,)]
    _load(gw, "shop", path)  # {unknown: allow}: the client's file goes to the server
    assert server_rows(up.database, "SELECT id FROM loaded WHERE v = %s ORDER BY id", (tag,)) == [(1,), (2,), (3,)]


def test_server_cannot_ask_for_a_file_it_was_not_named(mysql_gateway: MyGateway) -> None:
    """The spy answers a SELECT with a LOCAL INFILE request: the gateway ends the session, and the client (which
    would send the file: local_infile is on) never sees the request."""
    gw, spy = mysql_gateway.gw, mysql_gateway.spy
    spy.closed_by_peer.clear()
    conn = gw.mysql_connect(connection="spy", local_infile=True, ssl_disabled=True, read_timeout=10)
    with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as exc:
        cur.execute("SELECT 'spy_query'")
    assert exc.value.args[0] == 2027 and "upstream protocol error" in exc.value.args[1]
    assert spy.closed_by_peer.wait(5)  # the gateway hung up on the server too
    assert mysql_gateway.spy_marker.encode() not in bytes(spy.received)
    assert "asked for a client file the statement did not name" in gw.log()


@pytest.mark.parametrize("kw", [{"ssl_disabled": True}, TLS], ids=["plaintext", "tls"])
def test_no_backslash_escapes_ends_the_session(mysql_gateway: MyGateway, kw: dict[str, Any]) -> None:
    """SQL the classifier cannot read (EXECUTE of a statement prepared from a variable) turns NO_BACKSLASH_ESCAPES
    on: the gateway reads the server's status and ends the session before another statement is read, closing
    both legs (over TLS too: the client must not hang)."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    before = upstream_sessions(up)
    conn = gw.mysql_connect(read_timeout=5, **kw)
    with conn.cursor() as cur:
        cur.execute("SET @q = 'SET sql_mode = ''NO_BACKSLASH_ESCAPES'''")
        cur.execute("PREPARE s FROM @q")
        with pytest.raises(pymysql.err.MySQLError) as exc:
            cur.execute("EXECUTE s")
        assert exc.value.args[0] == 1927 and "NO_BACKSLASH_ESCAPES" in exc.value.args[1]
        with pytest.raises(pymysql.err.OperationalError) as lost:
            cur.execute("SELECT 'a\\\\' AS x")
        assert lost.value.args[0] == 2013 and "timed out" not in lost.value.args[1]
    wait_for(lambda: upstream_sessions(up) == before)


@pytest.mark.parametrize("kw", [{"ssl_disabled": True}, TLS], ids=["plaintext", "tls"])
def test_server_killing_the_session_reaches_the_client_at_once(mysql_gateway: MyGateway, kw: dict[str, Any]) -> None:
    """KILL CONNECTION on the server: the gateway closes the client's leg too, and the client hears it at once."""
    gw, up = mysql_gateway.gw, mysql_gateway.up
    conn = gw.mysql_connect(read_timeout=5, **kw)
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        (upstream_id,) = cur.fetchone()
        server_rows(up.database, f"KILL CONNECTION {int(upstream_id)}")
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as exc:
            cur.execute("SELECT 1")
    assert time.monotonic() - started < 2 and "timed out" not in str(exc.value)
    assert exc.value.args[0] in (2013, 2027), exc.value  # the gateway's ERR, or the closed connection behind it


@pytest.mark.parametrize("split", [None, 6], ids=["same-chunk", "split-across-chunks"])
def test_first_command_right_behind_the_login(mysql_gateway: MyGateway, split: int | None) -> None:
    """A client may send its first command before the gateway's OK (the gateway waits for the upstream): it is
    kept and relayed once the session is ready, whether it came whole in the login's chunk or only its start."""
    c = GatewayClient(mysql_gateway.gw)
    token = mysql_gateway.gw.tokens["bot"].encode() + b"\0"
    login = HandshakeResponse41(c.caps, 1 << 24, 45, "bot", token, "shop", "mysql_clear_password", ())
    command = split_payload(ComQuery("SELECT 'early'").encode(c.caps), 0)
    cut = len(command) if split is None else split
    c.sock.sendall(split_payload(login.encode(), 1) + command[:cut])
    if cut < len(command):
        time.sleep(0.2)  # the rest arrives while the gateway is still logging in upstream
        c.sock.sendall(command[cut:])
    c.seq.reset(2)
    assert isinstance(OKPacket.decode(c.recv().payload, c.caps), OKPacket)
    c.seq.reset(1)
    (result,) = c.response()
    assert isinstance(result, tuple) and result[1] == [[b"early"]]
    c.close()


@pytest.fixture
def own_gateway(tmp_path: Path, mysql_upstream: MyUpstream) -> Iterator[GatewayProcess]:
    """A gateway of the test's own, for text that is not UTF-8: it stops the recording and audit plugins (below)."""
    gw = make_gateway(tmp_path, None, mysql=mysql_upstream)
    gw.start()
    yield gw
    gw.stop()


def test_init_db_with_a_name_that_is_not_utf8(own_gateway: GatewayProcess) -> None:
    """The name is checked as text and forwarded as the bytes the client sent (it used to kill the connection
    with an unhandled UnicodeEncodeError): the server answers, and the session is still there."""
    c = logged_in(own_gateway)
    (err,) = c.ask(b"\x02no\xffsuch")
    assert err == ERRPacket(1300, "HY000", "Invalid utf8mb4 character string: 'no\\xFFsuch'")
    assert isinstance(c.query("SELECT 1"), (tuple, ERRPacket))  # answered (today: refused, see below)
    c.close()
    assert "Traceback" not in own_gateway.log()


def test_latin1_text_does_not_stop_other_sessions(own_gateway: GatewayProcess) -> None:
    """One latin1 client's 'café' (byte 0xE9, kept as a surrogate escape in Command.text) once made the audit log
    unwritable, and the audit plugin then refused every command of every session."""
    with own_gateway.mysql_connect(charset="latin1") as conn, conn.cursor() as cur:
        cur.execute("SELECT 'café'")
        assert cur.fetchone() == ("café",)
    with own_gateway.mysql_connect("alice") as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_server_cannot_swap_the_file_a_load_data_local_named(mysql_gateway: MyGateway) -> None:
    """For a LOAD DATA LOCAL statement the server may ask only for the file the statement named."""
    gw, spy = mysql_gateway.gw, mysql_gateway.spy
    with gw.mysql_connect(connection="spy", local_infile=True, ssl_disabled=True, read_timeout=10) as conn:
        with conn.cursor() as cur, contextlib.suppress(pymysql.err.MySQLError):
            cur.execute("LOAD DATA LOCAL INFILE '/nonexistent/named.csv' INTO TABLE t /* spy_query */")
    assert mysql_gateway.spy_marker.encode() not in bytes(spy.received)
