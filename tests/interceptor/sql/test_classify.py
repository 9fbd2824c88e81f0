"""Tests for interceptor.sql: PostgreSQL statement classification and its two caches. Fast, no server."""

from __future__ import annotations

import string
from typing import Any

import pglast.parser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.model import Command, CommandKind
from interceptor.policy import EFFECTS
from interceptor.sql import cache_clear, cache_info, classify, classify_command, postgres

S = frozenset

# (statement, effects (None: at least insert, update, select), tables or None to skip, functions or None to skip)
CASES: list[tuple[str, set[str] | None, set[str] | None, set[str] | None]] = [
    # reads, and text that only looks dangerous
    ("SELECT 1", {"select"}, set(), set()),
    ("SELECT $$DROP TABLE t$$", {"select"}, set(), None),
    ("SELECT 'DROP TABLE t'", {"select"}, set(), None),
    ("SELECT E'\\'; DROP TABLE t; --'", {"select"}, set(), None),
    ("SELECT U&'d\\0061t\\+000061'", {"select"}, set(), None),
    ("SELECT $q$ $$ ; drop table t $q$", {"select"}, set(), None),
    ("/* /* */ drop table t */ SELECT 1", {"select"}, set(), None),
    ("/*!50000 DROP TABLE t */ SELECT 1", {"select"}, set(), None),
    ("-- drop table t\nSELECT 1", {"select"}, set(), None),
    ("TABLE s.t", {"select"}, {"s.t"}, None),
    ("VALUES (1), (2)", {"select"}, set(), None),
    ('SELECT * FROM "Public"."Orders" o JOIN c ON c.id = o.cid', {"select"}, {"public.orders", "c"}, None),
    ("SELECT * FROM db.s.t", {"select"}, {"s.t"}, None),
    ("SELECT 1 UNION SELECT a FROM u EXCEPT SELECT b FROM v", {"select"}, {"u", "v"}, None),
    ("SELECT * FROM t WHERE a IN (SELECT b FROM u) AND EXISTS (SELECT 1 FROM v)", {"select"}, {"t", "u", "v"}, None),
    ("SELECT * FROM (SELECT * FROM inner_t) x, LATERAL (SELECT 1 FROM l) y", {"select"}, {"inner_t", "l"}, None),
    ("SELECT now(), pg_catalog.lower('A')", {"select"}, set(), {"now", "pg_catalog.lower", "lower"}),
    ("SELECT pg_sleep(1)", {"select"}, None, {"pg_sleep"}),
    ("SELECT 1 INTO newt FROM t", {"select", "create"}, {"newt", "t"}, None),
    ("SELECT * FROM t FOR UPDATE", {"select"}, {"t"}, None),
    ("SHOW search_path", {"show"}, None, None),
    ("SHOW ALL", {"show"}, None, None),
    # empty texts
    ("", set(), set(), set()),
    ("  ;  ", set(), None, None),
    ("/* only a comment */", set(), None, None),
    ("/*!50000 DROP TABLE t */", set(), None, None),
    ("/* /* */ drop table t */", set(), None, None),
    ("-- drop table t", set(), None, None),
    # writes, CTEs, nesting
    ("INSERT INTO s.t (a) VALUES (1)", {"insert"}, {"s.t"}, None),
    ("INSERT INTO t SELECT * FROM u", {"insert", "select"}, {"t", "u"}, None),
    ("INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2", {"insert", "update"}, {"t"}, None),
    ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", {"insert"}, {"t"}, None),
    ("INSERT INTO t VALUES ((SELECT max(a) FROM u))", {"insert", "select"}, {"t", "u"}, None),
    ("WITH x AS (SELECT 1) INSERT INTO t VALUES (1)", {"insert", "select"}, {"t"}, None),
    ("UPDATE t SET a = 1 FROM u WHERE t.id = u.id", {"update"}, {"t", "u"}, None),
    ("DELETE FROM t USING u WHERE t.id = u.id", {"delete"}, {"t", "u"}, None),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", {"delete", "select"}, {"t"}, None),
    ("WITH u AS (UPDATE t SET a = 1 RETURNING a) INSERT INTO log SELECT a FROM u", None, {"t", "log"}, None),
    ("WITH t AS (SELECT 1) DELETE FROM t", {"delete", "select"}, {"t"}, None),
    ("WITH t AS (SELECT * FROM t) SELECT * FROM t", {"select"}, {"t"}, None),
    ("WITH RECURSIVE r AS (SELECT 1 UNION SELECT * FROM r) SELECT * FROM r", {"select"}, set(), None),
    ("SELECT * FROM (WITH d AS (SELECT 1) SELECT * FROM d) x, d", {"select"}, {"d"}, None),
    ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", {"merge", "delete"}, {"t", "s"}, None),
    (
        "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN UPDATE SET b = 1 WHEN NOT MATCHED THEN INSERT VALUES (1)",
        {"merge", "update", "insert"},
        {"t", "s"},
        None,
    ),
    ("SELECT 1; DROP TABLE t", {"select", "drop"}, {"t"}, None),
    ("BEGIN; DELETE FROM t; COMMIT", {"transaction", "delete"}, {"t"}, None),
    # EXPLAIN
    ("EXPLAIN DELETE FROM t", {"explain"}, {"t"}, None),
    ("EXPLAIN ANALYZE DELETE FROM t", {"explain", "delete"}, {"t"}, None),
    ("EXPLAIN (ANALYZE false) DELETE FROM t", {"explain"}, {"t"}, None),
    ("EXPLAIN (ANALYZE, VERBOSE) DELETE FROM t", {"explain", "delete"}, {"t"}, None),
    ("EXPLAIN SELECT pg_read_file('x')", {"explain"}, None, {"pg_read_file"}),
    # code
    ("PREPARE p (int) AS DELETE FROM t WHERE a = $1", {"prepare", "delete"}, {"t"}, None),
    ("EXECUTE p (1)", {"execute"}, None, None),
    ("DEALLOCATE p", {"prepare"}, None, None),
    ("DEALLOCATE ALL", {"prepare"}, None, None),
    ("DO $$ BEGIN EXECUTE 'drop table t'; END $$", {"do"}, set(), None),
    ("DO LANGUAGE plpgsql 'BEGIN DELETE FROM t; END'", {"do"}, set(), None),
    ("CALL s.proc(1)", {"call"}, None, {"s.proc", "proc"}),
    ("DECLARE c CURSOR FOR SELECT * FROM t", {"select"}, {"t"}, None),
    ("FETCH 10 FROM c", {"select"}, None, None),
    ("CLOSE c", {"transaction"}, None, None),
    # server-side effects of functions
    ("select pg_read_file('/etc/passwd')", {"select", "file_read"}, None, {"pg_read_file"}),
    ("SELECT pg_catalog.pg_read_binary_file('x')", {"select", "file_read"}, None, None),
    ("SELECT * FROM pg_ls_dir('.')", {"select", "file_read"}, None, {"pg_ls_dir"}),
    ("SELECT pg_ls_waldir()", {"select", "file_read"}, None, None),
    ("SELECT lo_import('/etc/passwd')", {"select", "file_read"}, None, None),
    ("SELECT lo_export(1, '/tmp/x')", {"select", "file_write"}, None, None),
    ("SELECT lo_unlink(1)", {"select", "file_write"}, None, None),
    ("SELECT pg_file_write('x', 'y', false)", {"select", "file_write"}, None, None),
    ("SELECT pg_terminate_backend(42)", {"select", "admin"}, None, None),
    ("SELECT pg_cancel_backend(pid) FROM pg_stat_activity", {"select", "admin"}, {"pg_stat_activity"}, None),
    ("SELECT pg_reload_conf()", {"select", "admin"}, None, None),
    ("SELECT * FROM dblink('host=x', 'select 1') AS r(a int)", {"select", "admin"}, None, {"dblink"}),
    ("SELECT dblink_exec('drop table t')", {"select", "admin"}, None, None),
    ("SELECT pg_notify('ch', 'x')", {"select", "notify"}, None, None),
    ("SELECT query_to_xml('delete from t', true, true, '')", {"select", "execute"}, None, None),
    ("SELECT set_config('search_path', 'x', false)", {"select", "set", "admin"}, None, {"set_config"}),
    ("UPDATE t SET a = pg_read_file('x')", {"update", "file_read"}, {"t"}, None),
    ("CREATE TABLE t (a text DEFAULT pg_read_file('x'))", {"create", "file_read"}, {"t"}, None),
    # COPY
    ("COPY t TO STDOUT", {"copy_to"}, {"t"}, None),
    ("COPY t FROM STDIN", {"copy_from"}, {"t"}, None),
    ("COPY t TO PROGRAM 'x'", {"copy_to", "program"}, {"t"}, None),
    ("COPY t FROM PROGRAM 'curl evil'", {"copy_from", "program"}, {"t"}, None),
    ("COPY t TO '/tmp/x'", {"copy_to", "file_write"}, {"t"}, None),
    ("COPY t FROM '/etc/passwd'", {"copy_from", "file_read"}, {"t"}, None),
    ("COPY (SELECT * FROM u) TO STDOUT", {"copy_to", "select"}, {"u"}, None),
    ("COPY (DELETE FROM u RETURNING *) TO STDOUT", {"copy_to", "delete"}, {"u"}, None),
    # DDL
    ("DROP TABLE s.t, u", {"drop"}, {"s.t", "u"}, None),
    ("DROP VIEW v", {"drop"}, {"v"}, None),
    ("DROP FUNCTION f(int)", {"drop"}, set(), None),
    ("DROP EXTENSION dblink", {"drop"}, None, None),
    ("DROP ROLE r", {"drop"}, None, None),
    ("DROP DATABASE d", {"drop"}, None, None),
    ("DROP OWNED BY r", {"drop"}, None, None),
    ("TRUNCATE s.t, u", {"truncate"}, {"s.t", "u"}, None),
    ("CREATE TABLE t (a int)", {"create"}, {"t"}, None),
    ("CREATE TABLE x AS SELECT * FROM u", {"create", "select"}, {"x", "u"}, None),
    ("CREATE VIEW v AS SELECT * FROM u", {"create", "select"}, {"v", "u"}, None),
    ("CREATE INDEX i ON t (a)", {"create"}, {"t"}, None),
    ("CREATE EXTENSION dblink", {"create"}, None, None),
    ("CREATE TRIGGER tr AFTER INSERT ON t EXECUTE FUNCTION s.audit()", {"create"}, {"t"}, {"s.audit", "audit"}),
    ("CREATE TRIGGER tr AFTER INSERT ON t EXECUTE FUNCTION dblink_exec('x')", {"create", "admin"}, {"t"}, None),
    ("CREATE ROLE r", {"create"}, None, None),
    ("CREATE TYPE ty AS (a int)", {"create"}, set(), None),
    ("CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u", {"create", "delete"}, {"t", "u"}, None),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", {"create", "admin"}, None, None),
    ("ALTER TABLE t ADD COLUMN c int", {"alter"}, {"t"}, None),
    ("ALTER TABLE t RENAME TO u", {"alter"}, {"t"}, None),
    ("ALTER TABLE t OWNER TO r", {"alter"}, {"t"}, None),
    ("ALTER ROLE r WITH SUPERUSER", {"alter"}, None, None),
    ("ALTER DATABASE d RENAME TO e", {"alter"}, None, None),
    ("COMMENT ON TABLE t IS 'x'", {"alter"}, {"t"}, None),
    ("SECURITY LABEL ON TABLE t IS 'x'", {"alter"}, {"t"}, None),
    ("GRANT SELECT ON t TO r", {"grant"}, {"t"}, None),
    ("REVOKE SELECT ON t FROM r", {"revoke"}, {"t"}, None),
    ("GRANT admin TO bob", {"grant"}, None, None),
    ("REVOKE admin FROM bob", {"revoke"}, None, None),
    ("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r", {"alter", "grant"}, None, None),
    ("REFRESH MATERIALIZED VIEW m", {"update"}, {"m"}, None),
    # server administration
    ("ALTER SYSTEM SET work_mem = '1GB'", {"admin"}, None, None),
    ("LOAD 'plugin'", {"admin"}, None, None),
    ("CHECKPOINT", {"admin"}, None, None),
    ("VACUUM t", {"admin"}, {"t"}, None),
    ("ANALYZE t", {"admin"}, {"t"}, None),
    ("REINDEX TABLE t", {"admin"}, {"t"}, None),
    ("CLUSTER t", {"admin"}, {"t"}, None),
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", {"admin"}, {"t"}, None),
    # session
    ("SET search_path = x", {"set"}, None, None),
    ("SET LOCAL statement_timeout = 5", {"set"}, None, None),
    ("RESET ALL", {"set"}, None, None),
    ("DISCARD ALL", {"set"}, None, None),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", {"transaction"}, None, None),
    ("BEGIN; SAVEPOINT s; ROLLBACK TO s; COMMIT", {"transaction"}, None, None),
    ("SET CONSTRAINTS ALL DEFERRED", {"transaction"}, None, None),
    ("LISTEN ch; UNLISTEN *", {"listen"}, None, None),
    ("NOTIFY ch, 'x'", {"notify"}, None, None),
    # parser-state settings: safe values are plain "set"
    ("SET standard_conforming_strings = on", {"set"}, None, None),
    ("SET client_encoding = 'UTF8'", {"set"}, None, None),
    ("SET escape_string_warning = off", {"set"}, None, None),
    ("RESET standard_conforming_strings", {"set"}, None, None),
    ("SET backslash_quote = safe_encoding", {"set"}, None, None),
    ("SET standard_conforming_strings = off", {"set", "admin"}, None, None),
    ("SET SESSION standard_conforming_strings TO 0", {"set", "admin"}, None, None),
    ("SET LOCAL standard_conforming_strings = false", {"set", "admin"}, None, None),
    ('SET "Standard_Conforming_Strings" = off', {"set", "admin"}, None, None),
    ("SET client_encoding TO 'SJIS'", {"set", "admin"}, None, None),
    ("SET NAMES 'Shift_JIS_2004'", {"set", "admin"}, None, None),
    ("SET client_encoding = gbk", {"set", "admin"}, None, None),
    ("SET backslash_quote = on", {"set", "admin"}, None, None),
    ("SELECT set_config('standard_conforming_strings', 'off', false)", {"select", "set", "admin"}, None, None),
    ("SELECT set_config('client_encoding', $1, false)", {"select", "set", "admin"}, None, None),
    ("SELECT set_config(name, 'on', false) FROM pg_settings", {"select", "set", "admin"}, None, None),
    ("ALTER ROLE r SET standard_conforming_strings = off", {"alter", "admin"}, None, None),
    ("ALTER DATABASE d SET client_encoding = 'BIG5'", {"alter", "admin"}, None, None),
    (
        "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
        {"update", "admin"},
        None,
        None,
    ),
    # not understood
    ("SELEC 1", {"unknown"}, set(), set()),
    ("SELECT 1; DROP TABLE", {"unknown"}, None, None),
    ("SELECT 'unterminated", {"unknown"}, None, None),
    ("SELECT 1\x00; DROP TABLE t", {"unknown"}, None, None),
]


@pytest.mark.parametrize(("sql", "effects", "tables", "functions"), CASES, ids=[c[0][:60] for c in CASES])
def test_classify(sql: str, effects: set[str] | None, tables: set[str] | None, functions: set[str] | None) -> None:
    info = classify(sql)
    if effects is not None:
        assert info.effects == effects, info
    else:
        assert info.effects >= {"update", "insert", "select"}, info
    if tables is not None:
        assert info.tables == tables, info
    if functions is not None:
        assert functions <= info.functions, info
    assert info.effects <= EFFECTS
    assert ("unknown" in info.effects) == bool(info.reason)


def test_statement_counts() -> None:
    assert classify("").statements == 0
    assert classify("/* x */ -- y").statements == 0
    assert classify("SELECT 1").statements == 1
    assert classify("SELECT 1;; SELECT 2; SELECT 3;").statements == 3


def test_unknown_reasons() -> None:
    assert classify("SELEC 1").reason == 'syntax error at or near "SELEC" (at character 1)'
    assert "NUL" in classify("SELECT 1\x00; DROP TABLE t").reason
    assert "unterminated" in classify("SELECT 'x").reason
    info = classify("SELECT 1", "oracle")
    assert info.effects == {"unknown"} and "oracle" in info.reason


def test_parser_state_detail() -> None:
    assert "parser_state" not in classify("SET standard_conforming_strings = on").detail
    for sql in [
        "SET standard_conforming_strings = off",
        "SET client_encoding = 'sjis'",
        "SET backslash_quote = on",
        "SELECT set_config('standard_conforming_strings', x, false) FROM t",
        "SELECT set_config(n, v, false) FROM t",
        "ALTER SYSTEM SET standard_conforming_strings = off",
    ]:
        info = classify(sql)
        assert info.detail["parser_state"], sql
        assert "admin" in info.effects, sql
    # a plain EXPLAIN does not run the call, so nothing is changed
    assert classify("EXPLAIN SELECT set_config('standard_conforming_strings', 'off', false)").effects == {"explain"}


TEXT_DEFAULTS = {"delimiter": "\t", "quote": "", "escape": "\\", "null": "\\N", "header": False, "encoding": None}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("COPY t TO STDOUT", {"direction": "to", "format": "text", **TEXT_DEFAULTS, "table": "t", "columns": None}),
        (
            "COPY s.t (a, B) FROM STDIN",
            {"direction": "from", "format": "text", **TEXT_DEFAULTS, "table": "s.t", "columns": ["a", "b"]},
        ),
        (
            "COPY t TO STDOUT WITH (FORMAT csv)",
            {"format": "csv", "delimiter": ",", "quote": '"', "escape": '"', "null": "", "header": False},
        ),
        (
            "COPY t TO STDOUT CSV HEADER DELIMITER ';' QUOTE '''' NULL 'NULL'",
            {"format": "csv", "delimiter": ";", "quote": "'", "escape": "'", "null": "NULL", "header": True},
        ),
        ("COPY t TO STDOUT (FORMAT csv, ESCAPE '\\')", {"quote": '"', "escape": "\\"}),
        ("COPY t FROM STDIN (FORMAT csv, HEADER match, ENCODING 'latin1')", {"header": True, "encoding": "latin1"}),
        ("COPY t TO STDOUT (HEADER false, DELIMITER '|')", {"header": False, "delimiter": "|", "null": "\\N"}),
        ("COPY t TO STDOUT (FORMAT binary)", {"format": "binary", "delimiter": "", "null": ""}),
        ("COPY t TO STDOUT WITH BINARY", {"format": "binary"}),
        ("COPY (SELECT 1) TO STDOUT", {"table": None, "columns": None, "direction": "to"}),
    ],
)
def test_copy_detail(sql: str, expected: dict[str, Any]) -> None:
    spec = classify(sql).detail["copy"]
    assert {k: spec[k] for k in expected} == expected


def test_copy_options_that_cannot_be_read() -> None:
    info = classify("COPY t TO STDOUT (FORMAT 'CSV')")  # PostgreSQL compares format names exactly
    assert "unknown" in info.effects and "copy" not in info.detail
    info = classify("COPY t TO STDOUT (FORMAT csv); COPY u TO STDOUT")  # two different layouts: no single answer
    assert "copy" not in info.detail


def test_classify_command_dispatch() -> None:
    query = Command("s1", 1, CommandKind.QUERY, "DELETE FROM t", "postgres")
    assert classify_command(query).effects == {"delete"}
    call = Command("s1", 2, CommandKind.CALL, "<function call oid=1>", "postgres", {"oid": 1})
    assert classify_command(call).effects == {"call", "unknown"}
    mysql = Command("s1", 3, CommandKind.QUERY, "SELECT 1", "mysql")
    assert classify_command(mysql).effects == {"select"}
    other = Command("s1", 4, CommandKind.QUERY, "SELECT 1", "oracle")
    assert classify_command(other).effects == {"unknown"}


# -- caching ---------------------------------------------------------------------------------------------------------


def test_exact_and_shape_layers() -> None:
    cache_clear()
    first = classify("SELECT * FROM orders WHERE id = 1")
    assert cache_info()["fast_size"] == 1  # the literal-key layer answers it from now on (test_literal_key.py)
    assert classify("SELECT * FROM orders WHERE id = 2") is first
    assert cache_info()["fast_hits"] == 1
    # a comment means no literal key: the exact-text and shape layers answer
    cache_clear()
    first = classify("/* c */ SELECT * FROM orders WHERE id = 1")
    assert cache_info()["misses"] == 1 and cache_info()["shape_size"] == 1 and cache_info()["fast_size"] == 0
    assert classify("/* c */ SELECT * FROM orders WHERE id = 1") is first
    assert cache_info()["hits"] == 1
    assert classify("/* c */ SELECT * FROM orders WHERE id = 2") is first  # new constant: the shape layer answers
    assert cache_info()["shape_hits"] == 1
    long = "SELECT * FROM t WHERE a IN (" + ", ".join(str(i) for i in range(500)) + ")"
    assert classify(long) is classify(long)


def test_fingerprint_would_be_the_wrong_key() -> None:
    """pglast's fingerprint drops schema names and digit runs in table names, so it cannot key the shape cache."""
    fp = pglast.parser.fingerprint
    assert fp("SELECT * FROM t") == fp("SELECT * FROM secret.t")
    assert fp("SELECT * FROM tmp_123") == fp("SELECT * FROM tmp_456")
    cache_clear()
    assert classify("SELECT * FROM t").tables == {"t"}
    assert classify("SELECT * FROM secret.t").tables == {"secret.t"}
    assert classify("SELECT * FROM tmp_123").tables == {"tmp_123"}
    assert classify("SELECT * FROM tmp_456").tables == {"tmp_456"}


def test_constant_dependent_results_are_not_shared() -> None:
    cache_clear()
    assert fp_equal("SET standard_conforming_strings = on", "SET standard_conforming_strings = off")
    assert classify("SET standard_conforming_strings = on").effects == {"set"}
    assert classify("SET standard_conforming_strings = off").effects == {"set", "admin"}
    assert classify("SELECT set_config('client_encoding', 'UTF8', false)").detail == {}
    assert classify("SELECT set_config('client_encoding', 'SJIS', false)").detail["parser_state"]
    assert classify("COPY t TO STDOUT (DELIMITER ',')").detail["copy"]["delimiter"] == ","
    assert classify("COPY t TO STDOUT (DELIMITER ';')").detail["copy"]["delimiter"] == ";"
    assert classify("COPY t TO STDOUT").effects == {"copy_to"}
    assert classify("COPY t TO '/tmp/x'").effects == {"copy_to", "file_write"}


def fp_equal(a: str, b: str) -> bool:
    return pglast.parser.fingerprint(a) == pglast.parser.fingerprint(b)


# -- properties ------------------------------------------------------------------------------------------------------

BLOCKED = [
    (["DROP", "TABLE", "t"], "drop"),
    (["TRUNCATE", "TABLE", "t"], "truncate"),
    (["DELETE", "FROM", "t", "WHERE", "a", "=", "1"], "delete"),
    (["SELECT", "pg_read_file", "(", "'/etc/passwd'", ")"], "file_read"),
    (["SELECT", "1", ";", "DROP", "TABLE", "t"], "drop"),
]
_comment_text = st.text(alphabet=string.ascii_letters + string.digits + " ;'", max_size=12)
_separator = st.one_of(
    st.text(alphabet=" \t\n\r\f", min_size=1, max_size=4),
    _comment_text.map(lambda c: f"/* {c} */"),
    _comment_text.map(lambda c: f" -- {c}\n"),
    _comment_text.map(lambda c: f"/* /* {c} */ */"),
)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    tokens, effect = draw(st.sampled_from(BLOCKED))
    out = [draw(st.sampled_from(["", " ", "/* x */", "\n"]))]
    for i, token in enumerate(tokens):
        if not token.startswith("'"):
            token = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in token)
        out.append(token)
        if i < len(tokens) - 1:
            out.append(draw(_separator))
    out.append(draw(st.sampled_from(["", ";", " ; ", "-- done", "/* end */"])))
    return "".join(out), effect


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_disguised_blocked_statements_keep_their_effect(case: tuple[str, str]) -> None:
    sql, effect = case
    info = classify(sql)
    assert effect in info.effects, (sql, info)
    assert "unknown" not in info.effects, (sql, info)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    info = classify(text)
    assert isinstance(info.effects, frozenset)
    assert info.effects <= EFFECTS


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="selctdropfumwhin*();,'$ \n/-=1tabSELCTDROP", max_size=60))
def test_never_raises_on_sql_like_text(text: str) -> None:
    assert classify(text).effects <= EFFECTS


_constant = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["'on'", "'off'", "'true'", "'0'", "'UTF8'", "'SJIS'", "'big5'", "'safe_encoding'", "on", "off"]),
    st.text(alphabet=string.ascii_letters + ",;|", min_size=1, max_size=3).map(lambda s: "'" + s + "'"),
)
TEMPLATES = [
    "SELECT * FROM orders WHERE id = {0}",
    "SELECT * FROM s{0}.t WHERE a = {1}",
    "SET standard_conforming_strings = {0}",
    "SET client_encoding = {0}",
    "SET backslash_quote = {0}",
    "ALTER ROLE r SET standard_conforming_strings = {0}",
    "SELECT set_config('standard_conforming_strings', {0}, false)",
    "SELECT set_config({0}, {1}, false)",
    "COPY t TO STDOUT (DELIMITER {0})",
    "COPY t TO STDOUT (FORMAT csv, QUOTE {0}, NULL {1})",
    "EXPLAIN (ANALYZE {0}) DELETE FROM t WHERE a = {1}",
    "DELETE FROM t WHERE a = {0}; SET client_encoding = {1}",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEMPLATES), _constant, _constant)
def test_cached_equals_cold(template: str, a: str, b: str) -> None:
    """Whatever the caches hold, a statement classifies exactly as a cold parse of its own text does."""
    sql = template.format(a, b)
    cold = postgres.classify(sql)[0]
    assert classify(sql) == cold
    assert classify(sql) == cold  # now from the exact-text layer
