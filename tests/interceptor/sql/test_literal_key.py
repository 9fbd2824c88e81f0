"""Tests for the fast literal key of PostgreSQL texts (interceptor.sql.postgres.literal_key) and its cache layer.

The key guards policy decisions: two texts with one key must be lexed by PostgreSQL into the same tokens but for
the values of their constants, and a cached result must always equal a cold classification of the text itself.
"""

from __future__ import annotations

import pglast.parser
import pytest
from hypothesis import given, settings

from interceptor.sql import cache_clear, cache_info, classify, postgres
from interceptor.sql.postgres import literal_key
from tests.interceptor.sql.literal_kit import SIBLINGS, Dialect, digits_values, siblings, string_values

PGBENCH = "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        (PGBENCH, "SELECT abalance FROM pgbench_accounts WHERE aid = 0;"),
        ("SELECT 'it''s', '', '''' FROM t", "SELECT '', '', '' FROM t"),
        ("SELECT 'a'\n'b', 'x' 'y'", "SELECT ''\n'', '' ''"),
        ("SELECT 'été €', 'a\"b', '--', '/*', '$1', '12'", "SELECT '', '', '', '', '', ''"),
        ('SELECT "a1""b2", "T 1".c9 FROM "S3"."t 4"', 'SELECT "a1""b2", "T 1".c9 FROM "S3"."t 4"'),
        ('SELECT "x", 7, "é""1"', 'SELECT "x", 0, "é""1"'),
        ("SELECT E'x''y', N'z', e'', n'1'", "SELECT E'', N'', e'', n''"),
        ("SELECT 1.5, .5, 1., 12.e3, 1e5, 1e-5, 1E+5", "SELECT 0.0, .0, 0., 0.e3, 1e5, 1e-0, 1E+0"),
        ("SELECT 0x1F, 0o17, 0b101, 1_000, 12abc, t1, t_2, _3", "SELECT 0x1F, 0o17, 0b101, 1_000, 12abc, t1, t_2, _3"),
        ("SELECT 123456789, 1234567890, 007", "SELECT 0, 1234567890, 0"),
        ("SELECT a FROM t ORDER BY 2 LIMIT 10 OFFSET 20", "SELECT a FROM t ORDER BY 0 LIMIT 0 OFFSET 0"),
        ("SELECT 'x'5, 5'x', a[1], 1::int, a-1/2*3%4", "SELECT ''0, 0'', a[0], 0::int, a-0/0*0%0"),
        ("SELECT float8 '1', x::float4, user_statistics", "SELECT float8 '', x::float4, user_statistics"),
        ("", ""),
        ("\t\r\n;", "\t\r\n;"),
    ],
)
def test_literal_key(sql: str, key: str) -> None:
    assert literal_key(sql) == key
    assert literal_key(key) == key  # a key is its own key


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 -- comment",
        "SELECT 1 --",
        "SELECT /* c */ 1",
        "SELECT a/*b",
        "SELECT $1",
        "SELECT $$x$$",
        "SELECT $q$x$q$",
        "SELECT a$b FROM t",
        "SELECT E'\\n'",
        "SELECT 'a\\'",
        "SELECT 1 \\g",
        "SELECT U&'\\0061'",
        "SELECT U&'x' UESCAPE '!'",
        'SELECT U&"x"',
        "SELECT a & b",
        "SELECT `x`",
        "SELECT {x}",
        "SELECT é",
        "SELECT 1\u00a0",
        "SELECT 1\f",
        "SELECT 1\v",
        "SELECT 'x",
        "SELECT 'x''",
        'SELECT "x',
        'SELECT "x""',
        "SELECT \x00",
        "SELECT 1\x00; DROP TABLE t",
        "SELECT 'a\x00b'",
        'SELECT "a\x00b"',
        "SELECT '\udc80'",
        'SELECT "\udc80"',
        "SELECT B'1''0'",
        "SELECT b'101'",
        "SELECT X'1F'",
        "SELECT x'1f'",
        "SELECT tab'x'",
        "SELECT 1::float(10)",
        "SELECT 1::FLOAT (53)",
        'SELECT "float" FROM t',
        "ALTER TABLE t ALTER COLUMN 1 SET STATISTICS 100",
        "ALTER TABLE t ALTER 1 SET Statistics 100",
        "SELECT 1 FROM t WHERE a IN (" + ", ".join(["1"] * 400) + ")",
    ],
)
def test_no_literal_key(sql: str) -> None:
    assert literal_key(sql) is None
    assert classify(sql) == postgres.classify(sql)[0]  # the other layers answer


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT * FROM t1", "SELECT * FROM t2"),
        ("SELECT 0x1", "SELECT 1x1"),
        ("SELECT 0x1", "SELECT 0x2"),
        ("SELECT 1e5", "SELECT 2e5"),
        ("SELECT 1_0", "SELECT 2_0"),
        ("SELECT 1234567890", "SELECT 1234567891"),
        ('SELECT "a1"', 'SELECT "a2"'),
        ('SELECT "a"', "SELECT a"),
        ("SELECT * FROM t", "SELECT * FROM secret.t"),
        ("SELECT * FROM tmp_123", "SELECT * FROM tmp_456"),
        ("SELECT lower('x')", "SELECT pg_read_file('x')"),
        ("SELECT 'x'", "SELECT E'x'"),
        ("SELECT 1", "SELECT 1.0"),
        ("SELECT 1", "SELECT -1"),
        ("SELECT 1", "SELECT '1'"),
        ("SET standard_conforming_strings = on", "SET standard_conforming_strings = off"),
        ("EXPLAIN (ANALYZE false) DELETE FROM t", "EXPLAIN (ANALYZE true) DELETE FROM t"),
        ("SELECT 1; SELECT 2", "SELECT 1 SELECT 2"),
        ("SELECT a  FROM t", "SELECT a FROM t"),
    ],
)
def test_different_keys(a: str, b: str) -> None:
    assert literal_key(a) is not None and literal_key(b) is not None
    assert literal_key(a) != literal_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT 'a'", "SELECT 'b''c'"),
        ("SELECT 1", "SELECT 22"),
        ("SELECT 1.5", "SELECT 22.75"),
        ("SELECT a::varchar(10)", "SELECT a::varchar(20)"),
        ("SELECT a FROM t ORDER BY 1", "SELECT a FROM t ORDER BY 2"),
        ("EXPLAIN (ANALYZE 0) DELETE FROM t", "EXPLAIN (ANALYZE 1) DELETE FROM t"),
        ("SET standard_conforming_strings = 1", "SET standard_conforming_strings = 0"),
        ("SELECT set_config('application_name', 'x', false)", "SELECT set_config('client_encoding', 'sjis', false)"),
    ],
)
def test_same_key(a: str, b: str) -> None:
    assert literal_key(a) is not None
    assert literal_key(a) == literal_key(b)


# -- the cache layer -------------------------------------------------------------------------------------------------


def test_fast_layer() -> None:
    cache_clear()
    first = classify(PGBENCH)
    assert first.effects == {"select"} and first.tables == {"pgbench_accounts"}
    info = cache_info()
    assert (info["fast_misses"], info["fast_size"], info["size"]) == (1, 1, 0)  # not stored by exact text as well
    for aid in (1, 12345, 99999):
        assert classify(f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid};") is first
    info = cache_info()
    assert (info["fast_hits"], info["hits"], info["misses"], info["size"]) == (3, 0, 1, 0)  # exact layer untouched
    # a result that read a constant's value is kept by exact text, not under its literal key
    assert classify("SET client_encoding = 'UTF8'").effects == {"set"}
    assert classify("SET client_encoding = 'UTF8'").effects == {"set"}
    info = cache_info()
    assert (info["fast_size"], info["size"], info["hits"]) == (1, 1, 1)
    assert classify("SET client_encoding = 'SJIS'").effects == {"set", "admin"}
    cache_clear()
    assert cache_info()["fast_size"] == cache_info()["fast_hits"] == cache_info()["fast_misses"] == 0


# (warm-up text, text): neighbours a cache could confuse (one literal key, or keys that differ in a name or a
# number's form), and texts the key refuses because the grammar checks their integers
WARM_THEN_CLASSIFY = [
    ("SELECT * FROM t WHERE id = 1", "SELECT * FROM secret.t WHERE id = 2"),
    ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t2 WHERE id = 3"),
    ("SELECT lower('x')", "SELECT pg_read_file('x')"),
    (
        "SELECT set_config('application_name', 'x', false)",
        "SELECT set_config('standard_conforming_strings', 'off', false)",
    ),
    ("SELECT set_config('client_encoding', 'UTF8', false)", "SELECT set_config('client_encoding', 'SJIS', false)"),
    ("SET standard_conforming_strings = 1", "SET standard_conforming_strings = 0"),
    ("SET client_encoding = 'UTF8'", "SET client_encoding = 'BIG5'"),
    ("ALTER ROLE r SET backslash_quote = 'off'", "ALTER ROLE r SET backslash_quote = 'on'"),
    ("ALTER SYSTEM SET standard_conforming_strings = 1", "ALTER SYSTEM SET standard_conforming_strings = 0"),
    (
        "CREATE FUNCTION f() RETURNS int SET backslash_quote = 'off' AS 'SELECT 1' LANGUAGE sql",
        "CREATE FUNCTION f() RETURNS int SET backslash_quote = 'on' AS 'SELECT 2' LANGUAGE sql",
    ),
    ("COPY t TO STDOUT (DELIMITER ',')", "COPY t TO STDOUT (DELIMITER ';')"),
    ("COPY t TO STDOUT (FORMAT 'text')", "COPY t TO STDOUT (FORMAT 'csv')"),
    ("COPY t TO STDOUT (HEADER 0)", "COPY t TO STDOUT (HEADER 1)"),
    ("EXPLAIN (ANALYZE 0) DELETE FROM t", "EXPLAIN (ANALYZE 1) DELETE FROM t"),
    ("EXPLAIN (ANALYZE 1) DELETE FROM t", "EXPLAIN (ANALYZE 0) DELETE FROM t"),
    ("EXPLAIN (ANALYZE 'off') DELETE FROM t", "EXPLAIN (ANALYZE 'on') DELETE FROM t"),
    ("FETCH 1 FROM c", "FETCH 99999999999 FROM c"),
    ("SELECT 1::float(10)", "SELECT 1::float(99)"),
    ("ALTER TABLE t ALTER 1 SET STATISTICS 5", "ALTER TABLE t ALTER 0 SET STATISTICS 5"),
    ("SELECT x'1'", "SELECT x'1''0'"),
]


@pytest.mark.parametrize(("warm", "sql"), WARM_THEN_CLASSIFY, ids=[p[1][:60] for p in WARM_THEN_CLASSIFY])
def test_warm_cache_answers_as_a_cold_parse(warm: str, sql: str) -> None:
    cache_clear()
    for text in (warm, sql, warm, sql):
        assert classify(text) == postgres.classify(text)[0], text


def test_warm_cache_keeps_names_and_effects() -> None:
    cache_clear()
    classify("SELECT * FROM t WHERE id = 1")
    assert classify("SELECT * FROM secret.t WHERE id = 2").tables == {"secret.t"}
    assert classify("SELECT * FROM t2 WHERE id = 3").tables == {"t2"}
    assert classify("SELECT lower('x')").effects == {"select"}
    assert classify("SELECT pg_read_file('y')").effects == {"select", "file_read"}
    assert classify("SELECT set_config('application_name', 'x', false)").detail == {}
    info = classify("SELECT set_config('standard_conforming_strings', 'off', false)")
    assert "admin" in info.effects and info.detail["parser_state"]


@pytest.mark.parametrize(
    ("off", "on"),
    [("0", "1"), ("false", "true"), ("off", "on"), ("'off'", "'on'"), ("'0'", "'yes'")],
)
def test_explain_analyze_value_is_never_shared(off: str, on: str) -> None:
    """EXPLAIN (ANALYZE 0) and (ANALYZE 1) share a literal key (the normalizer keeps both); only ANALYZE on runs."""
    for first, second in [(off, on), (on, off)]:
        cache_clear()
        for value in (first, second, first, second):
            info = classify(f"EXPLAIN (ANALYZE {value}) DELETE FROM t")
            assert info.effects == ({"explain", "delete"} if value == on else {"explain"}), value


# -- properties ------------------------------------------------------------------------------------------------------

# Templates: fixed text with literal slots, {s} for a string's contents and {n} for a run of digits (see literal_kit).
TEMPLATES = [
    "SELECT * FROM t WHERE id = {n}",
    "SELECT * FROM secret.t WHERE id = {n} AND name = {s}",
    "SELECT abalance FROM pgbench_accounts WHERE aid = {n};",
    "SELECT lower({s}), {n} + {n}.{n} FROM t{n}",
    "SELECT * FROM tmp_{n} WHERE a = {s}",
    "SELECT pg_read_file({s}), pg_ls_dir({s})",
    "SELECT set_config({s}, {s}, false)",
    "SELECT set_config('standard_conforming_strings', {s}, {n} = {n})",
    "SET standard_conforming_strings = {n}",
    "SET standard_conforming_strings = {s}",
    "SET client_encoding = {s}",
    "SET backslash_quote TO {s}",
    "ALTER ROLE r SET client_encoding = {s}",
    "ALTER DATABASE d SET standard_conforming_strings = {n}",
    "COPY t TO STDOUT (DELIMITER {s}, HEADER {n})",
    "COPY t FROM {s}",
    "COPY (SELECT {n}) TO PROGRAM {s}",
    "EXPLAIN (ANALYZE {n}) DELETE FROM t WHERE a = {n}",
    "EXPLAIN (ANALYZE {s}, VERBOSE {n}) DELETE FROM t",
    "SELECT {s}::varchar({n}), {n}::numeric({n}, {n}) FROM t ORDER BY {n}",
    "INSERT INTO t (a, b) VALUES ({n}, {s}), (-{n}, E{s}) RETURNING a",
    "UPDATE t SET a = {n}.{n}e{n}, b = .{n}e-{n} WHERE c = N{s}",
    "DELETE FROM t WHERE a = 0x{n} OR b = {n}_{n} OR c = 0b{n}",
    "SELECT * FROM t LIMIT {n} OFFSET {n}",
    "PREPARE p AS SELECT {n}; EXECUTE p({n})",
    "DO {s}",
    "SELECT b{s}, x{s}, e{s}, n{s}, u{s}",
    "SELECT {n}{s}, {s}{n}, {n}b{s}",
    "SELECT {n}.. {n}, {n}..{n}",
    "CREATE TABLE t (a varchar({n}) DEFAULT {s}, b int[{n}])",
    'SELECT "col{n}" FROM "t{n}" WHERE "a""b" = {s}',
]
# Texts the key must refuse or tell apart, because their lexing or parsing depends on their constants.
TRICKY = [
    "SELECT {n}::float({n})",
    "ALTER TABLE t ALTER COLUMN {n} SET STATISTICS {n}",
    "FETCH {n} FROM c",
    "SELECT {s} {s}",
    "SELECT {s}\n{s}",
    "SELECT {n}{s}",
    "SELECT {s}{n}",
    "SELECT {n}b{s}",
    "SELECT b{s}",
    "SELECT x{s}",
    "SELECT E{s} || e{s}",
    "SELECT B{s}\n{s}",
    "SELECT {n}x{n}",
    "SELECT {n}b{n}",
    "SELECT {n}o{n}",
    "SELECT {n}e{n}",
    "SELECT {n}_{n}",
    "SELECT {n}abc, t{n}",
    "SELECT 1 --{s}\n, {n}",
    "SELECT /*{s}*/ {n}",
    "SELECT 1 -- c{s}\n{s}",
    'SELECT * FROM U&"t!0031" UESCAPE {s}',
    "SELECT U&{s} UESCAPE {s}",
    "SELECT $${s}$$, {s}",
    "SELECT $q${s}$q$ || {s}",
    "SELECT {n}.{n}e{n}",
    "SELECT .{n}, t.{n}",
    "SELECT {n}..{n}, -{n}",
    "SELECT a::varchar({n}) FROM t ORDER BY {n}",
    "EXPLAIN (ANALYZE {n}) DELETE FROM t",
    "EXPLAIN (ANALYZE {s}) DELETE FROM t",
    "SET standard_conforming_strings = {n}",
    "SET client_encoding = {s}",
    "SELECT set_config({s}, {s}, false)",
    "COPY t TO STDOUT (DELIMITER {s}, HEADER {n})",
]
_FIXED = [
    *"SELECT FROM WHERE AND OR NOT IN IS NULL LIMIT AS INSERT INTO VALUES UPDATE SET DELETE EXPLAIN".split(),
    *"ANALYZE COPY TO STDOUT DROP TABLE float statistics varchar int true off".split(),
    *"t t1 t2 tab secret.t s.t tmp_1 pg_read_file lower set_config standard_conforming_strings aid".split(),
    *"E e N n B b X x U u".split(),
    '"T1"',
    '"a""b"',
    '"x1"',
    '"float"',
    *"= < > <= != + - * / % :: , . ( ) ; [ ] : | ~ @ # ? ^ !".split(),
    *["'", '"', "$1", "$$", "--", "/*", "\\", "&", "U&", "`", "{", "é", "\x00", "\f"],
]
# A slot's values in the properties, and (fewer) in every combination on TRICKY.
_STRING_VALUE = string_values(
    ["", "!", "a", "1", "on", "off", "sjis"],
    ["a", "b", "1", "0", " ", "'", '"', "--", "/*", "*/", "$$", "$q$", "!", "é", "€", "\n"],
)
_DIGITS_VALUE = digits_values(["0", "1", "7", "00", "007", "54", "999999999", "2147483647", "2147483648"])
STRING_VALUES = ["", "a", "1", "'", "''", "!", "\\", "a\\", "*/", "\n", "$$", "é", "on", "off", "sjis"]
STRING_VALUES += ["standard_conforming_strings", "client_encoding"]
DIGITS_VALUES = ["0", "1", "7", "54", "32768", "123456789", "1234567890", "2147483648"]

_CONSTANTS = frozenset({"SCONST", "ICONST", "FCONST", "BCONST", "XCONST", "USCONST"})


def tokens(text: str) -> list[tuple[str, str]] | str:
    """PostgreSQL's own lexer: (token, text) with the text of constants left out, or the lexer's complaint."""
    try:
        found = pglast.parser.scan(text)
    except pglast.parser.ParseError as exc:
        return "error: " + str(exc.args[0]).split(" at or near ")[0]  # the rest quotes the text
    return [(t.name, "" if t.name in _CONSTANTS else text[t.start : t.end + 1]) for t in found]


PG = Dialect(
    name="postgres",
    key=literal_key,
    classifier=postgres.classify,
    tokens=tokens,
    templates=TEMPLATES,
    tricky=TRICKY,
    fixed=_FIXED,
    string_value=_STRING_VALUE,
    digits_value=_DIGITS_VALUE,
    string_values=STRING_VALUES,
    digits_values=DIGITS_VALUES,
)


@pytest.mark.parametrize("template", TRICKY)
def test_tricky_texts_exhaustively(template: str) -> None:
    PG.check_exhaustively(template)


@SIBLINGS
@given(siblings(PG))
def test_one_key_means_one_token_sequence(texts: list[str]) -> None:
    for group in PG.by_key(texts):
        PG.check_one_token_sequence(group)


@SIBLINGS
@given(siblings(PG))
def test_one_key_means_one_shareable_result(texts: list[str]) -> None:
    for group in PG.by_key(texts):
        PG.check_one_shareable_result(group)


@SIBLINGS
@given(siblings(PG))
def test_cached_equals_cold_after_siblings(texts: list[str]) -> None:
    PG.check_cached_equals_cold(texts)


@settings(SIBLINGS, max_examples=150)
@given(siblings(PG))
def test_one_key_means_one_normalized_shape(texts: list[str]) -> None:
    """When they parse, texts with one key normalize alike but for constants (the normalizer keeps some)."""
    for group in PG.by_key(texts):
        normalized = []
        for text in group:
            try:
                normalized.append(tokens(pglast.parser.normalize(text)))
            except pglast.parser.ParseError:
                pass
        assert all(n == normalized[0] for n in normalized), group
