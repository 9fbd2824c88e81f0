"""Statement classification: what a command does, in the policy vocabulary, cached for the hot path.

```python
classify("DELETE FROM orders WHERE id = 7")        # Classification(effects={'delete'}, tables={'orders'}, ...)
classify_command(command)                           # by command.protocol
cache_info()                                        # {'fast_hits': ..., 'hits': ..., 'shape_hits': ...}
```

PostgreSQL text is read by PostgreSQL's own parser (pglast), so the gateway and the server never read a statement
differently; :mod:`interceptor.sql.postgres` documents the effect of every statement. ``classify`` never raises:
text it cannot read is ``unknown``, with a ``reason``.

Caching (a repeated statement must cost a few microseconds):

1. **Literal key** → result, a bounded LRU (10,000 entries), for the statement that comes back with new constants
   (``pgbench -S``: ``WHERE aid = 12345``, then ``WHERE aid = 678``; sysbench's ``WHERE id=4711``). The key is the
   text with the contents of its string literals and the digits of its numbers replaced (``'x'`` → ``''``,
   ``12345`` → ``0``), made by regular expressions in about 1 µs (``postgres.literal_key``,
   ``mysql.literal_key``; keys of dialects other than PostgreSQL are stored as ``(dialect, key)``). A text outside
   its dialect's subset described below has no such key and goes on to the next layers. Only results that may be
   shared by shape (3.) are stored under a literal key, and a text answered there is not stored by exact text as
   well.
2. **Exact text** → result, a bounded LRU (10,000 entries). A hit is one dict lookup (well under 1 µs).
3. **Shape** → result, for a text seen before with other constants (``WHERE id = 7`` then ``WHERE id = 8``).
   The shape is the text with every constant replaced by ``$n`` (``pglast.parser.normalize``, 2-5 µs); for MySQL,
   the token stream with its string and number literals blanked (``mysql.shape``, which lexes: about 8 µs).

   Only results that do not depend on a constant's value may be shared between texts of one shape. Some do: the
   value in ``SET standard_conforming_strings = off``, ``set_config(name, value)``, ``ALTER ROLE ... SET``, COPY's
   options and file names, EXPLAIN's ``analyze false``. The classifier marks every result for which it read a
   constant's value, and those are cached by exact text only. Everything else it reads (statement kinds, table,
   function and CTE names) is part of the shape.

   Why not pglast's *fingerprint* as the key: it also ignores more than constants. It drops schema names and
   runs of digits in table names (``select * from t`` and ``select * from secret.t`` share a fingerprint, as do
   ``tmp_123`` and ``tmp_456``), so a fingerprint-keyed cache would hand back another statement's ``tables`` and
   let a table rule be side-stepped. The normalized text keeps every name, comment and space as written, so it
   only ever merges texts that differ in constants, and it costs no more.

Why the literal key may stand for a text: when two texts have one key, the dialect's lexer reads them as the same
tokens, but for the values of their constants, so a result that read no constant's value holds for both.

PostgreSQL's key (``1.5`` → ``0.0``) is only made for texts whose lexing depends on nothing it replaces:

- Outside literals, only ASCII letters, digits, ``_``, space, tab, CR, LF and the characters
  ``, . ( ) * = < > ! + ; : % ^ | ~ @ # ? [ ] - /``, but never ``--`` or ``/*`` (a comment, whose end a literal
  could move). So no ``$`` (parameters, dollar quotes), no backslash (``E''`` escapes), no ``&`` (with ``UESCAPE``,
  a ``U&'...'`` string's value changes how a ``U&"..."`` identifier is read), no backquote, braces, NUL or
  non-ASCII character.
- A string literal is ``'...'`` with ``''`` for a quote, and no backslash, NUL or lone surrogate inside. Its
  contents are replaced, never the token itself (it stays ``''``). A prefix letter stays as written: ``E`` and
  ``N`` strings read ``''`` as a plain one does, but ``B`` and ``X`` strings do not (``B'1''0'`` is two tokens), so a
  quote right after ``b`` or ``x`` means no key.
- A quoted identifier ``"..."`` (``""`` for a quote, no NUL or lone surrogate) is kept as written: names matter.
- A run of at most 9 digits that touches no letter or underscore becomes ``0``; ``t1``, ``0x1F``, ``0b101``,
  ``1e5`` and ``1_000`` stay as written (``0x1`` and ``1x1`` are lexed differently, so they must not share a key).
  9 digits stay below 2**31, so an integer constant never turns into a float one (``FETCH 99999999999`` is a
  syntax error where ``FETCH 1`` is not).
- Everything else (keywords, names, operators, spaces) stays as written, and a text over 1 KiB has no key.

Scanning a key by the same rules gives back the same pieces, so equal keys mean equal token sequences. The parser
then builds trees that differ only in the values of constants, except where the grammar itself checks a value.
PostgreSQL 18's does that for an integer in two places, ``float(p)`` (1 to 53 bits) and ``ALTER TABLE ... ALTER
[COLUMN] n SET STATISTICS`` (1 to 32767), so a text with the word ``float`` or ``statistics`` has no key (check
gram.y again when pglast moves to a new PostgreSQL).

The key merges more than the shape does: the normalizer leaves many constants as written (type modifiers, ORDER BY
and GROUP BY positions, EXPLAIN options, FETCH counts, a CREATE TABLE's DEFAULT), the key does not, so
``varchar(10)`` and ``varchar(20)``, ``ORDER BY 1`` and ``ORDER BY 2``, ``EXPLAIN (ANALYZE 0)`` and ``EXPLAIN
(ANALYZE 1)`` share one. That is safe because the classifier marks a result as soon as it reads *any* constant's
value, an A_Const or a bare Integer, Float, String or Boolean option argument, wherever it stands; everything else
it reads (statement kinds, the names of tables, functions, CTEs, options and SET settings) comes from keywords and
identifiers, which the key keeps.

MySQL's and MariaDB's key (``1.5`` → ``0.5``, ``mysql.literal_key``) follows the same plan with the servers' lexical
rules, which are also those of the gateway's lexer (:mod:`interceptor.sql.mysql_lexer`):

- Outside literals, only ASCII letters, digits, ``_``, space, tab, CR, LF and the characters
  ``, . ( ) * = < > ! + ; : % ^ | ~ @ ? [ ] & - /``, but never ``--`` or ``/*`` (comments, executable ``/*!...*/``
  and ``/*+`` hints among them). So no ``#`` (a comment), no ``"`` (a string, or with ``ANSI_QUOTES`` a name), no
  ``$`` (part of a name: ``a$1``), no backslash, no braces (ODBC escapes), NUL or non-ASCII character. None of the
  characters allowed changes how what follows is read, but ``@``: ``@name``, ``@@session.name`` and ``@1`` are
  variables (one token, digits included), and ``@'...'`` a variable or host whose name is the string.
- A string literal is ``'...'`` with ``''`` for a quote and no backslash (an escape unless
  ``NO_BACKSLASH_ESCAPES``, so either way the string ends at the same place), NUL or lone surrogate inside. Its
  contents are replaced, never the token itself. A prefix stays as written (``N''``, ``_utf8mb4''``), but a quote
  right after ``b`` or ``x`` (``B'1''0'`` and ``X'..'`` do not read ``''`` as a quote) or ``@`` means no key.
- A backquoted identifier (a doubled backquote inside for one, no NUL or lone surrogate) is kept as written.
- A run of at most 9 digits becomes ``0`` when it touches no letter or underscore and follows no ``.`` or ``@``. So
  names that start with digits (``1abc``), ``0x1F``, ``0b101``, ``1e5``, ``t1``, the variables ``@1`` and ``@a.1``,
  and the digits after a dot (``t.5`` and ``db.5`` are names to MySQL, ``1.5`` keeps its ``5``) stay as written. 9
  digits keep a number the server's plain integer token (a longer one may lex as a BIGINT or DECIMAL one).
- Everything else stays as written, and a text over 1 KiB has no key.

As for PostgreSQL, scanning a key by the same rules gives back the same pieces (a key is its own key), and the
gateway's lexer and the server's read the same token sequence from every text of one key, but for the values of
strings and numbers: nothing the key replaces decides where a token ends or what kind it is.

The MySQL classifier is the gateway's own walk over these tokens, so no grammar check of a value can make one text
of a key readable and another not (the server may still refuse ``FLOAT(99)``, ``DECIMAL(2,5)`` or ``CHAR(99999)``:
an error, whatever the gateway's answer). Everything the walk reports comes from the kinds of tokens, keywords,
names and operators, which the key keeps, except where it reads a literal's value, and there it marks the result
(``constants`` in :mod:`interceptor.sql.mysql_walk`): every SET (values, ``SET NAMES``, ``sql_mode``, MariaDB's
``SET STATEMENT ... FOR``), the texts of ``PREPARE s FROM 'text'``, ``EXECUTE IMMEDIATE 'text'`` and
``CALL sys.execute_prepared_stmt('text')``, the file of ``LOAD DATA LOCAL INFILE 'file'`` (``detail["load_data"]``),
a table's ``ENGINE='name'``, a name's part written as a number (``db.5``), and a statement that starts with a
literal (its value is quoted in the reason). ``KILL 5``, ``LIMIT``, ``INTO OUTFILE 'x'``, ``DEFINER='u'@h`` and
type sizes are never read.

Texts longer than 1 KiB are keyed by a BLAKE2b digest so that the caches stay small. Cached results are shared:
treat them (and their ``detail``) as read-only. The caches are safe to use from several threads (at worst a result
is computed twice).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from interceptor.model import Classification, Command, CommandKind
from interceptor.sql import mysql, postgres

__all__ = ["cache_clear", "cache_info", "classify", "classify_command"]

MAX_ENTRIES = 10_000
_MAX_KEY = 1024


class _Dialect(NamedTuple):
    """How one dialect's texts are classified and keyed (see "Caching")."""

    literal_key: Callable[[str], str | None]  # the fast key, None outside its safe subset
    shape: Callable[[str], str | None]  # the shape key, None when there is none
    classify: Callable[[str], tuple[Classification, bool]]  # (result, shareable by shape and literal key)


# The dispatch point for other protocols: "mysql" (MySQL and MariaDB) is read by interceptor.sql.mysql.
_DIALECTS: dict[str, _Dialect] = {
    "postgres": _Dialect(postgres.literal_key, postgres.shape, postgres.classify),
    "mysql": _Dialect(mysql.literal_key, mysql.shape, mysql.classify),
}


class _Lru:
    """A bounded mapping that forgets its least recently used entry. Lock-free: under concurrent use a lookup may
    miss an entry being moved or evicted, which only costs a recomputation."""

    __slots__ = ("data", "hits", "limit", "misses")

    def __init__(self, limit: int) -> None:
        self.data: OrderedDict[Any, Classification] = OrderedDict()
        self.limit = limit
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Classification | None:
        value = self.data.get(key)
        if value is None:
            self.misses += 1
            return None
        try:
            self.data.move_to_end(key)
        except KeyError:  # evicted by another thread meanwhile
            pass
        self.hits += 1
        return value

    def put(self, key: Any, value: Classification) -> None:
        data = self.data
        data[key] = value
        try:
            while len(data) > self.limit:
                data.popitem(last=False)
        except KeyError:
            pass

    def clear(self) -> None:
        self.data.clear()
        self.hits = self.misses = 0


_FAST = _Lru(MAX_ENTRIES)
_EXACT = _Lru(MAX_ENTRIES)
_SHAPES = _Lru(MAX_ENTRIES)


def _key(text: str) -> str | bytes:
    if len(text) <= _MAX_KEY:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def classify(text: str, dialect: str = "postgres") -> Classification:
    """What ``text`` does when the ``dialect`` server runs it (cached; never raises)."""
    fast: Any
    if dialect == "postgres":  # the hot path: PostgreSQL's keys go into the caches bare, other dialects' in a tuple
        fast = postgres.literal_key(text)
    else:
        entry = _DIALECTS.get(dialect)
        fast = None if entry is None else entry.literal_key(text)
        if fast is not None:
            fast = (dialect, fast)
    if fast is not None:
        found = _FAST.get(fast)
        if found is not None:
            return found
    key: Any = text if len(text) <= _MAX_KEY else _key(text)
    if dialect != "postgres":
        key = (dialect, key)
    found = _EXACT.get(key)
    if found is not None:
        return found
    result, shareable = _classify_shape(text, dialect)
    if fast is not None and shareable:
        _FAST.put(fast, result)  # not under the exact text too: the fast key answers every later copy
    else:
        _EXACT.put(key, result)
    return result


def _classify_shape(text: str, dialect: str) -> tuple[Classification, bool]:
    """The result for ``text`` from the shape layer or the classifier, and whether it may be shared by shape."""
    entry = _DIALECTS.get(dialect)
    if entry is None:
        return Classification(frozenset({"unknown"}), reason=f"no statement classifier for {dialect!r}"), False
    try:
        shape = entry.shape(text)
        skey: Any = None if shape is None else (dialect, _key(shape))
        if skey is not None:
            found = _SHAPES.get(skey)
            if found is not None:
                return found, True
        result, shareable = entry.classify(text)
    except Exception as exc:  # never raise: a classifier bug is an unknown statement (fail closed)
        return Classification(frozenset({"unknown"}), reason=f"classifier error: {type(exc).__name__}: {exc}"), False
    if skey is not None and shareable:
        _SHAPES.put(skey, result)
    return result, shareable


_BY_OID = "a FunctionCall message names its function only by OID"


def classify_command(command: Command) -> Classification:
    """Classify a :class:`Command` by its protocol (``postgres`` and ``mysql``). A PostgreSQL FunctionCall
    (``CALL`` kind) carries no text, only a function's OID, so it is ``call`` and ``unknown``."""
    if command.kind is CommandKind.CALL:
        oid = command.detail.get("oid")
        return Classification(frozenset({"call", "unknown"}), reason=f"{_BY_OID} ({oid})" if oid else _BY_OID)
    return classify(command.text, command.protocol)


def cache_info() -> dict[str, int]:
    """Counters for benchmarks: exact-text ``hits``/``misses``/``size``, and the same for the fast literal-key
    layer (``fast_``) and the shape layer (``shape_``)."""
    return {
        "fast_hits": _FAST.hits,
        "fast_misses": _FAST.misses,
        "fast_size": len(_FAST.data),
        "hits": _EXACT.hits,
        "misses": _EXACT.misses,
        "size": len(_EXACT.data),
        "shape_hits": _SHAPES.hits,
        "shape_misses": _SHAPES.misses,
        "shape_size": len(_SHAPES.data),
        "maxsize": MAX_ENTRIES,
    }


def cache_clear() -> None:
    """Forget every cached result (tests and benchmarks)."""
    _FAST.clear()
    _EXACT.clear()
    _SHAPES.clear()
