"""Tests for interceptor.sql.mysql: MySQL/MariaDB statement classification. Fast, no server."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.model import Command, CommandKind
from interceptor.policy import EFFECTS
from interceptor.sql import cache_clear, cache_info, classify, classify_command, mysql

# (statement, effects, tables or None to skip, functions or None to skip)
CASES: list[tuple[str, set[str], set[str] | None, set[str] | None]] = [
    # reads, and text that only looks dangerous
    ("SELECT 1", {"select"}, set(), set()),
    ("SELECT 1; DROP TABLE t", {"select", "drop"}, {"t"}, None),
    ("SELECT 'DROP TABLE t'", {"select"}, set(), None),
    ('SELECT "DROP TABLE t"', {"select"}, set(), None),
    ("SELECT 1 # DROP TABLE t", {"select"}, set(), None),
    ("SELECT 1 #DROP TABLE t\n", {"select"}, set(), None),
    ("SELECT 1 -- DROP TABLE t", {"select"}, set(), None),
    ("SELECT 1--1", {"select"}, set(), None),
    ("SELECT 1--1, LOAD_FILE('/etc/passwd')", {"select", "file_read"}, set(), {"load_file"}),
    ("SELECT 1 --\tx\nFROM t", {"select"}, {"t"}, None),
    ("/* DROP TABLE t */ SELECT 1", {"select"}, set(), None),
    ("/* /* */ SELECT 1", {"select"}, set(), None),
    ("SELECT 'it''s'; DROP TABLE t", {"select", "drop"}, {"t"}, None),
    ("SELECT 'a\\';DROP TABLE t'", {"select"}, set(), None),
    ("SELECT 'a\\\\'; DROP TABLE t", {"select", "drop"}, {"t"}, None),
    ('SELECT "a""b"; DELETE FROM t', {"select", "delete"}, {"t"}, None),
    ("SELECT `DROP TABLE t` FROM `Db`.`Orders`", {"select"}, {"db.orders"}, None),
    ("SELECT $a$ FROM t; DROP TABLE x; SELECT $a$", {"select", "drop"}, {"t", "x"}, None),
    ("SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id), d", {"select"}, {"a", "b", "c", "d"}, None),
    ("SELECT * FROM t1 x, t2 AS y WHERE x.a IN (SELECT a FROM t3)", {"select"}, {"t1", "t2", "t3"}, None),
    ("SELECT * FROM (SELECT * FROM inner_t) d", {"select"}, {"inner_t"}, None),
    ("SELECT EXTRACT(YEAR FROM d), TRIM(LEADING 'x' FROM s) FROM t", {"select"}, {"t"}, {"extract", "trim"}),
    ("SELECT * FROM t FOR UPDATE", {"select"}, {"t"}, None),
    ("(SELECT a FROM t) UNION (TABLE u)", {"select"}, {"t", "u"}, None),
    ("WITH c AS (SELECT * FROM t) SELECT * FROM c", {"select"}, {"t"}, None),
    ("WITH c AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM c)", {"select", "delete"}, {"t"}, None),
    ("SELECT db.f(1), NOW()", {"select"}, set(), {"db.f", "f", "now"}),
    ("TABLE t", {"select"}, {"t"}, None),
    ("VALUES ROW(1, 2)", {"select"}, set(), None),
    ("DO SLEEP(1)", {"select"}, set(), {"sleep"}),
    ("DO LOAD_FILE('/etc/passwd')", {"select", "file_read"}, None, None),
    ("HANDLER t OPEN", {"select"}, {"t"}, None),
    ("SHOW TABLES", {"show"}, set(), None),
    ("SHOW COLUMNS FROM t FROM db", {"show"}, {"db.t"}, None),
    ("SHOW CREATE TABLE t", {"show"}, {"t"}, None),
    ("DESCRIBE t", {"show"}, {"t"}, None),
    # executable comments are code
    ("/*!50000DROP*/ TABLE t", {"drop"}, {"t"}, None),
    ("/*!DROP TABLE t*/", {"drop"}, {"t"}, None),
    ("/*M!100100 DROP TABLE t */", {"drop"}, {"t"}, None),
    ("SELECT 1 /*!, LOAD_FILE('x') */", {"select", "file_read"}, None, None),
    ("SELECT 1; /*!99999 DROP TABLE t */", {"select", "drop"}, {"t"}, None),
    ("/*!40101 SET NAMES utf8mb4 */", {"set"}, None, None),
    ("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", {"select"}, {"t"}, None),
    # empty texts
    ("", set(), set(), set()),
    ("  ;  ", set(), None, None),
    ("/* only a comment */ -- x", set(), None, None),
    # writes
    ("INSERT INTO t (a) VALUES (1)", {"insert"}, {"t"}, set()),
    ("INSERT t VALUES (1)", {"insert"}, {"t"}, None),
    ("INSERT INTO t SELECT * FROM u", {"insert", "select"}, {"t", "u"}, None),
    ("INSERT INTO t TABLE u", {"insert", "select"}, {"t", "u"}, None),
    ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)", {"insert", "update"}, {"t"}, None),
    ("REPLACE INTO t VALUES (1)", {"insert", "delete"}, {"t"}, None),
    ("REPLACE INTO t SELECT * FROM u", {"insert", "delete", "select"}, {"t", "u"}, None),
    ("UPDATE t SET a = 1 WHERE id = 2", {"update"}, {"t"}, None),
    ("UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.a", {"update"}, {"t1", "t2"}, None),
    ("UPDATE t SET a = LOAD_FILE('/etc/passwd')", {"update", "file_read"}, {"t"}, None),
    ("DELETE FROM s.t WHERE a = 1", {"delete"}, {"s.t"}, None),
    ("DELETE a, b FROM t1 a JOIN t2 b ON a.id = b.id", {"delete"}, {"t1", "t2"}, None),
    ("DELETE FROM t1, t2 USING t1 JOIN t2", {"delete"}, {"t1", "t2"}, None),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", {"copy_from", "file_read"}, {"t"}, None),
    ("LOAD DATA INFILE '/etc/passwd' REPLACE INTO TABLE t (a, b)", {"copy_from", "file_read", "delete"}, {"t"}, None),
    ("LOAD XML LOCAL INFILE 'x' INTO TABLE t", {"copy_from", "file_read"}, {"t"}, None),
    ("SELECT * FROM t INTO OUTFILE '/tmp/x'", {"select", "file_write"}, {"t"}, None),
    ("SELECT a INTO DUMPFILE '/tmp/x' FROM t", {"select", "file_write"}, {"t"}, None),
    ("SELECT a INTO @v FROM t", {"select"}, {"t"}, None),
    ("SELECT LOAD_FILE('/etc/passwd')", {"select", "file_read"}, set(), {"load_file"}),
    ("SELECT load_file ( '/etc/passwd' )", {"select", "file_read"}, None, None),
    ("SELECT `LOAD_FILE`('/etc/passwd')", {"select", "file_read"}, None, None),
    ("SELECT sys_exec('id')", {"select", "program"}, None, None),
    ("SELECT mydb.sys_eval('id')", {"select", "program"}, None, {"mydb.sys_eval", "sys_eval"}),
    # EXPLAIN
    ("EXPLAIN DELETE FROM t", {"explain"}, {"t"}, None),
    ("EXPLAIN SELECT LOAD_FILE('x')", {"explain"}, None, {"load_file"}),
    ("EXPLAIN ANALYZE DELETE FROM t", {"explain", "delete"}, {"t"}, None),
    ("EXPLAIN FORMAT=JSON UPDATE t SET a = 1", {"explain"}, {"t"}, None),
    ("ANALYZE DELETE FROM t", {"explain", "delete"}, {"t"}, None),
    ("ANALYZE TABLE t", {"admin"}, {"t"}, None),
    # code
    ("CALL db.proc(1)", {"call"}, None, {"db.proc", "proc"}),
    ("CALL sys.execute_prepared_stmt('DROP TABLE t')", {"call", "execute", "drop"}, {"t"}, None),
    ("CALL sys.execute_prepared_stmt(@q)", {"call", "execute"}, None, None),
    ("PREPARE s FROM 'DELETE FROM t WHERE a = ?'", {"prepare", "delete"}, {"t"}, None),
    ("PREPARE s FROM 'DROP ' 'TABLE t'", {"prepare", "drop"}, {"t"}, None),
    ("PREPARE s FROM @q", {"prepare", "execute"}, None, None),
    ("EXECUTE s USING @a", {"execute"}, None, None),
    ("EXECUTE IMMEDIATE 'TRUNCATE t'", {"execute", "truncate"}, {"t"}, None),
    ("EXECUTE IMMEDIATE CONCAT('DROP', ' TABLE t')", {"execute"}, None, {"concat"}),
    ("DEALLOCATE PREPARE s", {"prepare"}, None, None),
    ("DROP PREPARE s", {"prepare"}, None, None),
    (
        "SET @s=CONCAT('DR','OP TABLE t'); PREPARE s FROM @s; EXECUTE s",
        {"set", "prepare", "execute"},
        None,
        {"concat"},
    ),
    # stored programs: their bodies count
    ("CREATE PROCEDURE p() BEGIN DELETE FROM t; SELECT 1; END", {"create", "delete", "select"}, {"t"}, None),
    (
        "CREATE DEFINER=`root`@`%` PROCEDURE p(IN a INT) COMMENT 'x' "
        "BEGIN DECLARE c CURSOR FOR SELECT * FROM u; IF a > 0 THEN DROP TABLE t; END IF; END",
        {"create", "select", "drop"},
        {"t", "u"},
        None,
    ),
    ("CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC RETURN x + 1", {"create"}, None, None),
    (
        "CREATE FUNCTION f() RETURNS VARCHAR(10) CHARACTER SET utf8mb4 READS SQL DATA "
        "RETURN (SELECT LOAD_FILE('/etc/passwd'))",
        {"create", "select", "file_read"},
        None,
        None,
    ),
    ("CREATE FUNCTION sys_exec RETURNS INTEGER SONAME 'lib_mysqludf_sys.so'", {"create", "admin"}, None, None),
    ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1", {"create", "set"}, {"t"}, None),
    (
        "CREATE TRIGGER tr AFTER DELETE ON t FOR EACH ROW BEGIN INSERT INTO log VALUES (OLD.id); END",
        {"create", "insert"},
        {"t", "log"},
        None,
    ),
    ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO TRUNCATE TABLE t", {"create", "truncate"}, {"t"}, None),
    ("BEGIN NOT ATOMIC DELETE FROM t; END", {"delete"}, {"t"}, None),
    ("IF 1 THEN DROP TABLE t; END IF", {"drop"}, {"t"}, None),
    # DDL
    ("DROP TABLE IF EXISTS a, db.b", {"drop"}, {"a", "db.b"}, None),
    ("DROP DATABASE d", {"drop"}, set(), None),
    ("DROP INDEX i ON t", {"drop"}, {"t"}, None),
    ("TRUNCATE TABLE t", {"truncate"}, {"t"}, None),
    ("TRUNCATE t", {"truncate"}, {"t"}, None),
    ("RENAME TABLE a TO b", {"alter"}, {"a", "b"}, None),
    ("RENAME TABLE a TO b, c TO d", {"alter"}, {"a", "b", "c", "d"}, None),
    ("CREATE TABLE t (a INT(11) PRIMARY KEY, b VARCHAR(10), KEY k (b))", {"create"}, {"t"}, set()),
    ("CREATE TABLE t (a INT, FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE)", {"create"}, {"t", "u"}, None),
    ("CREATE TABLE t AS SELECT * FROM u", {"create", "select"}, {"t", "u"}, None),
    ("CREATE TABLE t LIKE u", {"create"}, {"t", "u"}, None),
    ("CREATE TABLE t (a INT) DATA DIRECTORY = '/tmp'", {"create", "file_write"}, {"t"}, None),
    ("CREATE TABLE t (a INT) ENGINE=FEDERATED CONNECTION='mysql://h/db/t'", {"create", "admin"}, {"t"}, None),
    (
        "CREATE TABLE t (a INT) ENGINE='CONNECT' TABLE_TYPE=CSV FILE_NAME='/etc/passwd'",
        {"create", "admin"},
        {"t"},
        None,
    ),
    ("CREATE TABLE t (a INT) ENGINE = `Spider`", {"create", "admin"}, {"t"}, None),
    ("ALTER TABLE t ENGINE 'federated'", {"alter", "admin"}, {"t"}, None),
    ("CREATE TABLE t (a INT) ENGINE='InnoDB'", {"create"}, {"t"}, None),
    ("SELECT * FROM db.5 JOIN `db`.`6`", {"select"}, {"db.5", "db.6"}, None),
    ("CREATE OR REPLACE VIEW v AS SELECT * FROM u", {"create", "select"}, {"v", "u"}, None),
    ("CREATE INDEX i ON t (a)", {"create"}, {"t"}, None),
    ("ALTER TABLE t ADD COLUMN c INT", {"alter"}, {"t"}, None),
    ("ALTER TABLE t RENAME TO u", {"alter"}, {"t", "u"}, None),
    ("ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u", {"alter"}, {"t", "u"}, None),
    ("CREATE USER 'u'@'%' IDENTIFIED BY 'pw'", {"create"}, None, None),
    ("ALTER USER 'u'@'%' IDENTIFIED BY 'pw'", {"alter"}, None, None),
    ("DROP USER u", {"drop"}, None, None),
    ("SET PASSWORD FOR 'u'@'%' = 'pw'", {"alter"}, None, None),
    ("GRANT SELECT, DELETE ON db.t TO 'u'@'%'", {"grant"}, {"db.t"}, None),
    ("GRANT ALL ON *.* TO u", {"grant"}, set(), None),
    ("REVOKE INSERT ON t FROM u", {"revoke"}, {"t"}, None),
    ("GRANT r1 TO u", {"grant"}, None, None),
    # server administration
    ("KILL 5", {"admin"}, None, None),
    ("KILL QUERY 5", {"admin"}, None, None),
    ("SHUTDOWN", {"admin"}, None, None),
    ("FLUSH TABLES t WITH READ LOCK", {"admin"}, {"t"}, None),
    ("RESET MASTER", {"admin"}, None, None),
    ("PURGE BINARY LOGS BEFORE NOW()", {"admin"}, None, None),
    ("SET GLOBAL max_connections = 1", {"set", "admin"}, None, None),
    ("SET @@global.max_connections = 1", {"set", "admin"}, None, None),
    ("SET PERSIST max_connections = 1", {"set", "admin"}, None, None),
    ("CHANGE MASTER TO MASTER_HOST = 'h'", {"admin"}, None, None),
    ("CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'h'", {"admin"}, None, None),
    ("START SLAVE", {"admin"}, None, None),
    ("STOP REPLICA", {"admin"}, None, None),
    ("INSTALL PLUGIN p SONAME 'p.so'", {"admin"}, None, None),
    ("UNINSTALL COMPONENT 'file://c'", {"admin"}, None, None),
    ("LOCK TABLES t READ, u WRITE", {"admin"}, {"t", "u"}, None),
    ("OPTIMIZE TABLE t", {"admin"}, {"t"}, None),
    # session
    ("SET NAMES utf8mb4", {"set"}, None, None),
    ("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", {"set"}, None, None),
    ("SET @a = 1, @b := 2", {"set"}, None, None),
    ("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'", {"set"}, None, None),
    ("SET sql_mode = DEFAULT", {"set"}, None, None),
    ("SET @a = (SELECT LOAD_FILE('x'))", {"set", "select", "file_read"}, None, None),
    ("USE db", {"set"}, None, None),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", {"transaction"}, None, None),
    ("SET GLOBAL TRANSACTION READ ONLY", {"transaction", "admin"}, None, None),
    ("BEGIN; DELETE FROM t; COMMIT", {"transaction", "delete"}, {"t"}, None),
    ("START TRANSACTION WITH CONSISTENT SNAPSHOT", {"transaction"}, None, None),
    ("SAVEPOINT s; ROLLBACK TO SAVEPOINT s; RELEASE SAVEPOINT s", {"transaction"}, None, None),
    ("XA START 'x'", {"transaction"}, None, None),
    ("UNLOCK TABLES", {"transaction"}, None, None),
    ("SET STATEMENT max_statement_time = 1 FOR DELETE FROM t", {"set", "delete"}, {"t"}, None),
    # parser-state settings
    ("SET NAMES sjis", {"set", "admin"}, None, None),
    ("SET NAMES 'GBK'", {"set", "admin"}, None, None),
    ("SET CHARACTER SET big5", {"set", "admin"}, None, None),
    ("SET character_set_client = cp932", {"set", "admin"}, None, None),
    ("SET collation_connection = gb18030_chinese_ci", {"set", "admin"}, None, None),
    ("SET sql_mode='NO_BACKSLASH_ESCAPES'", {"set", "admin"}, None, None),
    ("SET @@session.sql_mode = 'ANSI'", {"set", "admin"}, None, None),
    ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,ansi_quotes'", {"set", "admin"}, None, None),
    ("SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", {"set", "admin"}, None, {"concat"}),
    ("SET sql_mode = @m", {"set", "admin"}, None, None),
    ("SET GLOBAL sql_mode = 'ANSI_QUOTES'", {"set", "admin"}, None, None),
    ("SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT 1", {"set", "admin", "select"}, None, None),
    # not understood
    ("SELEC 1", {"unknown"}, None, None),
    ("SELECT 'unterminated", {"select", "unknown"}, None, None),
    ("SELECT 1 /* unterminated", {"select", "unknown"}, None, None),
    ("SELECT (1", {"select", "unknown"}, None, None),
    ("SELECT 1\x00; DROP TABLE t", {"unknown"}, None, None),
    ("/*! SELECT '*/' */ DROP TABLE t", {"unknown", "select"}, {"t"}, None),
    ("/*!99999 SELECT '*/ DROP TABLE t; SELECT ' */", {"unknown", "select"}, set(), None),
    ("/*!99999 ' */ DROP TABLE t; ' */", {"unknown"}, None, None),
    ("/*! SELECT 1 # */ DROP TABLE t\n */", {"unknown", "select"}, None, None),
    ("SELECT /*+ SET_VAR(x=' */ ; DROP TABLE t; -- ') */ 1", {"unknown", "select", "drop"}, None, None),
    ("SELECT 1 --\u00a0'\n; DROP TABLE t; -- '", {"unknown", "select"}, None, None),
    ("DELIMITER $$", {"unknown"}, None, None),
    ("CREATE PROCEDURE p() LANGUAGE JAVASCRIPT AS $$ return 1 $$", {"create", "unknown"}, None, None),
]


@pytest.mark.parametrize(("sql", "effects", "tables", "functions"), CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_classify(sql: str, effects: set[str], tables: set[str] | None, functions: set[str] | None) -> None:
    info = classify(sql, "mysql")
    assert info.effects == effects, info
    if tables is not None:
        assert info.tables == tables, info
    if functions is not None:
        assert functions <= info.functions, info
    assert info.effects <= EFFECTS
    assert ("unknown" in info.effects) == bool(info.reason)


def test_statement_counts() -> None:
    assert classify("", "mysql").statements == 0
    assert classify("/* x */ # y", "mysql").statements == 0
    assert classify("SELECT 1", "mysql").statements == 1
    assert classify("SELECT 1;; SELECT 2; SELECT 3;", "mysql").statements == 3
    assert (
        classify("CREATE PROCEDURE p() BEGIN SELECT 1; IF a THEN SELECT 2; END IF; END; SELECT 3", "mysql").statements
        == 2
    )
    assert classify("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; SELECT 3", "mysql").statements == 2
    assert classify("SELECT CASE WHEN a THEN IF(b, 1, 2) END; DROP TABLE t", "mysql").statements == 2
    assert classify("BEGIN; SELECT 1; COMMIT", "mysql").statements == 3
    assert classify("PREPARE s FROM 'SELECT 1; SELECT 2'", "mysql").statements == 1


def test_detail() -> None:
    local = {"local": True, "files": ("x",)}
    assert classify("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", "mysql").detail["load_data"] == local
    assert classify("LOAD DATA INFILE 'x' INTO TABLE t", "mysql").detail["load_data"] == {"local": False, "files": ()}
    # the file name is a constant the result depends on: a statement of the same shape must not reuse it
    other = classify("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", "mysql").detail["load_data"]
    assert other == {"local": True, "files": ("/etc/passwd",)}
    escaped = classify("LOAD DATA LOCAL INFILE 'it''s\\n.csv' INTO TABLE t", "mysql").detail["load_data"]
    assert escaped["files"] == ("it's\n.csv",)  # MySQL's escapes: \\n is a newline
    assert classify("EXECUTE s", "mysql").detail["dynamic"] is True
    assert classify("PREPARE s FROM @v", "mysql").detail["dynamic"] is True
    assert "dynamic" not in classify("PREPARE s FROM 'SELECT 1'", "mysql").detail
    assert classify("SELECT 1", "mysql").detail == {}
    for sql in ["SET NAMES sjis", "SET sql_mode='NO_BACKSLASH_ESCAPES'", "SET sql_mode = 4", "SET NAMES @x"]:
        info = classify(sql, "mysql")
        assert info.detail["parser_state"], sql
        assert "admin" in info.effects, sql
    for sql in ["SET NAMES utf8mb4", "SET sql_mode = ''", "SET sql_mode = 0", "SET NAMES DEFAULT", "SET @x = 'sjis'"]:
        assert "parser_state" not in classify(sql, "mysql").detail, sql


def test_unknown_reasons() -> None:
    assert classify("SELEC 1", "mysql").reason == "unrecognised statement SELEC"
    assert "NUL" in classify("SELECT 1\x00", "mysql").reason
    assert "unterminated string" in classify("SELECT 'x", "mysql").reason
    assert "executable comment" in classify("/*! SELECT 1", "mysql").reason


def test_deep_and_long_texts() -> None:
    assert classify("SELECT " + "(" * 5000 + "1" + ")" * 5000, "mysql").effects == {"unknown"}
    deep = "SELECT * FROM " + "(" * 99 + "SELECT 1 FROM t" + ")" * 99
    assert classify(deep, "mysql").tables == {"t"}
    cte = "WITH a0 AS (SELECT 1) " + "".join(f", a{i} AS (WITH b{i} AS (SELECT 1) SELECT 1)" for i in range(1, 50))
    assert classify(cte + " SELECT * FROM x", "mysql").tables == {"x"}
    text = "DROP TABLE t"
    for name in "stuv":
        text = f"PREPARE {name} FROM '" + text.replace("'", "''") + "'"
    assert "unknown" in classify(text, "mysql").effects
    many = "SELECT 1 FROM " + ", ".join(f"t{i}" for i in range(5000))
    assert len(classify(many, "mysql").tables) == 5000
    assert classify("SELECT '" + "a" * 100_000, "mysql").effects == {"select", "unknown"}


def test_dispatch() -> None:
    assert classify("DELETE FROM t", "mysql").effects == {"delete"}
    query = Command("s1", 1, CommandKind.QUERY, "/*!50000DROP*/ TABLE t", "mysql")
    assert classify_command(query).effects == {"drop"}
    assert classify("/*!50000 DROP TABLE t */ SELECT 1").effects == {"select"}  # PostgreSQL: a comment


# -- caching ---------------------------------------------------------------------------------------------------------


def test_shape_layer() -> None:
    cache_clear()
    first = classify("SELECT * FROM orders WHERE id = 1", "mysql")
    assert classify("SELECT * FROM orders WHERE id = 1", "mysql") is first
    assert classify("select  *  from orders /* c */ where id = 2", "mysql") is first
    assert cache_info()["shape_hits"] == 1
    assert classify("SELECT * FROM secret.orders WHERE id = 1", "mysql").tables == {"secret.orders"}
    assert classify("SELECT * FROM `Orders` WHERE id = 1", "mysql").tables == {"orders"}
    assert mysql.shape("SELECT 'x") is None


def test_constant_dependent_results_are_not_shared() -> None:
    cache_clear()
    assert mysql.shape("SET NAMES 'utf8'") == mysql.shape("SET NAMES 'sjis'")
    assert classify("SET NAMES 'utf8'", "mysql").effects == {"set"}
    assert classify("SET NAMES 'sjis'", "mysql").effects == {"set", "admin"}
    assert classify("PREPARE s FROM 'SELECT 1'", "mysql").effects == {"prepare", "select"}
    assert classify("PREPARE s FROM 'DROP TABLE t'", "mysql").effects == {"prepare", "drop"}
    # the shape blanks numbers, but MySQL reads the digits after a name's dot as a name: db.5 is table 5 of db
    assert mysql.shape("SELECT * FROM db.5") == mysql.shape("SELECT * FROM db.6")
    assert classify("SELECT * FROM db.5", "mysql").tables == {"db.5"}
    assert classify("SELECT * FROM db.6", "mysql").tables == {"db.6"}
    assert classify("INSERT INTO db.6 VALUES (1)", "mysql").tables == {"db.6"}
    assert classify("INSERT INTO db.7 VALUES (1)", "mysql").tables == {"db.7"}
    # a statement that starts with a literal is unknown, with the literal in the reason
    assert classify("5", "mysql").reason == "unrecognised statement '5'"
    assert classify("6", "mysql").reason == "unrecognised statement '6'"
    assert classify("'a'; SELECT 1", "mysql").reason == "unrecognised statement \"'a'\""
    assert classify("'b'; SELECT 1", "mysql").reason == "unrecognised statement \"'b'\""
    # ENGINE = 'name' (a string) decides whether the table reaches other servers or files
    assert classify("CREATE TABLE t (a INT) ENGINE='InnoDB'", "mysql").effects == {"create"}
    assert classify("CREATE TABLE t (a INT) ENGINE='FEDERATED'", "mysql").effects == {"create", "admin"}


_constant = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["'utf8mb4'", "'sjis'", "'ANSI_QUOTES'", "''", "'DROP TABLE t'", '"x"', "'a\\'b'", "DEFAULT"]),
    st.text(alphabet=string.ascii_letters + ",;|' ", min_size=1, max_size=4).map(lambda s: "'" + s + "'"),
)
TEMPLATES = [
    "SELECT * FROM orders WHERE id = {0}",
    "SELECT * FROM s{0}.t WHERE a = {1}",
    "SET NAMES {0}",
    "SET sql_mode = {0}",
    "SET @@session.character_set_client = {0}",
    "PREPARE s FROM {0}",
    "EXECUTE IMMEDIATE {0}",
    "DELETE FROM t WHERE a = {0}; SET NAMES {1}",
    "SELECT {0} INTO OUTFILE {1}",
    "SELECT * FROM db.{0}",
    "{0}",
    "CREATE TABLE t (a INT) ENGINE={0}",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEMPLATES), _constant, _constant)
def test_cached_equals_cold(template: str, a: str, b: str) -> None:
    """Whatever the caches hold, a statement classifies exactly as a cold read of its own text does."""
    sql = template.format(a, b)
    cold = mysql.classify(sql)[0]
    assert classify(sql, "mysql") == cold
    assert classify(sql, "mysql") == cold


# -- properties ------------------------------------------------------------------------------------------------------

BLOCKED = [
    (["DROP", "TABLE", "t"], "drop"),
    (["TRUNCATE", "TABLE", "t"], "truncate"),
    (["DELETE", "FROM", "t", "WHERE", "a", "=", "1"], "delete"),
    (["SELECT", "LOAD_FILE", "(", "'/etc/passwd'", ")"], "file_read"),
    (["SELECT", "1", ";", "DROP", "TABLE", "t"], "drop"),
    (["SELECT", "a", "FROM", "t", "INTO", "OUTFILE", "'/tmp/x'"], "file_write"),
]
_comment_text = st.text(alphabet=string.ascii_letters + string.digits + " ;'\"`", max_size=12)
_separator = st.one_of(
    st.text(alphabet=" \t\n\r\f", min_size=1, max_size=4),
    _comment_text.map(lambda c: f"/* {c} */"),
    _comment_text.map(lambda c: f"# {c}\n"),
    _comment_text.map(lambda c: f" -- {c}\n"),
    st.sampled_from(["/*!*/", "/*!50000*/", "/*M!*/", "/*!*/ ", " /*! */ "]),
)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    tokens, effect = draw(st.sampled_from(BLOCKED))
    out = [draw(st.sampled_from(["", " ", "/* x */", "\n", "# x\n", "/*!*/"]))]
    for i, token in enumerate(tokens):
        if not token.startswith("'"):
            token = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in token)
        out.append(token)
        if i < len(tokens) - 1:
            out.append(draw(_separator))
    out.append(draw(st.sampled_from(["", ";", " ; ", "-- done", "# done", "/* end */"])))
    return "".join(out), effect


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_disguised_blocked_statements_keep_their_effect(case: tuple[str, str]) -> None:
    sql, effect = case
    info = classify(sql, "mysql")
    assert effect in info.effects, (sql, info)
    assert "unknown" not in info.effects, (sql, info)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    info = classify(text, "mysql")
    assert info.effects <= EFFECTS
    assert "classifier error" not in info.reason


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="selctdropfumwhinaqkgv*();,'\"`#$@!/-=1 \nSELCTDROPBEGNIF", max_size=60))
def test_never_raises_on_sql_like_text(text: str) -> None:
    info = classify(text, "mysql")
    assert info.effects <= EFFECTS
    assert "classifier error" not in info.reason
