"""Tests for the fast literal key of MySQL/MariaDB texts (interceptor.sql.mysql.literal_key) and its cache layer.

The key guards policy decisions: two texts with one key must be lexed into the same tokens but for the values of
their string and number literals (checked with the gateway's own MySQL lexer, which the classifier reads), and a
cached result must always equal a cold classification of the text itself.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from interceptor.sql import cache_clear, cache_info, classify, mysql
from interceptor.sql.mysql import literal_key
from interceptor.sql.mysql_lexer import NUM, STR, lex
from tests.interceptor.sql.literal_kit import SIBLINGS, Dialect, digits_values, siblings, string_values

SYSBENCH = "SELECT c FROM sbtest1 WHERE id=4711"


def cold(text: str) -> object:
    return mysql.classify(text)[0]


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        (SYSBENCH, "SELECT c FROM sbtest1 WHERE id=0"),
        ("SELECT c FROM sbtest7 WHERE id BETWEEN 17 AND 116", "SELECT c FROM sbtest7 WHERE id BETWEEN 0 AND 0"),
        ("SELECT 'it''s', '', '''' FROM t", "SELECT '', '', '' FROM t"),
        ("SELECT 'a'\n'b', 'x' 'y'", "SELECT ''\n'', '' ''"),
        ("SELECT 'été €', 'a\"b', '--', '/*', '#', '$1', '12', '`', '{'", "SELECT '', '', '', '', '', '', '', '', ''"),
        ("SELECT `a1``b2`, `T 1`.c9 FROM `S3`.`t 4`", "SELECT `a1``b2`, `T 1`.c9 FROM `S3`.`t 4`"),
        ("SELECT `x`, 7, `é'1`, '`'", "SELECT `x`, 0, `é'1`, ''"),
        ("SELECT N'x''y', n'z', _utf8mb4'1', _latin1 'a'", "SELECT N'', n'', _utf8mb4'', _latin1 ''"),
        ("SELECT 1.5, .5, 1., 12.e3, 1e5, 1e-5, 1E+5", "SELECT 0.5, .5, 0., 0.e3, 1e5, 1e-0, 1E+0"),
        ("SELECT 0x1F, 0b101, 1_000, 12abc, t1, t_2, _3, 1e", "SELECT 0x1F, 0b101, 1_000, 12abc, t1, t_2, _3, 1e"),
        ("SELECT t.5, t1.5, db.5.c, `t`.5, 5.t", "SELECT t.5, t1.5, db.5.c, `t`.5, 0.t"),
        ("SELECT @1, @a1, @a.1, @@1, @@session.x1, @ 1", "SELECT @1, @a1, @a.1, @@1, @@session.x1, @ 0"),
        ("SELECT 123456789, 1234567890, 007", "SELECT 0, 1234567890, 0"),
        ("SELECT a FROM t ORDER BY 2 LIMIT 10, 20", "SELECT a FROM t ORDER BY 0 LIMIT 0, 0"),
        ("SELECT 'x'5, 5'x', a-1/2*3%4, -1, a=-1", "SELECT ''0, 0'', a-0/0*0%0, -0, a=-0"),
        ("SELECT 5 & 3 | 2 ^ ~1, !0, 1 <=> 2, a && b || c", "SELECT 0 & 0 | 0 ^ ~0, !0, 0 <=> 0, a && b || c"),
        ("SET @a := 1; SELECT ?, [1]", "SET @a := 0; SELECT ?, [0]"),
        ("SELECT a*/b", "SELECT a*/b"),
        ("CREATE USER 'u'@localhost", "CREATE USER ''@localhost"),
        (
            "CREATE TABLE t (a FLOAT(99), b DECIMAL(2,5), c CHAR(9))",
            "CREATE TABLE t (a FLOAT(0), b DECIMAL(0,0), c CHAR(0))",
        ),
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
        "SELECT 1--1",
        "SELECT 1 # comment",
        "SELECT a#b",
        "SELECT /* c */ 1",
        "SELECT a/*b",
        "/*!50000 DROP */ TABLE t",
        "/*M!100000 DROP */ TABLE t",
        "SELECT /*+ BKA(t) */ 1",
        'SELECT "x"',
        'SELECT "a""b"',
        "SELECT a$b FROM t",
        "SELECT $a$",
        "SELECT 'a\\'",
        "SELECT 'a\\nb'",
        "SELECT \\N",
        "SELECT {d '2020-01-01'}",
        "SELECT * FROM { OJ a LEFT JOIN b ON 1 }",
        "SELECT é",
        "SELECT `é` é",
        "SELECT 1\u00a0",
        "SELECT 1\f",
        "SELECT 1\v",
        "SELECT 'x",
        "SELECT 'x''",
        "SELECT `x",
        "SELECT `x``",
        "SELECT \x00",
        "SELECT 1\x00; DROP TABLE t",
        "SELECT 'a\x00b'",
        "SELECT `a\x00b`",
        "SELECT '\udc80'",
        "SELECT `\udc80`",
        "SELECT B'1''0'",
        "SELECT b'101'",
        "SELECT X'1F'",
        "SELECT x'1f'",
        "SELECT 0x'1f'",
        "SELECT tax'x'",
        "SELECT @'x'",
        "SELECT @@'x'",
        "CREATE USER 'u'@'h'",
        "CREATE DEFINER='u'@'%' VIEW v AS SELECT 1",
        "SELECT 1 FROM t WHERE a IN (" + ", ".join(["1"] * 400) + ")",
    ],
)
def test_no_literal_key(sql: str) -> None:
    assert literal_key(sql) is None
    assert classify(sql, "mysql") == cold(sql)  # the other layers answer


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SELECT * FROM t1", "SELECT * FROM t2"),
        ("SELECT * FROM sbtest1 WHERE id=1", "SELECT * FROM sbtest2 WHERE id=1"),
        ("SELECT * FROM db.5", "SELECT * FROM db.6"),
        ("SELECT t.1", "SELECT t.2"),
        ("SELECT 1.5", "SELECT 1.6"),
        ("SELECT @1", "SELECT @2"),
        ("SELECT @a.1", "SELECT @a.2"),
        ("SELECT 0x1", "SELECT 1x1"),
        ("SELECT 0x1", "SELECT 0x2"),
        ("SELECT 0b1", "SELECT 1b1"),
        ("SELECT 1e5", "SELECT 2e5"),
        ("SELECT 1abc", "SELECT 2abc"),
        ("SELECT 1_0", "SELECT 2_0"),
        ("SELECT 1234567890", "SELECT 1234567891"),
        ("SELECT `a1`", "SELECT `a2`"),
        ("SELECT `a`", "SELECT a"),
        ("SELECT `a`", "SELECT 'a'"),
        ("SELECT * FROM t", "SELECT * FROM secret.t"),
        ("SELECT * FROM tmp_123", "SELECT * FROM tmp_456"),
        ("SELECT LOWER('x')", "SELECT LOAD_FILE('x')"),
        ("SELECT 'x'", "SELECT N'x'"),
        ("SELECT 'x'", "SELECT _binary'x'"),
        ("SELECT 1", "SELECT 1.0"),
        ("SELECT 1", "SELECT -1"),
        ("SELECT 1", "SELECT '1'"),
        ("SET NAMES utf8mb4", "SET NAMES sjis"),
        ("SET sql_mode = ANSI_QUOTES", "SET sql_mode = TRADITIONAL"),
        ("SELECT 1; SELECT 2", "SELECT 1 SELECT 2"),
        ("SELECT a  FROM t", "SELECT a FROM t"),
        ("SELECT a FROM t", "select a from t"),
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
        ("SELECT 1.5", "SELECT 22.5"),
        ("SELECT 1 - -1", "SELECT 2 - -3"),
        ("CREATE TABLE t (a varchar(10))", "CREATE TABLE t (a varchar(20))"),
        ("CREATE TABLE t (a FLOAT(10))", "CREATE TABLE t (a FLOAT(99))"),
        ("SELECT a FROM t ORDER BY 1 LIMIT 5", "SELECT a FROM t ORDER BY 2 LIMIT 6"),
        ("KILL 5", "KILL 6"),
        ("SET NAMES 'utf8mb4'", "SET NAMES 'sjis'"),
        ("SET sql_mode = ''", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        ("PREPARE s FROM 'SELECT 1'", "PREPARE s FROM 'DROP TABLE t'"),
        ("LOAD DATA LOCAL INFILE 'a' INTO TABLE t", "LOAD DATA LOCAL INFILE 'b' INTO TABLE t"),
        ("CREATE TABLE t (a INT) ENGINE='InnoDB'", "CREATE TABLE t (a INT) ENGINE='FEDERATED'"),
    ],
)
def test_same_key(a: str, b: str) -> None:
    assert literal_key(a) is not None
    assert literal_key(a) == literal_key(b)


# -- the cache layer -------------------------------------------------------------------------------------------------


def test_fast_layer() -> None:
    cache_clear()
    first = classify(SYSBENCH, "mysql")
    assert first.effects == {"select"} and first.tables == {"sbtest1"}
    info = cache_info()
    assert (info["fast_misses"], info["fast_size"], info["size"]) == (1, 1, 0)  # not stored by exact text as well
    for n in (1, 4711, 99999):
        assert classify(f"SELECT c FROM sbtest1 WHERE id={n}", "mysql") is first
    info = cache_info()
    assert (info["fast_hits"], info["hits"], info["misses"], info["size"]) == (3, 0, 1, 0)  # exact layer untouched
    # the keys are per dialect: the same text as PostgreSQL is classified (and keyed) apart
    assert classify(SYSBENCH).tables == {"sbtest1"}
    assert cache_info()["fast_size"] == 2
    # a result that read a literal's value is kept by exact text, not under its literal key
    assert classify("SET NAMES 'utf8mb4'", "mysql").effects == {"set"}
    assert classify("SET NAMES 'utf8mb4'", "mysql").effects == {"set"}
    info = cache_info()
    assert (info["fast_size"], info["size"], info["hits"]) == (2, 1, 1)
    assert classify("SET NAMES 'sjis'", "mysql").effects == {"set", "admin"}
    cache_clear()
    assert cache_info()["fast_size"] == cache_info()["fast_hits"] == cache_info()["fast_misses"] == 0


# (warm-up text, text): neighbours a cache could confuse (one literal key, or keys that differ in a name or a
# number's form)
WARM_THEN_CLASSIFY = [
    ("SELECT c FROM t WHERE id=1", "SELECT c FROM secret.t WHERE id=2"),
    ("SELECT c FROM t WHERE id=1", "SELECT c FROM t2 WHERE id=3"),
    ("SELECT * FROM db.5", "SELECT * FROM db.6"),
    ("INSERT INTO db.5 VALUES (1)", "INSERT INTO db.6 VALUES (1)"),
    ("SELECT LOWER('x')", "SELECT LOAD_FILE('x')"),
    ("SELECT LOWER('x')", "SELECT load_file('x')"),
    ("LOAD DATA LOCAL INFILE 'a' INTO TABLE t", "LOAD DATA LOCAL INFILE 'b' INTO TABLE t"),
    ("LOAD DATA INFILE 'a' INTO TABLE t", "LOAD DATA LOCAL INFILE 'a' INTO TABLE t"),
    ("SET sql_mode = 'STRICT_TRANS_TABLES'", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
    ("SET SESSION sql_mode = ''", "SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'"),
    ("SET @@sql_mode = 0", "SET @@sql_mode = 4"),
    ("SET @@session.sql_mode = 'TRADITIONAL'", "SET @@session.sql_mode = 'ANSI'"),
    ("SET NAMES 'utf8mb4'", "SET NAMES 'sjis'"),
    ("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_bin'", "SET NAMES 'gbk' COLLATE 'gbk_bin'"),
    ("SET CHARACTER SET 'latin1'", "SET CHARACTER SET 'big5'"),
    ("SET character_set_client = 'latin1'", "SET character_set_client = 'cp932'"),
    ("SET collation_connection = 'utf8mb4_bin'", "SET collation_connection = 'sjis_bin'"),
    ("SET STATEMENT sql_mode='' FOR SELECT 1", "SET STATEMENT sql_mode='ANSI_QUOTES' FOR SELECT 1"),
    ("SET @a = 'x'", "SET @a = 'y'"),
    ("PREPARE s FROM 'SELECT 1'", "PREPARE s FROM 'DROP TABLE t'"),
    ("EXECUTE IMMEDIATE 'SELECT 1'", "EXECUTE IMMEDIATE 'DELETE FROM t'"),
    ("CALL sys.execute_prepared_stmt('SELECT 1')", "CALL sys.execute_prepared_stmt('DROP TABLE t')"),
    ("CREATE TABLE t (a INT) ENGINE='InnoDB'", "CREATE TABLE t (a INT) ENGINE='FEDERATED'"),
    ("ALTER TABLE t ENGINE 'InnoDB'", "ALTER TABLE t ENGINE 'CONNECT'"),
    ("5", "6"),
    ("'a'", "'b'"),
    ("SELECT 1 INTO OUTFILE 'a'", "SELECT 1 INTO DUMPFILE 'b'"),
    ("SELECT 0x1", "SELECT 1x1"),
    ("SELECT x'41'", "SELECT x'41''42'"),
    ("SELECT @'a'", "SELECT @'b'"),
    ("SELECT * FROM t LIMIT 1", "SELECT * FROM t LIMIT 99999999999"),
    ("SELECT 'a'; SELECT 1", "SELECT 'a'; DROP TABLE t"),
]


@pytest.mark.parametrize(("warm", "sql"), WARM_THEN_CLASSIFY, ids=[p[1][:60] for p in WARM_THEN_CLASSIFY])
def test_warm_cache_answers_as_a_cold_read(warm: str, sql: str) -> None:
    cache_clear()
    for text in (warm, sql, warm, sql):
        assert classify(text, "mysql") == cold(text), text


def test_warm_cache_keeps_names_files_and_effects() -> None:
    cache_clear()
    classify("SELECT c FROM t WHERE id=1", "mysql")
    assert classify("SELECT c FROM secret.t WHERE id=2", "mysql").tables == {"secret.t"}
    assert classify("SELECT c FROM t2 WHERE id=3", "mysql").tables == {"t2"}
    classify("SELECT * FROM db.5", "mysql")
    assert classify("SELECT * FROM db.6", "mysql").tables == {"db.6"}
    assert classify("SELECT LOWER('x')", "mysql").effects == {"select"}
    assert classify("SELECT LOAD_FILE('x')", "mysql").effects == {"select", "file_read"}
    for name in ("a", "b", "a"):
        detail = classify(f"LOAD DATA LOCAL INFILE '{name}' INTO TABLE t", "mysql").detail
        assert detail["load_data"] == {"local": True, "files": (name,)}
    assert "parser_state" not in classify("SET sql_mode = 'TRADITIONAL'", "mysql").detail
    info = classify("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "mysql")
    assert "admin" in info.effects and info.detail["parser_state"]
    assert "parser_state" not in classify("SET NAMES 'utf8mb4'", "mysql").detail
    info = classify("SET NAMES 'sjis'", "mysql")
    assert "admin" in info.effects and info.detail["parser_state"]
    assert classify("PREPARE s FROM 'SELECT 1'", "mysql").effects == {"prepare", "select"}
    assert classify("PREPARE s FROM 'DROP TABLE t'", "mysql").effects == {"prepare", "drop"}
    assert classify("CREATE TABLE t (a INT) ENGINE='InnoDB'", "mysql").effects == {"create"}
    assert classify("CREATE TABLE t (a INT) ENGINE='FEDERATED'", "mysql").effects == {"create", "admin"}
    assert classify("5", "mysql").reason == "unrecognised statement '5'"
    assert classify("6", "mysql").reason == "unrecognised statement '6'"


# -- properties ------------------------------------------------------------------------------------------------------

# Templates: fixed text with literal slots, {s} for a string's contents and {n} for a run of digits (see literal_kit).
TEMPLATES = [
    "SELECT c FROM sbtest1 WHERE id={n}",
    "SELECT c FROM sbtest{n} WHERE id BETWEEN {n} AND {n} ORDER BY c",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN {n} AND {n} ORDER BY c",
    "UPDATE sbtest1 SET k=k+{n} WHERE id={n}",
    "UPDATE sbtest1 SET c={s} WHERE id={n}",
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({n}, {n}, {s}, {s})",
    "SELECT * FROM secret.t WHERE id = {n} AND name = {s}",
    "SELECT LOWER({s}), {n} + {n}.{n} FROM t{n}",
    "SELECT * FROM tmp_{n} WHERE a = {s}",
    "SELECT LOAD_FILE({s}), LOWER({s})",
    "SELECT * FROM db.{n} JOIN `db{n}`.t{n} ON a = {n}",
    "INSERT INTO db.{n} VALUES ({n})",
    "SELECT t.{n}, .{n}, {n}.{n}, {n}., db.{n}.c",
    "SET NAMES {s}",
    "SET NAMES {s} COLLATE {s}",
    "SET sql_mode = {s}",
    "SET SESSION sql_mode = {n}",
    "SET @@session.character_set_client = {s}",
    "SET collation_connection = {s}",
    "SET STATEMENT sql_mode = {s} FOR SELECT {n}",
    "SET @a = {n}, @b := {s}",
    "PREPARE s FROM {s}",
    "EXECUTE IMMEDIATE {s}",
    "CALL sys.execute_prepared_stmt({s})",
    "LOAD DATA LOCAL INFILE {s} INTO TABLE t",
    "LOAD DATA INFILE {s} REPLACE INTO TABLE t{n}",
    "SELECT {n} INTO OUTFILE {s}",
    "CREATE TABLE t (a FLOAT({n}), b DECIMAL({n},{n}), c CHAR({n}) DEFAULT {s}) ENGINE={s}",
    "CREATE TABLE t (a INT) ENGINE=FEDERATED CONNECTION={s}",
    "SELECT * FROM t LIMIT {n}, {n}",
    "KILL {n}",
    "SELECT {n}e{n}, {n}e-{n}, 0x{n}, 0b{n}, {n}abc, N{s}, _utf8mb4{s}",
    "SELECT x{s}, b{s}, X{s}, B{s}",
    "SELECT @{n}, @a.{n}, @@{n}, @{s}, @ {n}",
    "CREATE DEFINER={s}@{s} VIEW v AS SELECT {n}",
    "CREATE USER {s}@localhost IDENTIFIED BY {s}",
    "SELECT `c{n}` FROM `t{n}` WHERE `a``b` = {s}",
    "HANDLER t READ `PRIMARY` = ({n})",
    "SELECT {n}{s}, {s}{n}, {n} - -{n}",
    "SELECT {n}--{n}",
    "SELECT * FROM t WHERE a = {n} -- {s}\n AND b = {n}",
    "SELECT /*!{n} {s} */ {n}",
    "EXPLAIN ANALYZE DELETE FROM t WHERE a = {n}",
    "DO SLEEP({n}), IF({n}, {s}, {s})",
    "SHOW COLUMNS FROM t{n} FROM db{n}",
    "{n}",
    "{s}; SELECT {n}",
]
# Texts the key must refuse or tell apart, because their lexing depends on their literals, or because the
# classifier reads a literal's value.
TRICKY = [
    "SELECT {s} {s}",
    "SELECT {s}\n{s}",
    "SELECT {n}{s}",
    "SELECT {s}{n}",
    "SELECT {n}b{s}",
    "SELECT b{s}",
    "SELECT x{s}",
    "SELECT N{s} || _binary{s}",
    "SELECT {n}x{n}",
    "SELECT {n}b{n}",
    "SELECT {n}e{n}",
    "SELECT {n}_{n}",
    "SELECT {n}abc, t{n}",
    "SELECT {n}.{n}e{n}",
    "SELECT .{n}, t.{n}",
    "SELECT * FROM db.{n}",
    "SELECT @{s}, @{n}",
    "SELECT {s}@{s}",
    "SELECT `{n}` FROM {s}",
    "SELECT 1 -- {s}\n, {n}",
    "SELECT /*{s}*/ {n}",
    "SELECT 1 # {s}\n{s}",
    "SELECT {n}--{n}",
    "SELECT a${n}, ${n}",
    'SELECT "a{s}" {s}',
    "{s}",
    "{n}",
    "SET NAMES {s}",
    "SET sql_mode = {s}",
    "SET sql_mode = {n}",
    "PREPARE s FROM {s}",
    "LOAD DATA LOCAL INFILE {s} INTO TABLE t{n}",
    "CREATE TABLE t (a INT) ENGINE={s}",
    "SELECT LOAD_FILE({s}), {n}",
]
_FIXED = [
    *"SELECT FROM WHERE AND OR NOT IN IS NULL LIMIT AS INSERT INTO VALUES UPDATE SET DELETE EXPLAIN ANALYZE".split(),
    *"DROP TABLE NAMES sql_mode PREPARE EXECUTE IMMEDIATE LOAD DATA LOCAL INFILE OUTFILE ENGINE KILL".split(),
    *"t t1 t2 tab secret.t db.t tmp_1 load_file lower sbtest1 id c 1abc".split(),
    *"N n B b X x _utf8mb4 e 0x 0b".split(),
    "`T1`",
    "`a``b`",
    "`x1`",
    *"= < > <= != <=> := + - * / % , . ( ) ; [ ] : | || & && ~ @ @@ ? ^ !".split(),
    *["'", '"', "`", "$", "$$", "--", "-- ", "#", "/*", "*/", "/*!", "\\", "{", "}", "é", "\x00", "\f"],
]
# A slot's values in the properties, and (fewer) in every combination on TRICKY.
_STRING_VALUE = string_values(
    ["", "!", "a", "1", "utf8mb4", "sjis", "ANSI_QUOTES", "SELECT 1", "DROP TABLE t", "federated"],
    ["a", "b", "1", "0", " ", "'", '"', "`", "--", "/*", "*/", "#", "$$", "!", "é", "€", "\n"],
)
_DIGITS_VALUE = digits_values(["0", "1", "7", "00", "007", "54", "999999999", "2147483647", "18446744073709551616"])
STRING_VALUES = ["", "a", "1", "'", "''", '"', "\\", "a\\", "*/", "\n", "é", "utf8mb4", "sjis", "NO_BACKSLASH_ESCAPES"]
STRING_VALUES += ["ANSI_QUOTES", "DROP TABLE t", "federated", "innodb", "/etc/passwd"]
DIGITS_VALUES = ["0", "1", "7", "54", "123456789", "1234567890", "18446744073709551616"]


def tokens(text: str) -> list[tuple[int, str]]:
    """The gateway's MySQL lexer: (kind, value) with the values of strings and numbers left out. A text with a key
    never makes the lexer report a problem."""
    lexed = lex(text)
    assert not lexed.problems, (text, lexed.problems)
    return [(t.kind, "" if t.kind == STR or t.kind == NUM else t.value) for t in lexed.tokens]


MY = Dialect(
    name="mysql",
    key=literal_key,
    classifier=mysql.classify,
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
    MY.check_exhaustively(template)


@SIBLINGS
@given(siblings(MY))
def test_one_key_means_one_token_sequence(texts: list[str]) -> None:
    for group in MY.by_key(texts):
        MY.check_one_token_sequence(group)


@SIBLINGS
@given(siblings(MY))
def test_one_key_means_one_shareable_result(texts: list[str]) -> None:
    for group in MY.by_key(texts):
        MY.check_one_shareable_result(group)


@SIBLINGS
@given(siblings(MY))
def test_cached_equals_cold_after_siblings(texts: list[str]) -> None:
    MY.check_cached_equals_cold(texts)


@settings(SIBLINGS, max_examples=150)
@given(siblings(MY))
def test_one_key_means_one_shape(texts: list[str]) -> None:
    """Texts with one key have one shape (the shape layer's key, made from the tokens) as well."""
    for group in MY.by_key(texts):
        assert len({mysql.shape(text) for text in group}) == 1, group
