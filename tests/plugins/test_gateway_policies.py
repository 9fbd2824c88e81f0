"""Issue acceptance for the built-in plugins, through the real gateway against the real PostgreSQL.

Every block is judged on the server: the table must still be there with its rows.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
import pytest
import yaml

from protocols.postgres import codec
from tests.conftest import ROOT, GatewayProcess, Upstream, make_gateway, pg_admin
from tests.protocols.postgres import wire

pytestmark = pytest.mark.postgres

CARDS = ("4111111111111111", "5500005555555559")
POLICIES = yaml.safe_load((ROOT / "contrib" / "policies" / "readonly-agents.yaml").read_text())


@pytest.fixture(scope="module")
def policy_gw(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream):
    base = {"protocol": "postgres", "upstream": f"{upstream.host}:{upstream.port}", "database": upstream.database,
            "username": upstream.role, "password": "${ICP_TEST_UPSTREAM_PASSWORD}"}  # fmt: skip
    conns = [dict(base, name="ro", policy="readonly"), dict(base, name="rv", policy="reviewed"),
             dict(base, name="open", policy="open_masked")]  # fmt: skip
    policies = dict(POLICIES, open_masked={"unknown": "allow", "mask": {"detect": ["credit_card"]}})
    gw = make_gateway(tmp_path_factory.mktemp("policies"), upstream, connections=conns,
                      extra={"policies": policies, "plugin_config": {"approval": {"poll_interval": 0.1}}})  # fmt: skip
    gw.start()
    with pg_admin(upstream.database) as admin:
        admin.execute(f"set role {upstream.role}")
        admin.execute("create table if not exists victim (id int primary key, v text)")
        admin.execute("insert into victim select g, 'v' || g from generate_series(1, 5) g on conflict do nothing")
        admin.execute("create table if not exists people (id int, ssn text, email text, note text)")
        admin.execute("truncate people")
        admin.execute("insert into people values (1, '123-45-6789', 'ada@example.com', 'plain note')")
    yield gw
    gw.stop()


def _victim_rows(upstream: Upstream) -> int:
    with pg_admin(upstream.database) as admin:
        return int(admin.execute("select count(*) from victim").fetchone()[0])


BLOCKED = [
    "DROP TABLE victim",
    "TRUNCATE victim",
    "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
    "DO $$ BEGIN EXECUTE 'drop table victim'; END $$",
    "COPY victim TO PROGRAM 'cat > /dev/null'",
    "SELECT pg_read_file('/etc/hostname')",
    "dRoP   /* sneaky */ TaBlE\n\tvictim",
]


@pytest.mark.parametrize("sql", BLOCKED)
@pytest.mark.parametrize("extended", [False, True], ids=["simple", "extended"])
def test_blocked_by_readonly_policy(policy_gw: GatewayProcess, upstream: Upstream, sql: str, extended: bool) -> None:
    with policy_gw.connect(connection="ro") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(sql, prepare=extended) if extended else c.execute(sql.encode())  # type: ignore[call-overload]
        assert c.execute("select 1").fetchone() == (1,)
    assert _victim_rows(upstream) == 5


def test_multi_statement_blocked(policy_gw: GatewayProcess, upstream: Upstream) -> None:
    with policy_gw.connect(connection="ro") as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(b"SELECT 1; DROP TABLE victim")
    assert _victim_rows(upstream) == 5


def test_pipelined_parse_of_drop_after_select(policy_gw: GatewayProcess, upstream: Upstream) -> None:
    """A SELECT and a DROP pipelined in one write: the SELECT answers, the DROP gets the policy's error in its
    place (spoken on the wire: psycopg's pipeline mode raises differently depending on how reads split)."""
    batch = [
        codec.Parse("", "select $1::int", ()), codec.Bind("", "", (), (b"1",), ()), codec.Execute(""),
        codec.Parse("", "drop table victim", ()), codec.Bind("", "", (), (), ()), codec.Execute(""), codec.Sync(),
    ]  # fmt: skip
    with socket.create_connection(("127.0.0.1", policy_gw.port)) as s:
        wire.login(s, "bot", "ro", policy_gw.tokens["bot"])
        s.sendall(b"".join(m.encode() for m in batch))
        answer = wire.messages(wire.recv_until_ready(s))
    assert [t for t, _ in answer] == ["1", "2", "D", "C", "E", "Z"]
    assert answer[2][1].endswith(b"1")
    assert b"C42501\x00" in answer[4][1] and b"no-ddl" in answer[4][1]
    assert _victim_rows(upstream) == 5


def test_function_call_message_is_unknown_and_denied(policy_gw: GatewayProcess, upstream: Upstream) -> None:
    with socket.create_connection(("127.0.0.1", policy_gw.port)) as s:
        s.sendall(wire.startup("bot", "ro"))
        assert s.recv(9)[:1] == b"R"
        s.sendall(wire.password(policy_gw.tokens["bot"]))
        data = b""
        while not data.endswith(b"Z\x00\x00\x00\x05I"):
            data += s.recv(4096)
        body = struct.pack("!IhhH", 2619, 0, 0, 0)  # pg_read_file(text)'s OID; no arguments
        s.sendall(b"F" + struct.pack("!i", len(body) + 4) + body)
        reply = wire.recv_until_ready(s)
    assert wire.error_fields(reply)["C"] == "42501"
    assert _victim_rows(upstream) == 5


def test_function_call_result_is_masked(policy_gw: GatewayProcess) -> None:
    """Where a policy allows FunctionCall messages, their results still go through the masker."""
    with socket.create_connection(("127.0.0.1", policy_gw.port)) as s:
        wire.login(s, "bot", "open", policy_gw.tokens["bot"])
        arg = CARDS[0].encode()
        body = struct.pack("!Ihhi", 885, 0, 1, len(arg)) + arg + struct.pack("!h", 0)  # btrim(text)
        s.sendall(b"F" + struct.pack("!i", len(body) + 4) + body)
        reply = wire.recv_until_ready(s)
    assert reply[:1] == b"V", reply[:40]
    assert CARDS[0].encode() not in reply


def test_parser_state_settings_refused(policy_gw: GatewayProcess) -> None:
    with policy_gw.connect(connection="ro") as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="read"):
            c.execute("SET standard_conforming_strings = off")
        # the setting never reached the server: strings still mean what the gateway read
        assert c.execute("show standard_conforming_strings").fetchone() == ("on",)
        assert c.execute(r"select 'a\' as s").fetchone() == ("a\\",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("select set_config('standard_conforming_strings', 'off', false)")


@pytest.mark.parametrize("sql", ["SELECT $$DROP TABLE victim$$", "SELECT 'DROP TABLE victim'",
                                 "EXPLAIN DELETE FROM victim"])  # fmt: skip
def test_not_blocked(policy_gw: GatewayProcess, upstream: Upstream, sql: str) -> None:
    with policy_gw.connect(connection="ro") as c:
        assert c.execute(sql.encode()).fetchall()
    assert _victim_rows(upstream) == 5


# -- masking ---------------------------------------------------------------------------------------------------


def _no_secrets(text: str) -> None:
    for card in CARDS:
        assert card not in text
    assert "123-45-6789" not in text
    assert "ada@example.com" not in text


MASKED_QUERIES = [
    "select * from customers order by id limit 5",
    "select card::text from customers limit 5",
    "select card || '' as c from customers limit 5",
    "select string_agg(card, ',') from customers",
    "select row_to_json(c) from customers c limit 3",
    "select json_agg(c) from customers c where id < 4",
    "select * from people",
    "select card as innocent_alias from customers limit 3",
]


@pytest.mark.parametrize("sql", MASKED_QUERIES)
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_masking_in_results(policy_gw: GatewayProcess, sql: str, binary: bool) -> None:
    with policy_gw.connect(connection="ro") as c, c.cursor(binary=binary) as cur:
        rows = cur.execute(sql).fetchall()
    assert rows
    _no_secrets(repr(rows))


def test_unmasked_columns_read_normally(policy_gw: GatewayProcess) -> None:
    with policy_gw.connect(connection="ro") as c:
        assert c.execute("select id, name from customers where id = 7").fetchone() == (7, "name 7")
        assert c.execute("select note from people").fetchone() == ("plain note",)


@pytest.mark.parametrize("fmt", ["text", "csv", "binary"])
def test_masking_in_copy_out(policy_gw: GatewayProcess, fmt: str) -> None:
    out = bytearray()
    with policy_gw.connect(connection="ro") as c, c.cursor().copy(f"copy customers to stdout (format {fmt})") as cp:
        for chunk in cp:
            out += chunk
    _no_secrets(bytes(out).decode("latin-1"))
    assert b"name 42" in out
    if fmt == "binary":  # still a well-formed binary COPY stream after rewriting: header, 100 tuples, trailer
        assert out.startswith(b"PGCOPY\n\xff\r\n\x00")
        (ext,) = struct.unpack_from("!i", out, 15)
        pos, rows = 19 + ext, 0
        while True:
            (count,) = struct.unpack_from("!h", out, pos)
            pos += 2
            if count == -1:
                break
            for _ in range(count):
                (length,) = struct.unpack_from("!i", out, pos)
                pos += 4 + max(length, 0)
            rows += 1
        assert rows == 100 and pos == len(out)


def test_masking_in_error_and_notify(policy_gw: GatewayProcess) -> None:
    with policy_gw.connect(connection="ro") as c:
        with pytest.raises(psycopg.errors.DataError) as exc:  # the server quotes the value in its message
            c.execute("select card::int from customers where id = 1")
        _no_secrets(str(exc.value))
        c.execute("listen icp_mask")
        with policy_gw.connect("alice", connection="rv") as other:  # the readonly policy may not notify
            other.execute("select pg_notify('icp_mask', 'card 4111111111111111 for ada@example.com')")
        got = next(c.notifies(timeout=5, stop_after=1))
        _no_secrets(got.payload)
        assert got.channel == "icp_mask"


# -- approval --------------------------------------------------------------------------------------------------


def _cli(gw: GatewayProcess, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(gw.env)
    if token:
        env["INTERCEPTOR_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "interceptor.cli", *args, "-c", str(gw.config_path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip


def _pending(gw: GatewayProcess) -> list[dict[str, Any]]:
    r = _cli(gw, "approvals", "list", "--json")
    assert r.returncode == 0, r.stderr
    return [a for a in json.loads(r.stdout) if a["state"] == "pending"]


def _held_delete(gw: GatewayProcess, identity: str, result: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        with gw.connect(identity, connection="rv") as c:
            try:
                result["status"] = c.execute("delete from victim where id = 5").statusmessage
            except psycopg.Error as e:
                result["error"] = str(e)

    t = threading.Thread(target=run)
    t.start()
    return t


def _wait_pending(gw: GatewayProcess, n: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = _pending(gw)
        if len(pending) >= n:
            return pending
        time.sleep(0.2)
    raise AssertionError("no pending approval appeared")


def test_review_approve_runs_once(policy_gw: GatewayProcess, upstream: Upstream) -> None:
    result: dict[str, Any] = {}
    t = _held_delete(policy_gw, "bot", result)
    (req,) = _wait_pending(policy_gw)
    assert req["statement"] == "delete from victim where id = 5" and req["requester"] == "bot"
    with policy_gw.connect("alice", connection="rv") as other:  # another session is served meanwhile
        assert other.execute("select count(*) from victim").fetchone() == (5,)
    own = _cli(policy_gw, "approvals", "approve", req["id"], token=policy_gw.tokens["bot"])
    assert own.returncode == 1 and ("own request" in own.stderr or "not" in own.stderr)
    ok = _cli(policy_gw, "approvals", "approve", req["id"], token=policy_gw.tokens["alice"])
    assert ok.returncode == 0, ok.stderr
    t.join(15)
    assert result.get("status") == "DELETE 1", result
    again = _cli(policy_gw, "approvals", "approve", req["id"], token=policy_gw.tokens["alice"])
    assert again.returncode == 1
    assert _victim_rows(upstream) == 4
    with pg_admin(upstream.database) as admin:
        admin.execute("insert into victim values (5, 'v5')")


def test_review_deny_names_the_request(policy_gw: GatewayProcess, upstream: Upstream) -> None:
    result: dict[str, Any] = {}
    t = _held_delete(policy_gw, "bot", result)
    (req,) = _wait_pending(policy_gw)
    assert _cli(policy_gw, "approvals", "deny", req["id"], token=policy_gw.tokens["alice"]).returncode == 0
    t.join(15)
    assert req["id"] in result.get("error", ""), result
    assert _victim_rows(upstream) == 5


# -- recording -------------------------------------------------------------------------------------------------


def test_sessions_are_recorded_and_replayable(policy_gw: GatewayProcess) -> None:
    marker = f"rec_{time.monotonic_ns()}"
    with policy_gw.connect(connection="ro") as c:
        c.execute(f"select '{marker}' as m, card from customers where id = 1")
    time.sleep(0.5)
    listing = json.loads(_cli(policy_gw, "sessions", "--json").stdout)
    ids = [s["id"] for s in listing]
    replays = {sid: _cli(policy_gw, "replay", sid).stdout for sid in ids[:10]}
    found = [sid for sid, text in replays.items() if marker in text]
    assert found, "the session's command is not in any replay"
    _no_secrets(replays[found[0]])  # the recording holds what the client saw: masked


def test_verify_notices_a_recording_cut_short(policy_gw: GatewayProcess) -> None:
    """Removing a closed recording's tail, end line and all, leaves a valid chain; the seal in the audit log
    still gives it away."""
    with policy_gw.connect(connection="ro") as c:
        c.execute("select 'to be cut'")
    deadline = time.monotonic() + 5
    target = None
    while time.monotonic() < deadline and target is None:
        time.sleep(0.2)
        for f in (policy_gw.data_dir / "recordings").rglob("*.jsonl"):
            if (
                b"to be cut" in f.read_bytes()
                and f.read_bytes().rstrip().endswith(b"}")
                and b'"type":"end"' in f.read_bytes()
            ):
                target = f
    assert target is not None, "the recording was not closed"
    original = target.read_bytes()
    lines = original.rstrip(b"\n").split(b"\n")
    target.write_bytes(b"\n".join(lines[:-2]) + b"\n")  # the last result and the end line are gone
    try:
        r = _cli(policy_gw, "audit", "verify")
        assert r.returncode == 1
        assert target.name in r.stderr and "end was cut" in r.stderr
    finally:
        target.write_bytes(original)
    assert _cli(policy_gw, "audit", "verify").returncode == 0


def test_verify_names_the_line_after_one_byte_changes(policy_gw: GatewayProcess) -> None:
    assert _cli(policy_gw, "audit", "verify").returncode == 0
    recordings = sorted((policy_gw.data_dir / "recordings").rglob("*.jsonl"))
    assert recordings
    target = recordings[0]
    raw = bytearray(target.read_bytes())
    lines = raw.split(b"\n")
    offset = len(lines[0]) + 1 + 10  # a byte in line 2
    raw[offset] = ord("X") if raw[offset] != ord("X") else ord("Y")
    target.write_bytes(bytes(raw))
    r = _cli(policy_gw, "audit", "verify")
    assert r.returncode == 1
    assert target.name in r.stdout + r.stderr and "line 2" in r.stdout + r.stderr
    os.unlink(target)  # the tampered file would fail every later verify in this gateway
