"""The effect of every MySQL/MariaDB statement (the policy vocabulary of ``interceptor.policy.EFFECTS``).

A text with several statements carries all of their effects. DDL is in :mod:`interceptor.sql.mysql_ddl`, SET in
:mod:`interceptor.sql.mysql_settings`, function calls in :mod:`interceptor.sql.mysql_functions`.

==============================================================  ==================================================
statement                                                       effects
==============================================================  ==================================================
SELECT, VALUES, TABLE t, DO expr, HANDLER, FETCH, CHECKSUM      select (DO evaluates expressions: ``DO SLEEP(1)``,
TABLE                                                           ``DO LOAD_FILE(x)`` count their functions)
SELECT ... INTO OUTFILE / DUMPFILE                              select, file_write
WITH ... (CTEs)                                                 the main statement's effects (+ select)
INSERT / UPDATE / DELETE                                        insert / update / delete; ``INSERT ... ON
                                                                DUPLICATE KEY UPDATE`` also update
REPLACE                                                         insert, delete (it deletes the rows it replaces)
LOAD DATA / LOAD XML [LOCAL] INFILE                             copy_from, file_read (LOCAL: the client's file,
                                                                else the server's); REPLACE: also delete;
                                                                ``detail["load_data"] = {"local": ...}``
EXPLAIN / DESCRIBE stmt                                         explain; stmt's effects only with ANALYZE (its
                                                                tables and functions are always reported)
EXPLAIN t, DESCRIBE t, SHOW ..., HELP                           show
MariaDB ANALYZE stmt                                            explain + stmt's effects (it runs stmt)
CALL p()                                                        call (+ :mod:`~.mysql_functions` procedures)
PREPARE s FROM 'text'                                           prepare + the text's effects
PREPARE s FROM @v / expression                                  prepare, execute; ``detail["dynamic"] = True``
EXECUTE s, MariaDB EXECUTE IMMEDIATE expr                       execute; ``detail["dynamic"] = True``
EXECUTE IMMEDIATE 'text'                                        execute + the text's effects
DEALLOCATE PREPARE, DROP PREPARE                                prepare
SET ..., USE db                                                 set (see :mod:`~.mysql_settings`)
BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT,          transaction
RELEASE SAVEPOINT, XA ..., UNLOCK TABLES / INSTANCE
LOCK TABLES, LOCK INSTANCE FOR BACKUP, MariaDB BACKUP           admin (an explicit lock stalls other sessions)
KILL, SHUTDOWN, RESTART, FLUSH, RESET, PURGE, CHANGE MASTER /   admin
REPLICATION SOURCE / FILTER, START / STOP SLAVE / REPLICA /
GROUP_REPLICATION, INSTALL / UNINSTALL PLUGIN / COMPONENT /
SONAME, CACHE INDEX, LOAD INDEX, BINLOG, OPTIMIZE / REPAIR /
CHECK / ANALYZE TABLE
CLONE                                                           admin, file_write (it replaces a data directory)
IMPORT TABLE FROM 'file'                                        create, file_read
RETURN, OPEN, CLOSE, LEAVE, ITERATE, SIGNAL, RESIGNAL, GET      nothing of their own (stored-program flow);
DIAGNOSTICS                                                     their expressions are walked
anything else, or text the lexer cannot read                    unknown (with a reason)
==============================================================  ==================================================

Choices: LOCK TABLES is admin like PostgreSQL's LOCK; UNLOCK releases only the session's own locks, so it is
transaction. CHECK TABLE is admin (it takes locks and may mark tables), CHECKSUM TABLE only reads. ``EXPLAIN t`` /
``DESCRIBE t`` is SHOW COLUMNS, so show. MySQL's EXPLAIN ANALYZE runs the statement, so its effects count.
"""

from __future__ import annotations

from interceptor.sql.mysql_flow import leader, simple, text
from interceptor.sql.mysql_functions import procedure_effects
from interceptor.sql.mysql_lexer import STR, VAR, string_value
from interceptor.sql.mysql_settings import set_statement
from interceptor.sql.mysql_walk import QUERY_STARTS, Walk

_EXPLAINABLE = QUERY_STARTS | {"insert", "replace", "update", "delete"}


@leader("select")
def _select(w: Walk, i: int, end: int) -> None:
    w.scan(i, end)  # SELECT itself adds "select"


@leader("values", "do", "fetch", "checksum")
def _reads(w: Walk, i: int, end: int) -> None:
    w.add("select")
    w.scan(i + 1, end)


@leader("table")
def _table(w: Walk, i: int, end: int) -> None:
    w.add("select")
    w.scan(i, end)


@leader("with")
def _with(w: Walk, i: int, end: int) -> None:
    k, scope = w.ctes(i, end, w.scope)
    if k == i + 1:
        w.unknown("WITH without a readable CTE list")
        w.scan(k, end)
        return
    w.scope = scope
    if k < end:
        simple(w, k, end)


@leader("insert", "replace")
def _insert(w: Walk, i: int, end: int) -> None:
    w.add("insert")
    if w.word(i) == "replace":
        w.add("delete")
    j = i + 1
    while w.word(j) in ("low_priority", "delayed", "high_priority", "ignore"):
        j += 1
    if w.word(j) == "into":
        j += 1
    if j < end and w.is_name(j):
        name, j = w.name_at(j, end)
        w.table(name, w.scope)
    k = j
    while w.word(k) == "partition" or w.op(k, "("):
        k = w.close[k] + 1 if w.op(k, "(") else k + 1
    if w.word(k) == "table":  # INSERT INTO t TABLE u
        w.add("select")
    w.scan(j, end)


@leader("update")
def _update(w: Walk, i: int, end: int) -> None:
    w.add("update")
    j = i + 1
    while w.word(j) in ("low_priority", "ignore"):
        j += 1
    w.scan(w.table_list(j, end, w.scope), end)


@leader("delete")
def _delete(w: Walk, i: int, end: int) -> None:
    """DELETE's targets (``DELETE a, b FROM ...``) must be tables or aliases of its table references, which the
    FROM / USING lists report."""
    w.add("delete")
    j = i + 1
    while w.word(j) in ("low_priority", "quick", "ignore", "history"):
        j += 1
    w.scan(j, end)


@leader("load")
def _load(w: Walk, i: int, end: int) -> None:
    kind = w.word(i + 1)
    if kind == "index":  # LOAD INDEX INTO CACHE
        w.add("admin")
        w.scan(i + 2, end)
        return
    into = w.find(i + 1, end, frozenset({"into"}))
    head = {w.word(k) for k in range(i + 1, into)}
    if kind not in ("data", "xml") or "infile" not in head:
        w.unknown(f"LOAD {kind.upper()} without INFILE is not understood")
        w.scan(i + 1, end)
        return
    w.add("copy_from", "file_read")
    if "replace" in head:
        w.add("delete")
    local = "local" in head
    w.result.loads.append(local)
    if local:  # the file the statement names: the only one the relay lets the server ask the client for
        at = w.find(i + 1, into, frozenset({"infile"})) + 1
        if at < into and w.toks[at].kind == STR:
            w.result.files.append(string_value(w.toks[at].value))
            w.result.constants = True  # the result names a constant: not shared by statements of its shape
    j = into + 1
    if w.word(j) == "table":
        j += 1
    if j < end and w.is_name(j):
        name, j = w.name_at(j, end)
        w.table(name, w.scope)
    w.scan(j, end)


@leader("call")
def _call(w: Walk, i: int, end: int) -> None:
    w.add("call")
    if not w.is_name(i + 1):
        w.unknown("CALL without a procedure name")
        return
    name, j = w.name_at(i + 1, end)
    bare = name.rsplit(".", 1)[-1]
    w.result.functions.update((name, bare))
    effects = procedure_effects(bare)
    w.add(*effects)
    if "execute" in effects:  # sys.execute_prepared_stmt('text') runs its argument
        if w.op(j, "(") and w.close[j] == j + 2 and w.toks[j + 1].kind == STR:
            text(w, string_value(w.toks[j + 1].value))
        elif not w.quiet:
            w.result.dynamic = True
    w.scan(j, end)


def _source(w: Walk, j: int, end: int, what: str) -> None:
    """The SQL text a PREPARE or EXECUTE IMMEDIATE runs: a literal is classified, anything else is dynamic."""
    if j < end and all(t.kind == STR for t in w.toks[j:end]):
        text(w, "".join(string_value(t.value) for t in w.toks[j:end]))
    elif j < end:
        w.add("execute")
        w.result.dynamic = True
        if w.toks[j].kind != VAR:
            w.scan(j, end)  # MariaDB: an expression
    else:
        w.unknown(f"{what} without a statement text")


@leader("prepare")
def _prepare(w: Walk, i: int, end: int) -> None:
    w.add("prepare")
    if w.word(i + 2) != "from":
        w.unknown("PREPARE without FROM")
        return
    _source(w, i + 3, end, "PREPARE")


@leader("execute")
def _execute(w: Walk, i: int, end: int) -> None:
    w.add("execute")
    if w.word(i + 1) == "immediate":
        _source(w, i + 2, end, "EXECUTE IMMEDIATE")
        return
    w.result.dynamic = True
    w.scan(i + 2, end)  # USING @a, @b


@leader("deallocate")
def _deallocate(w: Walk, i: int, end: int) -> None:
    w.add("prepare")


@leader("set")
def _set(w: Walk, i: int, end: int) -> None:
    inner = set_statement(w, i, end)
    if inner is not None and inner < end:
        simple(w, inner, end)


@leader("use")
def _use(w: Walk, i: int, end: int) -> None:
    w.add("set")


@leader("begin", "commit", "rollback", "savepoint", "release", "xa", "unlock")
def _transaction(w: Walk, i: int, end: int) -> None:
    w.add("transaction")


@leader("start")
def _start(w: Walk, i: int, end: int) -> None:
    w.add("transaction" if w.word(i + 1) == "transaction" else "admin")  # START SLAVE / REPLICA / ...


@leader(
    "lock", "backup", "kill", "shutdown", "restart", "flush", "reset", "purge", "change", "stop", "install",
    "uninstall", "cache", "binlog", "optimize", "repair", "check",
)  # fmt: skip
def _admin(w: Walk, i: int, end: int) -> None:
    w.add("admin")
    w.scan(i + 1, end)


@leader("clone")
def _clone(w: Walk, i: int, end: int) -> None:
    w.add("admin", "file_write")


@leader("import")
def _import(w: Walk, i: int, end: int) -> None:
    w.add("create", "file_read")


@leader("return", "open", "close", "leave", "iterate", "signal", "resignal", "get")
def _flow(w: Walk, i: int, end: int) -> None:
    w.scan(i + 1, end)


@leader("show", "help")
def _show(w: Walk, i: int, end: int) -> None:
    w.add("show")
    j = i + 1
    while w.word(j) in ("full", "extended", "global", "session"):
        j += 1
    what = w.word(j)
    if what in ("columns", "fields", "index", "indexes", "keys") and w.word(j + 1) in ("from", "in"):
        if w.is_name(j + 2):
            name, k = w.name_at(j + 2, end)
            if w.word(k) in ("from", "in") and w.is_name(k + 1):
                name = f"{w.toks[k + 1].value.lower()}.{name}"
            w.table(name, w.scope)
    elif what == "create" and w.word(j + 1) in ("table", "view", "sequence") and w.is_name(j + 2):
        w.table(w.name_at(j + 2, end)[0], w.scope)
    where = w.find(j, end, frozenset({"where"}))
    if where < end:
        w.scan(where + 1, end)


@leader("handler")
def _handler(w: Walk, i: int, end: int) -> None:
    w.add("select")
    if w.is_name(i + 1):
        name, j = w.name_at(i + 1, end)
        w.table(name, w.scope)
        w.scan(j, end)


@leader("explain", "describe", "desc")
def _explain(w: Walk, i: int, end: int) -> None:
    j = i + 1
    analyze = False
    while True:
        v = w.word(j)
        if v == "analyze":
            analyze = True
            j += 1
        elif v in ("extended", "partitions"):
            j += 1
        elif v == "format" and w.op(j + 1, "="):
            j += 3
        elif v == "into" and j + 1 < end and w.toks[j + 1].kind == VAR:  # EXPLAIN FORMAT=JSON INTO @v
            j += 2
        else:
            break
    if w.word(j) == "for" and w.word(j + 1) == "connection":
        w.add("explain")
        return
    if j < end and (w.word(j) in _EXPLAINABLE or w.op(j, "(")):
        w.add("explain")
        quiet = w.quiet
        w.quiet = quiet or not analyze  # a plain EXPLAIN plans the statement without running it
        try:
            simple(w, j, end)
        finally:
            w.quiet = quiet
        return
    w.add("show")  # EXPLAIN t / DESCRIBE t [column]: SHOW COLUMNS
    if w.is_name(j):
        w.table(w.name_at(j, end)[0], w.scope)


@leader("analyze")
def _analyze(w: Walk, i: int, end: int) -> None:
    j = i + 1
    if w.word(j) == "format" and w.op(j + 1, "="):
        j += 3
    if w.word(j) in _EXPLAINABLE - {"table"} or w.op(j, "("):  # MariaDB ANALYZE stmt runs stmt
        w.add("explain")
        simple(w, j, end)
        return
    w.add("admin")  # ANALYZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t
    w.scan(j, end)
