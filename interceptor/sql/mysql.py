"""MySQL/MariaDB statement classification: a MySQL-aware lexer, then one walk over the tokens.

```python
classify("/*!50000DROP*/ TABLE t")   # (Classification(effects={'drop'}, tables={'t'}, ...), True)
shape("SELECT * FROM t WHERE id = 7")  # the token stream with its constants blanked (the shape-cache key)
```

1. :mod:`~interceptor.sql.mysql_lexer` reads the text as the server does: it drops real comments, unwraps
   executable ones (``/*!...*/``, ``/*M!...*/``: always treated as code), and knows MySQL's strings, ``#``, the
   ``--`` rule and backticks. Text it cannot read the way both MySQL and MariaDB would is ``unknown``.
2. :mod:`~interceptor.sql.mysql_flow` cuts the tokens at every ``;`` into pieces, skips compound-statement
   syntax (so stored program bodies are read statement by statement) and counts statements as the server does.
3. Each statement goes to the handler of its first keyword (:mod:`~interceptor.sql.mysql_statements`,
   :mod:`~interceptor.sql.mysql_ddl`, :mod:`~interceptor.sql.mysql_settings`), over the shared walk of
   :mod:`~interceptor.sql.mysql_walk` (functions, subqueries, table lists).

Why not sqlparse (which is installed): its lexer does not read MySQL the way MySQL does, and the differences hide
statements. ``SELECT 1--1, LOAD_FILE('/etc/passwd')`` is one comment after ``1`` to sqlparse; ``$a$ ...; DROP
TABLE x; ... $a$`` is one dollar-quoted literal (MySQL: identifiers ``$a$``); ``#DROP`` is a name; ``/*!50000DROP*/``
a comment. Re-rendering our tokens for it would still cost about 180 µs to lex and 950 µs to parse a short SELECT,
for keyword tables this module already has. So the lexer here is the only reader of the text.

``detail``: ``parser_state`` (why a SET changes how the server reads later statements: the blocking plugin refuses
it), ``load_data`` (``{"local": bool, "files": (...)}``: whether a LOAD DATA in the text is LOCAL, and the client
files it names, so the MySQL relay passes the server's request for exactly those files), ``dynamic`` (True: SQL
the gateway cannot read will run: ``EXECUTE s``, ``PREPARE s FROM @v``).

Caching (the literal-key and shape layers of :mod:`interceptor.sql`, which explains both): the shape is the token
stream with every string and integer literal blanked. Whitespace, comments and executable-comment markers are
already gone, keywords are folded, names are kept exactly, so two texts share a shape only when they differ in
literal values. The classifier reads a literal's value only for SET, PREPARE / EXECUTE IMMEDIATE / CALL
sys.execute_prepared_stmt texts, LOAD DATA LOCAL's file, ``ENGINE='name'``, a name part written as a number
(``db.5``) and the reason for a statement that starts with a literal: those results are marked and kept out of
the shape and literal-key layers. A text whose lexing reported a problem has no shape. ``literal_key`` is the
cheaper key, made from the text without lexing it, for a conservative subset of texts.
"""

from __future__ import annotations

import re
from typing import Any

from interceptor.model import Classification
from interceptor.sql import mysql_ddl, mysql_statements  # noqa: F401  (their @leader handlers register)
from interceptor.sql.literals import Blanker
from interceptor.sql.mysql_flow import count, run
from interceptor.sql.mysql_lexer import KIND_TAGS, NUM, STR, Lexed, lex
from interceptor.sql.mysql_walk import Walk

__all__ = ["classify", "literal_key", "shape"]

_EMPTY = Classification(frozenset(), statements=0)
_last: tuple[str, Lexed] = ("", Lexed([], []))  # shape() lexes, classify() of the same text reuses it


def _lexed(text: str) -> Lexed:
    global _last
    last = _last
    if last[0] == text:
        return last[1]
    lexed = lex(text)
    _last = (text, lexed)
    return lexed


def shape(text: str) -> str | None:
    """The shape-cache key of ``text``: its tokens with string and integer literals blanked (None: no key)."""
    lexed = _lexed(text)
    if lexed.problems:
        return None
    tags = KIND_TAGS
    return "\x00".join("s" if t.kind == STR else "n" if t.kind == NUM else tags[t.kind] + t.value for t in lexed.tokens)


# The fast literal key (the rule and why it is safe: interceptor.sql, "Caching"). A text qualifies when it is, from
# left to right: runs of the plain characters below, string literals '...' without a backslash, NUL or lone
# surrogate, backquoted identifiers without NUL or lone surrogate, and "-" or "/" that do not start a comment. A
# quote right after b or x is refused (B'...' and X'...' do not read '' as a quote), and so is one right after @
# (@'name' is a variable whose name is the string, 'user'@'host' an account).
_MAX_KEY = 1024  # as interceptor.sql's: longer texts keep the exact and shape layers
_KEYABLE = re.compile(
    r"(?:[A-Za-z0-9_ \t\r\n,.()*=<>!+;:%^|~@?\[\]&]++"
    r"|'(?<![bBxX@]')(?:[^'\\\x00\ud800-\udfff]++|'')*+'"
    r"|`(?:[^`\x00\ud800-\udfff]++|``)*+`"
    r"|-(?!-)|/(?!\*))*+"
)
# A number's digits: a maximal run of at most 9 (an integer constant stays one) that touches no letter or
# underscore and follows no "." or "@". Kept as written: 1abc (a name), 0x1F, 0b101, 1e5, t1, @1 and @a.1
# (variables), and t.5 / `t`.5 (after a name's ".", MySQL reads digits as a name: column or table 5). 1.5 -> 0.5.
_AFTER_FIRST_DIGIT = r"(?<![A-Za-z0-9_.@][0-9])[0-9]{0,8}+(?![A-Za-z0-9_])"
_BLANK = Blanker("`", _AFTER_FIRST_DIGIT)


def literal_key(text: str) -> str | None:
    """``text`` with the contents of its string literals and the digits of its numbers replaced (``'x'`` -> ``''``,
    ``12`` -> ``0``, ``1.5`` -> ``0.5``), or None when the text is outside the small subset for which that is safe
    (see interceptor.sql, "Caching"): two texts with one key are read by the lexer as the same tokens but for the
    values of their string and number literals."""
    if len(text) > _MAX_KEY or _KEYABLE.fullmatch(text) is None:
        return None
    return _BLANK(text)


def classify(text: str) -> tuple[Classification, bool]:
    """Classify one MySQL/MariaDB statement text. The flag says whether the result holds for every text of the
    same shape (False when a literal's value was read)."""
    lexed = _lexed(text)
    w = Walk(lexed.tokens)
    problems = lexed.problems + w.problems
    if not lexed.tokens and not problems:
        return _EMPTY, True  # empty, or only comments: harmless
    for problem in problems:
        w.unknown(problem)
    if not w.nested_too_deep:
        run(w, 0, w.n)
    r = w.result
    detail: dict[str, Any] = {}
    if r.parser_state:
        detail["parser_state"] = "; ".join(r.parser_state)
    if r.loads:
        detail["load_data"] = {"local": any(r.loads), "files": tuple(r.files)}
    if r.dynamic:
        detail["dynamic"] = True
    result = Classification(
        frozenset(r.effects),
        frozenset(r.tables),
        frozenset(r.functions),
        count(lexed.tokens),
        "; ".join(dict.fromkeys(r.reasons)),
        detail,
    )
    return result, not (r.constants or problems)
