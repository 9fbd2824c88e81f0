"""Statement dispatch and compound statements: where a MySQL/MariaDB text's statements begin and end.

:func:`run` cuts tokens into ``;``-separated pieces, :func:`piece` skips compound-statement syntax, :func:`simple`
sends a statement to the handler registered (``@leader``) for its first keyword, and :func:`text` classifies SQL
text that the server will parse later (a PREPARE or EXECUTE IMMEDIATE literal) into the same result.

The server splits a text at ``;`` only between statements of its grammar: the ``;`` inside ``BEGIN ... END`` (a
stored program's body, or MariaDB's ``BEGIN NOT ATOMIC``, ``IF``, ``WHILE``... at top level) belong to one
statement. :func:`count` follows ``BEGIN``/``CASE``/``IF``/``WHILE``/``LOOP``/``REPEAT``/``FOR`` ... ``END`` to
count statements as the server does.

The classifier itself reads every ``;``-separated *piece* as a statement after :func:`strip` has skipped the
compound syntax at its start (labels, ``BEGIN [NOT ATOMIC]``, ``END [IF|LOOP|...]``, ``IF/ELSEIF/WHEN cond THEN``,
``WHILE cond DO``, ``CASE x``, ``ELSE``, ``LOOP``, ``REPEAT``, ``UNTIL cond``, MariaDB's ``FOR ... DO``, and
``DECLARE``: a variable's DEFAULT is walked, a cursor's query classified, a handler's statement classified).
Conditions are walked like any expression, so ``IF (SELECT LOAD_FILE('x')) THEN`` counts. A body's statements
are therefore always classified, even where the grouping is unsure: only the count could be off.
"""

from __future__ import annotations

from collections.abc import Callable

from interceptor.sql.mysql_lexer import NUM, OP, STR, WORD, Token, lex
from interceptor.sql.mysql_walk import QUERY_STARTS, Walk

MAX_DEPTH = 3  # how deep statement texts may nest (the server refuses PREPARE inside a prepared statement)

_COMPOUND = frozenset({"begin", "case", "if", "while", "loop", "repeat", "for", "end"})
_BLOCKS = frozenset({"if", "case", "loop", "while", "repeat", "for"})
_OPEN_AT_START = frozenset({"if", "while", "loop", "repeat", "for"})
_STARTERS = frozenset({"then", "else", "do", "loop", "repeat"})
_THEN_DO = frozenset({"then", "do"})
_END = frozenset({"end"})
_WHEN = frozenset({"when"})
_DO = frozenset({"do"})


def count(toks: list[Token]) -> int:
    """How many statements the server sees in ``toks``."""
    if {t.value for t in toks if t.kind == WORD}.isdisjoint(_COMPOUND):  # the common case: split at every ";"
        ends = [i for i, t in enumerate(toks) if t.kind == OP and t.value == ";"]
        starts = [0, *(i + 1 for i in ends)]
        return sum(1 for a, b in zip(starts, [*ends, len(toks)], strict=True) if b > a)
    blocks: list[bool] = []  # per open block: whether it is a CASE expression (its THEN starts no statement)
    statements = 0
    nonempty = False
    at_start = True  # a statement may start here
    first = True  # the first token of a top-level statement
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        was_start, was_first = at_start, first
        first = False
        if t.kind == OP:
            if t.value == ";":
                if not blocks:
                    statements += nonempty
                    nonempty = False
                    first = True
                at_start = True
            else:
                nonempty = True
                at_start = t.value == ":"  # after a label
            i += 1
            continue
        nonempty = True
        v = t.value if t.kind == WORD else ""
        at_start = False
        if v == "begin":
            nxt = toks[i + 1] if i + 1 < n else None
            alone = nxt is None or (nxt.kind == OP and nxt.value == ";") or (nxt.kind == WORD and nxt.value == "work")
            if not (was_first and alone):  # BEGIN [WORK] alone is a transaction
                blocks.append(False)
                at_start = True
        elif v == "case":
            blocks.append(not was_start)
        elif v in _OPEN_AT_START and was_start:
            blocks.append(False)
            at_start = v in ("loop", "repeat")
        elif v == "end" and blocks:
            blocks.pop()
            if i + 1 < n and toks[i + 1].kind == WORD and toks[i + 1].value in _BLOCKS:
                i += 1
        elif v in _STARTERS:
            at_start = not (blocks and blocks[-1]) and not (v == "do" and was_first)
        i += 1
    return statements + nonempty


def strip(w: Walk, i: int, end: int) -> int:
    """Skip the compound-statement syntax at the start of the piece ``i:end``; return where its statement starts
    (``end`` when there is none)."""
    while i < end:
        v = w.word(i)
        if w.is_name(i) and w.op(i + 1, ":"):  # label:
            i += 2
        elif v == "begin":
            if i + 1 >= end or w.word(i + 1) == "work":
                return i  # BEGIN [WORK]: a transaction
            i += 3 if w.word(i + 1) == "not" and w.word(i + 2) == "atomic" else 1
        elif v == "end":
            i += 1
            if w.word(i) in _BLOCKS:
                i += 1
            if i + 1 == end and w.is_name(i):  # END label
                i += 1
        elif v in ("if", "elseif", "while", "when"):
            stop = w.find(i + 1, end, _THEN_DO)
            w.scan(i + 1, stop)
            i = stop + 1
        elif v == "until":
            stop = w.find(i + 1, end, _END)
            w.scan(i + 1, stop)
            i = stop
        elif v == "case":
            stop = w.find(i + 1, end, _WHEN)
            w.scan(i + 1, stop)
            i = stop
        elif v == "for":
            stop = w.find(i + 1, end, _DO)
            w.scan(i + 1, stop)
            i = stop + 1
        elif v in ("else", "loop", "repeat"):
            i += 1
        elif v == "declare":
            return _declare(w, i + 1, end)
        else:
            return i
    return end


def _declare(w: Walk, i: int, end: int) -> int:
    if w.word(i) in ("continue", "exit", "undo") and w.word(i + 1) == "handler":
        k = w.find(i + 2, end, frozenset({"for"})) + 1
        while k < end:  # conditions: SQLSTATE [VALUE] 'x' | NOT FOUND | SQLWARNING | SQLEXCEPTION | name | code
            c = w.word(k)
            k += (3 if w.word(k + 1) == "value" else 2) if c == "sqlstate" else 2 if c == "not" else 1
            if not w.op(k, ","):
                break
            k += 1
        return strip(w, k, end) if k < end else end
    f = w.find(i, end, frozenset({"cursor", "condition", "default"}))
    kind = w.word(f) if f < end else ""
    if kind == "cursor":
        return min(w.find(f, end, frozenset({"for"})) + 1, end)
    if kind == "default":
        w.scan(f + 1, end)
    return end


Handler = Callable[[Walk, int, int], None]

#: first keyword of a statement -> its handler (filled by the @leader decorators of the statement modules)
LEADERS: dict[str, Handler] = {}


def leader(*words: str) -> Callable[[Handler], Handler]:
    """Register a statement handler for the statements that start with any of ``words``."""

    def register(handler: Handler) -> Handler:
        for word in words:
            LEADERS[word] = handler
        return handler

    return register


# -- statements --------------------------------------------------------------------------------------------------


def run(w: Walk, i: int, end: int) -> None:
    """Classify every ``;``-separated piece of tokens ``i`` to ``end``."""
    toks = w.toks
    start = i
    for k in range(i, end):
        t = toks[k]
        if t.kind == OP and t.value == ";":
            if k > start:
                piece(w, start, k)
            start = k + 1
    if start < end:
        piece(w, start, end)


def piece(w: Walk, i: int, end: int) -> None:
    """Classify one piece: compound-statement syntax first (:func:`strip`), then its statement."""
    i = strip(w, i, end)
    if i < end:
        simple(w, i, end)


def simple(w: Walk, i: int, end: int) -> None:
    """Classify the statement at ``i`` by its first keyword."""
    t = w.toks[i]
    if t.kind == OP and t.value == "(":
        first = i
        while first < end and w.op(first, "("):
            first += 1
        if w.word(first) in QUERY_STARTS:  # (SELECT ...) UNION (SELECT ...)
            w.add("select")
            w.scan(i, end)
            return
    handler = LEADERS.get(t.value) if t.kind == WORD else None
    if handler is None:
        if t.kind == STR or t.kind == NUM:
            w.result.constants = True  # the reason quotes a literal's value
        shown = t.value.upper() if t.kind == WORD else repr(t.value)
        w.unknown(f"unrecognised statement {shown[:40]}")
        w.scan(i, end)
        return
    saved = w.scope
    try:
        handler(w, i, end)
    finally:
        w.scope = saved


def text(w: Walk, sql: str) -> None:
    """Classify SQL text the server will parse later (``PREPARE s FROM 'text'``) into ``w``'s result."""
    w.result.constants = True
    if w.depth >= MAX_DEPTH:
        w.unknown("prepared statement texts nested too deep")
        return
    lexed = lex(sql)
    sub = Walk(lexed.tokens, w.result, w.depth + 1)
    sub.quiet = w.quiet
    for problem in lexed.problems + sub.problems:
        w.unknown(f"in a prepared statement text: {problem}")
    if not sub.nested_too_deep:
        run(sub, 0, sub.n)
