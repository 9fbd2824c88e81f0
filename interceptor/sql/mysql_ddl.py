"""MySQL/MariaDB DDL and account statements.

==============================================================  ==================================================
statement                                                       effects
==============================================================  ==================================================
CREATE TABLE / INDEX / VIEW / DATABASE / SEQUENCE / ROLE ...    create (``CREATE TABLE ... SELECT`` and ``CREATE
                                                                VIEW ... AS SELECT``: also select)
CREATE USER                                                     create (an account, like PostgreSQL's CREATE ROLE)
CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT                   create + the body's effects (stored code runs
                                                                later: the gateway cannot tell when)
CREATE FUNCTION ... SONAME 'lib'                                create, admin (loads a shared library: a UDF)
CREATE SERVER; a table with CONNECTION= or ENGINE=FEDERATED /   create (alter), admin (they reach other servers
FEDERATEDX / CONNECT / SPIDER                                   or files through the database server)
CREATE TABLESPACE / LOGFILE GROUP; DATA / INDEX DIRECTORY=      create (alter), file_write (server paths)
ALTER TABLE / VIEW / EVENT / USER / DATABASE / ...              alter (EVENT ... DO: also the body's effects)
ALTER INSTANCE                                                  admin
RENAME TABLE a TO b; RENAME USER; SET PASSWORD                  alter (RENAME reports both names: replacing a
                                                                table by renaming another onto it counts)
DROP TABLE / VIEW / INDEX / DATABASE / USER / ROLE / ...        drop; DROP PREPARE: prepare
TRUNCATE [TABLE] t                                              truncate
GRANT / REVOKE (privileges, roles, PROXY)                       grant / revoke (``ON db.t`` is reported)
==============================================================  ==================================================

Stored program bodies are found after the routine header (parameters, RETURNS type, characteristics), after
``FOR EACH ROW [FOLLOWS|PRECEDES t]`` or after an event's ``DO``; a body that cannot be found, or is written in
another language (MySQL's ``LANGUAGE JAVASCRIPT``) or an Oracle-mode package, is ``unknown``.
"""

from __future__ import annotations

from interceptor.sql.mysql_flow import LEADERS, leader, piece
from interceptor.sql.mysql_lexer import QID, STR, VAR, WORD, string_value
from interceptor.sql.mysql_walk import Walk

_PREFIXES = frozenset(
    "or replace temporary aggregate unique fulltext spatial online offline ignore undo external".split()
)
_REMOTE_ENGINES = frozenset({"federated", "federatedx", "connect", "spider"})
_OBJECTS = frozenset(
    """database schema user role procedure function trigger event server tablespace logfile spatial resource
    library synonym sequence view table tables index package instance""".split()
)
_FLOW = frozenset({"begin", "if", "case", "while", "loop", "repeat", "declare", "for"})


def _if_exists(w: Walk, j: int) -> int:
    if w.word(j) == "if" and w.word(j + 1) in ("exists", "not"):
        return j + (2 if w.word(j + 1) == "exists" else 3)
    return j


def _skip_prefix(w: Walk, j: int, end: int) -> int:
    """Skip OR REPLACE, TEMPORARY, DEFINER = user, ALGORITHM = x, SQL SECURITY x ... before the object kind."""
    while j < end:
        v = w.word(j)
        if v in _PREFIXES:
            j += 1
        elif v in ("definer", "algorithm") and w.op(j + 1, "="):
            j += 2
            if w.word(j) == "current_user":
                j += 3 if w.op(j + 1, "(") else 1
            else:
                j += 1
                if j < end and w.toks[j].kind == VAR:  # the @'host' of 'user'@'host'
                    j += 1
        elif v == "sql" and w.word(j + 1) == "security":
            j += 3
        else:
            break
    return j


def _named_table(w: Walk, j: int, end: int) -> int:
    """Report the table named at ``j`` (after IF [NOT] EXISTS); returns the index after it."""
    j = _if_exists(w, j)
    if j < end and w.is_name(j):
        name, j = w.name_at(j, end)
        w.table(name, w.scope)
    return j


def _table_options(w: Walk, j: int, end: int) -> None:
    """DATA / INDEX DIRECTORY (server paths), CONNECTION and remote engines, outside the column list."""
    while j < end:
        if w.op(j, "("):
            j = w.close[j] + 1
            continue
        v = w.word(j)
        if v == "directory" and w.word(j - 1) in ("data", "index"):
            w.add("file_write")
        elif v == "connection" and (w.op(j + 1, "=") or (j + 1 < end and w.toks[j + 1].kind == STR)):
            w.add("admin")
        elif v == "engine" and _engine(w, j + 2 if w.op(j + 1, "=") else j + 1, end) in _REMOTE_ENGINES:
            w.add("admin")
        j += 1


def _engine(w: Walk, j: int, end: int) -> str:
    """The storage engine named at ``j`` (lower case): a name, or a string (``ENGINE='FEDERATED'``)."""
    if j >= end:
        return ""
    t = w.toks[j]
    if t.kind == STR:
        w.result.constants = True  # a literal's value decides
        return string_value(t.value).strip().lower()
    return t.value.lower() if t.kind == WORD or t.kind == QID else ""


def _routine_body(w: Walk, j: int, end: int) -> int | None:
    """Where a PROCEDURE / FUNCTION body starts: after its name, parameters, RETURNS type and characteristics."""
    j = _if_exists(w, j)
    if not w.is_name(j):
        return None
    j = w.name_at(j, end)[1]
    if w.op(j, "("):
        j = w.close[j] + 1
    starts = _FLOW.union(LEADERS)
    while j < end:
        v = w.word(j)
        if v == "language" and w.word(j + 1) != "sql":
            w.unknown(f"a stored program in LANGUAGE {w.word(j + 1).upper()} is not read")
            return end
        if (v in starts and not (v == "set" and (w.op(j + 1, "(") or w.word(j - 1) == "character"))) or (
            w.is_name(j) and w.op(j + 1, ":")
        ):
            return j
        j = w.close[j] + 1 if w.op(j, "(") else j + (2 if v == "comment" else 1)
    return None


def _body(w: Walk, start: int | None, end: int, what: str) -> None:
    if start is None or start >= end:
        w.unknown(f"the {what} body could not be found")
    else:
        piece(w, start, end)


@leader("create")
def _create(w: Walk, i: int, end: int) -> None:
    j = _skip_prefix(w, i + 1, end)
    obj = w.word(j)
    w.add("create")
    if obj == "table":
        k = _named_table(w, j + 1, end)
        like = k + 1 if w.word(k) == "like" else k + 2 if w.op(k, "(") and w.word(k + 1) == "like" else -1
        if like > 0 and w.is_name(like):
            w.table(w.name_at(like, end)[0], w.scope)
        _table_options(w, k, end)
        w.scan(k, end)
    elif obj == "index":
        on = w.find(j + 1, end, frozenset({"on"}))
        w.scan(_named_table(w, on + 1, end), end)
    elif obj in ("view", "sequence"):
        w.scan(_named_table(w, j + 1, end), end)
    elif obj == "function" and w.find(j, end, frozenset({"soname"})) < end:
        w.add("admin")
    elif obj in ("procedure", "function"):
        _body(w, _routine_body(w, j + 1, end), end, obj)
    elif obj == "trigger":
        on = w.find(j + 1, end, frozenset({"on"}))
        _named_table(w, on + 1, end)
        row = w.find(on, end, frozenset({"row"})) + 1  # FOR EACH ROW
        if w.word(row) in ("follows", "precedes"):
            row += 2
        _body(w, row if row <= end else None, end, "trigger")
    elif obj == "event":
        do = w.find(j + 1, end, frozenset({"do"}))
        w.scan(j + 1, do)
        _body(w, do + 1 if do < end else None, end, "event")
    elif obj == "server":
        w.add("admin")
    elif obj in ("tablespace", "logfile"):
        w.add("file_write")
    elif obj == "package":
        w.unknown("Oracle-mode package bodies are not read")
    elif obj not in _OBJECTS:
        w.unknown(f"unrecognised statement CREATE {obj.upper() or '...'}")


@leader("alter")
def _alter(w: Walk, i: int, end: int) -> None:
    j = _skip_prefix(w, i + 1, end)
    obj = w.word(j)
    if obj == "instance":
        w.add("admin")
        return
    w.add("alter")
    if obj == "table":
        k = _named_table(w, j + 1, end)
        _table_options(w, k, end)
        r = w.find(k, end, frozenset({"rename"}))
        while r < end:  # RENAME [TO|AS] new_name (not RENAME COLUMN / INDEX / KEY)
            n = r + 1 + (w.word(r + 1) in ("to", "as"))
            if w.word(n) not in ("column", "index", "key") and w.is_name(n):
                w.table(w.name_at(n, end)[0], w.scope)
            r = w.find(n, end, frozenset({"rename"}))
        w.scan(k, end)
    elif obj in ("view", "sequence"):
        w.scan(_named_table(w, j + 1, end), end)
    elif obj == "event":
        do = w.find(j + 1, end, frozenset({"do"}))
        w.scan(j + 1, do)
        if do < end:
            _body(w, do + 1, end, "event")
    elif obj == "server":
        w.add("admin")
    elif obj not in _OBJECTS:
        w.unknown(f"unrecognised statement ALTER {obj.upper() or '...'}")


@leader("drop")
def _drop(w: Walk, i: int, end: int) -> None:
    j = i + 1
    while w.word(j) in ("temporary", "online", "offline", "undo"):
        j += 1
    obj = w.word(j)
    if obj == "prepare":  # DROP PREPARE is DEALLOCATE PREPARE
        w.add("prepare")
        return
    w.add("drop")
    if obj in ("table", "tables", "view", "sequence"):
        w.scan(w.table_list(j + 1, end, w.scope), end)
    elif obj == "index":
        _named_table(w, w.find(j + 1, end, frozenset({"on"})) + 1, end)
    elif obj not in _OBJECTS:
        w.unknown(f"unrecognised statement DROP {obj.upper() or '...'}")


@leader("truncate")
def _truncate(w: Walk, i: int, end: int) -> None:
    w.add("truncate")
    _named_table(w, i + 2 if w.word(i + 1) == "table" else i + 1, end)


@leader("rename")
def _rename(w: Walk, i: int, end: int) -> None:
    w.add("alter")
    obj = w.word(i + 1)
    if obj in ("table", "tables"):
        k = i + 2
        while k < end:  # a TO b, c TO d
            k = w.table_list(k, end, w.scope)
            if w.word(k) != "to":
                break
            k += 1
    elif obj != "user":
        w.unknown(f"unrecognised statement RENAME {obj.upper() or '...'}")


@leader("grant", "revoke")
def _grant(w: Walk, i: int, end: int) -> None:
    """Privilege lists name statements (GRANT SELECT, DELETE ON ...): they are not walked."""
    w.add(w.word(i))
    on = w.find(i + 1, end, frozenset({"on"}))
    if on >= end:
        return  # GRANT role TO user
    k = on + 1
    kind = w.word(k)
    if kind in ("function", "procedure", "package"):
        return
    if kind == "table":
        k += 1
    if w.is_name(k):
        name, after = w.name_at(k, end)
        if not w.op(after, "."):  # db.* is not a table
            w.table(name, frozenset())
