"""Statement classification: what a command does, in the policy vocabulary, cached for the hot path.

```python
classify("DELETE FROM orders WHERE id = 7")        # Classification(effects={'delete'}, tables={'orders'}, ...)
classify_command(command)                           # by command.protocol
cache_info()                                        # {'hits': ..., 'misses': ..., 'size': ..., 'shape_hits': ...}
```

PostgreSQL text is read by PostgreSQL's own parser (pglast), so the gateway and the server never read a statement
differently; :mod:`interceptor.sql.postgres` documents the effect of every statement. ``classify`` never raises:
text it cannot read is ``unknown``, with a ``reason``.

Caching (a repeated statement must cost a few microseconds):

1. **Exact text** → result, a bounded LRU (10,000 entries). A hit is one dict lookup (well under 1 µs).
2. **Shape** → result, for a text seen before with other constants (``WHERE id = 7`` then ``WHERE id = 8``).
   The shape is the text with every constant replaced by ``$n`` (``pglast.parser.normalize``, 2-5 µs).

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

Texts longer than 1 KiB are keyed by a BLAKE2b digest so that the caches stay small. Cached results are shared:
treat them (and their ``detail``) as read-only. The caches are safe to use from several threads (at worst a result
is computed twice).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from interceptor.model import Classification, Command, CommandKind
from interceptor.sql import mysql, postgres

__all__ = ["cache_clear", "cache_info", "classify", "classify_command"]

MAX_ENTRIES = 10_000
_MAX_KEY = 1024

# dialect -> (shape(text) -> str | None, classify(text) -> (result, shareable by shape)).
# The dispatch point for other protocols: "mysql" (MySQL and MariaDB) is read by interceptor.sql.mysql.
_DIALECTS: dict[str, tuple[Callable[[str], str | None], Callable[[str], tuple[Classification, bool]]]] = {
    "postgres": (postgres.shape, postgres.classify),
    "mysql": (mysql.shape, mysql.classify),
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


_EXACT = _Lru(MAX_ENTRIES)
_SHAPES = _Lru(MAX_ENTRIES)


def _key(text: str) -> str | bytes:
    if len(text) <= _MAX_KEY:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def classify(text: str, dialect: str = "postgres") -> Classification:
    """What ``text`` does when the ``dialect`` server runs it (cached; never raises)."""
    key: Any = text if len(text) <= _MAX_KEY else _key(text)
    if dialect != "postgres":
        key = (dialect, key)
    found = _EXACT.get(key)
    if found is not None:
        return found
    result = _classify_shape(text, dialect)
    _EXACT.put(key, result)
    return result


def _classify_shape(text: str, dialect: str) -> Classification:
    entry = _DIALECTS.get(dialect)
    if entry is None:
        return Classification(frozenset({"unknown"}), reason=f"no statement classifier for {dialect!r}")
    shape_of, classify_text = entry
    try:
        shape = shape_of(text)
        skey: Any = None if shape is None else (dialect, _key(shape))
        if skey is not None:
            found = _SHAPES.get(skey)
            if found is not None:
                return found
        result, shareable = classify_text(text)
    except Exception as exc:  # never raise: a classifier bug is an unknown statement (fail closed)
        return Classification(frozenset({"unknown"}), reason=f"classifier error: {type(exc).__name__}: {exc}")
    if skey is not None and shareable:
        _SHAPES.put(skey, result)
    return result


_BY_OID = "a FunctionCall message names its function only by OID"


def classify_command(command: Command) -> Classification:
    """Classify a :class:`Command` by its protocol (``postgres`` and ``mysql``). A PostgreSQL FunctionCall
    (``CALL`` kind) carries no text, only a function's OID, so it is ``call`` and ``unknown``."""
    if command.kind is CommandKind.CALL:
        oid = command.detail.get("oid")
        return Classification(frozenset({"call", "unknown"}), reason=f"{_BY_OID} ({oid})" if oid else _BY_OID)
    return classify(command.text, command.protocol)


def cache_info() -> dict[str, int]:
    """Counters for benchmarks: exact-text ``hits``/``misses``/``size``, and the same for the shape layer."""
    return {
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
    _EXACT.clear()
    _SHAPES.clear()
