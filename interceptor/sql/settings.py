"""Session settings that change how the server reads statement text ("parser state").

The gateway classifies each statement as PostgreSQL's own parser reads it with the defaults every modern server
uses (``standard_conforming_strings = on``, a client encoding whose multibyte characters never contain ``\\`` or
``'``). A setting that changes this would let a *later* statement be read one way by the gateway and another way
by the server, so the classifier marks it (``detail["parser_state"]`` plus the ``admin`` effect) and the blocking
plugin refuses it whatever the policy says:

=============================  ===================================================================================
setting                        unsafe when
=============================  ===================================================================================
standard_conforming_strings    any value but on / true / yes / 1 (and their prefixes PostgreSQL accepts)
backslash_quote                any value but off / false / no / 0 / safe_encoding
client_encoding                a client-only encoding whose trail bytes may be 0x5c or 0x27: SJIS, SHIFT_JIS_2004,
                               BIG5, GBK, UHC, GB18030 and JOHAB (under any of PostgreSQL's alias spellings)
=============================  ===================================================================================

RESET, ``SET ... TO DEFAULT`` and DISCARD restore the server's defaults and are safe. A value that is not a plain
constant (``set_config(name, $1, false)``, ``SET ... FROM CURRENT``, a cast) is unsafe because it cannot be checked.
Setting names compare case-insensitively, as PostgreSQL's do. ``escape_string_warning`` only changes a warning and
is ignored.
"""

from __future__ import annotations

import re
from typing import Any

PARSER_SETTINGS = frozenset({"standard_conforming_strings", "backslash_quote", "client_encoding"})

# parse_bool() accepts any unambiguous prefix of true/yes (t, tr, y, ye...), on, and 1.
_SCS_SAFE = frozenset({"on", "1", "t", "tr", "tru", "true", "y", "ye", "yes"})
# backslash_quote is an enum matched exactly (case-insensitive).
_BQ_SAFE = frozenset({"off", "false", "no", "0", "safe_encoding"})
# PostgreSQL matches encoding names after lower-casing and dropping every non-alphanumeric character
# (clean_encoding_name), so "Shift_JIS", "SHIFT-JIS" and "shiftjis" are one name. These are the aliases of the
# client-only encodings whose second byte can be 0x5c (backslash); extra spellings are harmless (the server
# rejects unknown names).
_DANGEROUS_ENCODINGS = frozenset(
    {
        "sjis", "shiftjis", "mskanji", "win932", "windows932", "cp932",
        "shiftjis2004",
        "big5", "win950", "windows950", "cp950",
        "gbk", "win936", "windows936", "cp936",
        "uhc", "win949", "windows949", "cp949",
        "gb18030",
        "johab",
    }
)  # fmt: skip
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def value_problem(name: str, value: str | None) -> str | None:
    """Why setting ``name`` (lower case) to ``value`` is unsafe, or None. ``value`` None means "not a constant"."""
    if name not in PARSER_SETTINGS:
        return None
    if value is None:
        return f"{name} set to a value that is not a constant, so the gateway cannot check it"
    v = value.strip().lower()
    if name == "standard_conforming_strings":
        safe = v in _SCS_SAFE
    elif name == "backslash_quote":
        safe = v in _BQ_SAFE
    else:
        safe = _NOT_ALNUM.sub("", v) not in _DANGEROUS_ENCODINGS
    return None if safe else f"{name} set to {value!r}, which changes how the server reads later statements"


def const_text(node: Any) -> str | None:
    """The text of a plain constant (``{"A_Const": ...}`` in pglast's JSON form), or None for anything else."""
    if not isinstance(node, dict):
        return None
    c = node.get("A_Const")
    if not isinstance(c, dict) or c.get("isnull"):
        return None
    # PostgreSQL's JSON output leaves out zero and false, so {"ival": {}} is 0 and {"boolval": {}} is false.
    if "sval" in c:
        return str(c["sval"].get("sval", ""))
    if "ival" in c:
        return str(c["ival"].get("ival", 0))
    if "fval" in c:
        return str(c["fval"].get("fval", "0"))
    if "boolval" in c:
        return "true" if c["boolval"].get("boolval") else "false"
    if "bsval" in c:
        return str(c["bsval"].get("bsval", ""))
    return None


def set_statement_problem(stmt: dict[str, Any]) -> str | None:
    """Why this VariableSetStmt (SET / RESET, or the SET of ALTER ROLE/DATABASE/SYSTEM/FUNCTION) is unsafe."""
    name = str(stmt.get("name", "")).lower()
    if name not in PARSER_SETTINGS:
        return None
    kind = stmt.get("kind")
    if kind in ("VAR_SET_DEFAULT", "VAR_RESET", "VAR_RESET_ALL"):
        return None
    args = stmt.get("args") or []
    if kind != "VAR_SET_VALUE" or len(args) != 1:
        return value_problem(name, None)
    return value_problem(name, const_text(args[0]))


def set_config_problem(args: list[Any]) -> str | None:
    """Why this ``set_config(name, value, is_local)`` call is unsafe (its arguments in pglast's JSON form)."""
    if len(args) < 2:
        return None
    name = const_text(args[0])
    if name is None:
        return "set_config with a setting name that is not a constant, so the gateway cannot check it"
    return value_problem(name.strip().lower(), const_text(args[1]))
