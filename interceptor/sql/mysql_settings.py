"""MySQL/MariaDB ``SET``, and the settings that change how the server reads statement text ("parser state").

The gateway lexes statements as a server with the defaults reads them: backslashes escape in strings, ``"`` quotes
a string, and the client character set has no multibyte character containing the byte 0x5c (``\\``). A setting
that changes this would let a *later* statement be read one way by the gateway and another by the server, so it
is marked (``detail["parser_state"]`` plus ``admin``) and the blocking plugin refuses it whatever the policy says:

=========================================================  ========================================================
setting                                                    unsafe when
=========================================================  ========================================================
sql_mode                                                   it names NO_BACKSLASH_ESCAPES, ANSI_QUOTES, or a mode
                                                           that implies ANSI_QUOTES (ANSI; MariaDB's DB2, MAXDB,
                                                           MSSQL, POSTGRESQL, ORACLE); a number other than 0 (a
                                                           bit mask the gateway does not decode)
character_set_client, character_set_connection,            big5, cp932, sjis, gbk or gb18030 (their multibyte
``SET NAMES``, ``SET CHARACTER SET`` / ``CHARSET``         characters may contain 0x5c), a non-ASCII-compatible
                                                           set (ucs2, utf16, utf16le, utf32), or a number
collation_connection                                       a collation of one of those character sets
=========================================================  ========================================================

Any scope counts (``SET GLOBAL`` changes the sessions the gateway opens later), as does every spelling:
``SET [SESSION|LOCAL|GLOBAL|PERSIST|PERSIST_ONLY] name``, ``SET @@[session.|global.|...]name``, ``:=``, and
MariaDB's ``SET STATEMENT name = value FOR statement``. ``DEFAULT`` is safe (the server's configured default is
trusted). A value that is not a single constant (``CONCAT(@@sql_mode, ',ANSI')``, ``@v``) cannot be checked
and is unsafe.

Other SET forms: ``SET GLOBAL|PERSIST|PERSIST_ONLY`` (and ``@@global.``...) add ``admin``; ``SET [GLOBAL|SESSION]
TRANSACTION`` is ``transaction`` (GLOBAL: also ``admin``); ``SET PASSWORD`` and ``SET DEFAULT ROLE`` are
``alter`` (they change an account, like ``ALTER USER``); ``SET ROLE`` is ``set``; ``SET RESOURCE GROUP ... FOR
thread`` is ``admin`` (it moves other sessions' threads). A value's expression is walked, so
``SET @a = (SELECT LOAD_FILE('x'))`` is also ``select`` and ``file_read``.
"""

from __future__ import annotations

from interceptor.sql.mysql_lexer import NUM, OP, QID, STR, VAR, WORD, string_value
from interceptor.sql.mysql_walk import Walk

_SCOPES = {"global": True, "persist": True, "persist_only": True, "session": False, "local": False}
_CHARSET_VARS = frozenset({"character_set_client", "character_set_connection", "collation_connection"})
PARSER_VARS = _CHARSET_VARS | {"sql_mode"}
UNSAFE_MODES = frozenset(
    {"NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI", "DB2", "MAXDB", "MSSQL", "ORACLE", "POSTGRESQL"}
)
UNSAFE_CHARSETS = frozenset({"big5", "cp932", "sjis", "gbk", "gb18030", "ucs2", "utf16", "utf16le", "utf32"})
#: The collation ids (the one byte a client names its character set with at login) of those character sets, in
#: MariaDB 10.11 (``information_schema.COLLATIONS``) and MySQL 8 (gb18030: 248-250). A login with one of them is
#: refused, as a ``SET NAMES`` of it is.
UNSAFE_CHARSET_IDS = frozenset(
    {1, 13, 28, 35, 54, 55, 56, 60, 61, 62, 84, 87, 88, 90, 95, 96, *range(101, 125), *range(128, 152), 159,
     *range(160, 184), 248, 249, 250}
)  # fmt: skip


def value_problem(name: str, w: Walk, start: int, end: int) -> str | None:
    """Why setting ``name`` (lower case) to the value in tokens ``start:end`` is unsafe, or None."""
    if name not in PARSER_VARS:
        return None
    toks = w.toks[start:end]
    if len(toks) != 1 or toks[0].kind not in (STR, WORD, QID, NUM):
        return f"{name} set to a value that is not a constant, so the gateway cannot check it"
    t = toks[0]
    if t.kind == WORD and t.value == "default":
        return None
    value = string_value(t.value) if t.kind == STR else t.value
    unsafe = f"{name} set to {value!r}, which changes how the server reads later statements"
    if t.kind == NUM:
        return None if name == "sql_mode" and int(value) == 0 else unsafe
    if name == "sql_mode":
        return unsafe if {m.strip().upper() for m in value.split(",")} & UNSAFE_MODES else None
    charset = value.strip().lower()
    if name == "collation_connection":
        charset = charset.split("_", 1)[0]
    return unsafe if charset in UNSAFE_CHARSETS else None


def set_statement(w: Walk, i: int, end: int) -> int | None:
    """Classify the SET statement at ``i``; for MariaDB's ``SET STATEMENT ... FOR stmt``, return where ``stmt``
    starts (the caller classifies it), else None."""
    w.result.constants = True  # the result depends on the values set
    j = i + 1
    first, second = w.word(j), w.word(j + 1)
    if first == "password" or (first == "default" and second == "role"):
        w.add("alter")
        return None
    if first == "transaction" or (first in _SCOPES and second == "transaction"):
        w.add("transaction")
        if _SCOPES.get(first):
            w.add("admin")
        return None
    w.add("set")
    if first == "role":
        return None
    if first == "resource" and second == "group":
        if w.find(j, end, frozenset({"for"})) < end:
            w.add("admin")
        return None
    inner = None
    if first == "statement":
        j += 1
        inner = w.find(j, end, frozenset({"for"}))
        end, inner = inner, (inner + 1 if inner < end else None)
        if inner is None:
            w.unknown("SET STATEMENT without FOR")
    while j < end:  # items, separated by commas outside parentheses
        comma = j
        while comma < end and not w.op(comma, ","):
            comma = w.close[comma] + 1 if w.op(comma, "(") else comma + 1
        _item(w, j, min(comma, end))
        j = comma + 1
    return inner


def _item(w: Walk, i: int, end: int) -> None:
    global_scope = False
    if w.word(i) in _SCOPES and i + 1 < end:
        global_scope = _SCOPES[w.word(i)]
        i += 1
    v = w.word(i)
    if v == "names" or v == "charset" or (v == "character" and w.word(i + 1) == "set"):
        i += 2 if v == "character" else 1
        value_end = w.find(i, end, frozenset({"collate"}))
        w.unsafe(value_problem("character_set_client", w, i, value_end))
        if global_scope:
            w.add("admin")
        return
    eq = i
    while eq < end and not (w.toks[eq].kind == OP and w.toks[eq].value in ("=", ":=")):
        eq += 1
    if eq >= end or eq == i:
        w.unknown("a SET item that is not 'name = value'")
        w.scan(i, end)
        return
    head = w.toks[i:eq]
    name = "".join(t.value for t in head).lower()
    if head[0].kind == VAR and name.startswith("@@"):
        name = name[2:]
        scope, dot, rest = name.partition(".")
        if dot and scope in _SCOPES:
            global_scope = global_scope or _SCOPES[scope]
            name = rest
    elif head[0].kind == VAR:  # a user variable: @name = expr
        w.scan(eq + 1, end)
        return
    if global_scope:
        w.add("admin")
    w.unsafe(value_problem(name.rsplit(".", 1)[-1], w, eq + 1, end))
    w.scan(eq + 1, end)
