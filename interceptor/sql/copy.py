"""COPY's options as PostgreSQL's ProcessCopyOptions reads them, for ``detail["copy"]`` (and a DefElem boolean).

The relay needs them to read (and rewrite) the rows of a ``COPY ... TO STDOUT`` in text or csv format::

    {"direction": "to" | "from", "format": "text" | "csv" | "binary", "delimiter": str, "quote": str,
     "escape": str, "null": str, "header": bool, "encoding": str | None,
     "table": "schema.name" | None, "columns": [names] | None}

Defaults are PostgreSQL's: text uses delimiter ``\\t`` and null ``\\N`` (its escape character is the backslash, and
it has no quote, shown as ``""``); csv uses ``,``, quote ``"``, escape = quote, and null ``""``; binary has none of
them (all ``""``). ``table`` and ``columns`` are None for ``COPY (query)``; ``header`` is True for ``HEADER MATCH``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_FORMATS = ("text", "csv", "binary")
_FALSE = frozenset({"off", "0", "f", "fa", "fal", "fals", "false", "n", "no"})
_TRUE = frozenset({"on", "1", "t", "tr", "tru", "true", "y", "ye", "yes"})


def _def_string(arg: Any) -> str | None:
    """A DefElem's argument as PostgreSQL's defGetString renders it (None: no argument, or one it rejects)."""
    if type(arg) is not dict or len(arg) != 1:
        return None
    kind, value = next(iter(arg.items()))
    if type(value) is not dict:
        return None
    if kind == "String":
        return str(value.get("sval", ""))
    if kind == "Integer":
        return str(value.get("ival", 0))
    if kind == "Float":
        return str(value.get("fval", "0"))
    if kind == "Boolean":
        return "true" if value.get("boolval") else "false"
    if kind == "A_Star":
        return "*"
    return None


def _header(arg: Any) -> bool | None:
    """defGetCopyHeaderChoice: no argument is true; 0/1; a boolean word; MATCH (read as true)."""
    if arg is not None and str(_def_string(arg)).lower() == "match":
        return True
    return option_bool(arg)


def copy_spec(f: dict[str, Any], names: Callable[[Any], str | None]) -> dict[str, Any] | str:
    """The ``detail["copy"]`` of one CopyStmt (its fields in pglast's JSON form), or why its options cannot be read.
    ``names`` turns a list of String nodes into a dotted name."""
    given: dict[str, Any] = {}
    for item in f.get("options") or []:
        d = item.get("DefElem") if type(item) is dict else None
        if type(d) is dict:
            given[str(d.get("defname", ""))] = d.get("arg")
    fmt = _def_string(given["format"]) if "format" in given else "text"
    if fmt not in _FORMATS:
        return f"COPY format {fmt!r} is not one PostgreSQL reads"
    header = _header(given.get("header")) if "header" in given else False
    if header is None:
        return "COPY header option is not a boolean"
    strings: dict[str, str] = {}
    for key in ("delimiter", "quote", "escape", "null", "encoding"):
        if key in given:
            value = _def_string(given[key])
            if value is None:
                return f"COPY {key} option cannot be read"
            strings[key] = value
    if fmt == "csv":
        quote = strings.get("quote", '"')
        defaults = {"delimiter": ",", "quote": quote, "escape": quote, "null": ""}
    elif fmt == "text":
        defaults = {"delimiter": "\t", "quote": "", "escape": "\\", "null": "\\N"}
    else:
        defaults = {"delimiter": "", "quote": "", "escape": "", "null": ""}
    relation = f.get("relation")
    table = None
    if type(relation) is dict and relation.get("relname"):
        schema = relation.get("schemaname")
        table = (f"{schema}.{relation['relname']}" if schema else str(relation["relname"])).lower()
    columns = None
    if f.get("attlist"):
        columns = [n for n in (names([a]) for a in f["attlist"]) if n is not None]
    spec: dict[str, Any] = {"direction": "from" if f.get("is_from") else "to", "format": fmt}
    for key in ("delimiter", "quote", "escape", "null"):
        spec[key] = strings.get(key, defaults[key])
    spec["header"] = header
    spec["encoding"] = strings.get("encoding")
    spec["table"] = table
    spec["columns"] = columns
    return spec


def option_bool(arg: Any) -> bool | None:
    """A DefElem's boolean argument as PostgreSQL's defGetBoolean reads it: no argument is true; a boolean word, or
    0 / 1. None when PostgreSQL would reject it."""
    if arg is None:
        return True
    text = _def_string(arg)
    if text is None:
        return None
    text = text.lower()
    return True if text in _TRUE else False if text in _FALSE else None
