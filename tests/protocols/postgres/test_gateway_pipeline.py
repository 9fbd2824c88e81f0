"""Every query passes through the plugin pipeline: deny, hold for review, rewrite rows, fail closed, audit.

The test plugins (tests/support/icp_test_plugins.py) deny statements containing ``forbidden_marker``, raise on
``explode_marker``, hold ``hold_marker`` for a second (approved when the text also says ``approve``) and mask a
column named ``secret_col``. Each block is judged on the server: the table must still be there.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import psycopg
import pytest

from interceptor.audit import verify
from interceptor.protocols.postgres import codec
from tests.conftest import GatewayProcess
from tests.protocols.postgres import wire

pytestmark = pytest.mark.postgres


@pytest.fixture
def table(gateway: GatewayProcess):
    name = f"guarded_{time.monotonic_ns()}"
    with gateway.connect() as c:
        c.execute(f"create table {name} (id int, secret_col text)")
        c.execute(f"insert into {name} values (1, 'top secret'), (2, null)")
    yield name
    with gateway.connect() as c:
        c.execute(f"drop table if exists {name}")


def _rows(gw: GatewayProcess, table: str) -> int:
    with gw.connect() as c:
        return int(c.execute(f"select count(*) from {table}").fetchone()[0])


def test_simple_query_denied_with_42501_and_session_usable(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
            c.execute(f"delete from {table} /* forbidden_marker */")
        assert "forbidden_marker are blocked" in str(exc.value)
        assert exc.value.diag.message_detail == "rule test-deny (icp_test_plugins:TestPolicy)"
        assert c.execute("select 1").fetchone() == (1,)
    assert _rows(gateway, table) == 2


def test_multi_statement_query_denied_whole(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(f"select 1; delete from {table}; select 'forbidden_marker'")
    assert _rows(gateway, table) == 2


def test_extended_protocol_parse_denied(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(f"delete from {table} where id = %s -- forbidden_marker", (1,))
        assert c.execute("select %s::int", (5,)).fetchone() == (5,)
    assert _rows(gateway, table) == 2


def test_pipelined_parse_after_select_is_denied_in_order(gateway: GatewayProcess, table: str) -> None:
    """Three statements pipelined in one write, one Sync: the first runs, the denied second gets the gateway's
    error in its place, the third is skipped with it (as the server skips everything up to Sync after an error).
    Spoken on the wire so the test sees every message in order; psycopg's pipeline mode raises differently
    depending on how the answers happen to be split across reads."""
    batch = [
        codec.Parse("", "select $1::text", ()), codec.Bind("", "", (), (b"before",), ()),
        codec.Describe(b"P", ""), codec.Execute(""),
        codec.Parse("", f"delete from {table} where id > 0 -- forbidden_marker", ()), codec.Bind("", "", (), (), ()),
        codec.Describe(b"P", ""), codec.Execute(""),
        codec.Parse("", "select 'after'", ()), codec.Bind("", "", (), (), ()),
        codec.Describe(b"P", ""), codec.Execute(""), codec.Sync(),
    ]  # fmt: skip
    with socket.create_connection(("127.0.0.1", gateway.port)) as s:
        wire.login(s, "bot", "app", gateway.tokens["bot"])
        s.sendall(b"".join(m.encode() for m in batch))
        answer = wire.messages(wire.recv_until_ready(s))
        assert [t for t, _ in answer] == ["1", "2", "T", "D", "C", "E", "Z"]
        assert answer[3][1].endswith(b"before")
        error = wire.error_fields(b"E" + struct.pack("!i", len(answer[5][1]) + 4) + answer[5][1])
        assert error["C"] == "42501" and "forbidden_marker are blocked" in error["M"]
        s.sendall(b"".join(m.encode() for m in batch[8:]))  # the session is still usable
        assert [t for t, _ in wire.messages(wire.recv_until_ready(s))] == ["1", "2", "T", "D", "C", "Z"]
    assert _rows(gateway, table) == 2


def test_denied_statement_inside_transaction_aborts_it(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        c.execute("begin")
        c.execute(f"insert into {table} values (3, 'x')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select 'forbidden_marker'")
        # the server saw an error too: the transaction is aborted, exactly as for a bad statement
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("select 1")
        c.execute("rollback")
    assert _rows(gateway, table) == 2


def test_plugin_exception_fails_closed(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"failed .*RuntimeError.*fail closed"):
            c.execute(f"delete from {table} /* explode_marker */")
        assert c.execute("select 1").fetchone() == (1,)
    assert _rows(gateway, table) == 2


def test_held_command_waits_for_review_and_others_do_not(gateway: GatewayProcess, table: str) -> None:
    result: dict[str, object] = {}

    def held() -> None:
        with gateway.connect() as c:
            started = time.monotonic()
            result["rows"] = c.execute(f"select count(*) from {table} /* hold_marker approve */").fetchone()
            result["waited"] = time.monotonic() - started

    t = threading.Thread(target=held)
    t.start()
    time.sleep(0.2)
    with gateway.connect("alice") as other:  # another session is not held up
        started = time.monotonic()
        assert other.execute("select 1").fetchone() == (1,)
        assert time.monotonic() - started < 0.5
    t.join(10)
    assert result["rows"] == (2,)
    assert 0.8 < float(result["waited"]) < 5  # type: ignore[arg-type]


def test_held_command_denied_by_reviewer(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="reviewer said no"):
            c.execute(f"delete from {table} /* hold_marker */")
        assert c.execute("select 2").fetchone() == (2,)
    assert _rows(gateway, table) == 2


def test_rows_rewritten_simple_and_extended(gateway: GatewayProcess, table: str) -> None:
    with gateway.connect() as c:
        assert c.execute(f"select id, secret_col from {table} order by id").fetchall() == [(1, "***"), (2, None)]
        got = c.execute(f"select id, secret_col from {table} where id = %s", (1,), prepare=True).fetchall()
        assert got == [(1, "***")]
        with c.cursor(binary=True) as cur:
            assert cur.execute(f"select secret_col from {table} where id = %s", (1,)).fetchone() == ("***",)
        # rows of other columns are untouched
        assert c.execute(f"select id from {table} order by id").fetchall() == [(1,), (2,)]


def test_failing_rewriter_withholds_the_result(gateway: GatewayProcess) -> None:
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.InternalError, match="result withheld"):
            c.execute("select 'must not leak' as boom_col").fetchall()
        assert c.closed or c.broken


def test_every_command_is_audited_in_a_hash_chain(gateway: GatewayProcess) -> None:
    marker = f"audit_probe_{time.monotonic_ns()}"
    with gateway.connect("alice") as c:
        c.execute(f"select '{marker}'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(f"select '{marker} forbidden_marker'")
    log = gateway.data_dir / "audit.jsonl"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and marker not in log.read_text():
        time.sleep(0.1)
    lines = [json.loads(line) for line in log.read_text().splitlines() if marker in line]
    assert [(r["identity"], r["action"]) for r in lines] == [("alice", "allow"), ("alice", "deny")]
    assert lines[1]["rule"] == "test-deny" and lines[0]["connection"] == "app"
    assert lines[0]["session"] == lines[1]["session"]
    checked, problem = verify(log)
    assert problem is None and checked >= 2


def test_parser_setting_changed_behind_the_classifier_ends_the_session(gateway: GatewayProcess, upstream) -> None:  # type: ignore[no-untyped-def]
    """A function that calls set_config() looks like a plain SELECT; the server's ParameterStatus gives it away."""
    from tests.conftest import pg_admin

    with pg_admin(upstream.database) as admin:
        admin.execute(
            "create or replace function icp_scs_off() returns text language sql"
            " as $$ select set_config('standard_conforming_strings', 'off', false) $$"
        )
    with gateway.connect() as c:
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="standard_conforming_strings"):
            c.execute("select icp_scs_off()")
        assert c.closed or c.broken
    with gateway.connect() as c:  # other sessions are unaffected
        assert c.execute("show standard_conforming_strings").fetchone() == ("on",)
