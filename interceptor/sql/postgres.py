"""PostgreSQL statement classification: PostgreSQL's own parser (through pglast), then one walk of the whole tree.

The tree is pglast's JSON form (``parse_sql_json``: about 25x faster to build than pglast's Python objects), read
as plain dicts: a node is ``{"NodeType": {fields}}``, and a field declared with a concrete type (``relation``,
``setstmt``, ``funccall``...) holds the fields without the wrapper. Every node is visited, so a statement nested in
a CTE, a subquery, a set operation, INSERT ... SELECT, a rule, a COPY or a BEGIN ATOMIC body counts too.

The effect of every statement is listed in :mod:`interceptor.sql.statements`. Definitions stored for later (a
view's query, a rule's actions, a function's BEGIN ATOMIC body, a DEFAULT expression) count with their effects
too: the gateway cannot tell when they will run. Function calls add the effects of
:mod:`interceptor.sql.functions`; parser-state settings are decided by :mod:`interceptor.sql.settings`.

``tables`` holds every relation named (lower case, ``schema.name`` when qualified, a catalog prefix dropped), but
not a reference to a CTE in scope. ``functions`` holds every function called, both as written (``pg_catalog.now``)
and bare (``now``).

``shape`` and ``literal_key`` make the cache keys of :mod:`interceptor.sql`, which explains when they may be shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pglast import parser as _pg

from interceptor.model import Classification
from interceptor.sql import settings
from interceptor.sql.copy import copy_spec, option_bool
from interceptor.sql.functions import effects_of
from interceptor.sql.literals import Blanker
from interceptor.sql.statements import RELATION_OBJECTS, STATEMENT_EFFECTS

Fields = dict[str, Any]
Scope = frozenset[str]

_NO_SCOPE: Scope = frozenset()
_NONE: frozenset[str] = frozenset()

_LEAVES = frozenset({"String", "Integer", "Float", "Boolean", "BitString", "A_Const", "A_Star", "ParamRef"})


class _Walk:
    """What one statement text does, gathered while its tree is walked (explicitly, never recursively)."""

    __slots__ = ("constants", "copies", "effects", "functions", "parser_state", "reasons", "stack", "tables")

    def __init__(self) -> None:
        self.effects: set[str] = set()
        self.tables: set[str] = set()
        self.functions: set[str] = set()
        self.reasons: list[str] = []
        self.parser_state: list[str] = []
        self.copies: list[dict[str, Any]] = []
        self.constants = False  # True once the result depends on a constant's value (see interceptor.sql)
        self.stack: list[tuple[Any, Scope, bool]] = []

    def unknown(self, reason: str) -> None:
        self.effects.add("unknown")
        self.reasons.append(reason)

    def unsafe(self, problem: str | None) -> None:
        if problem is not None:
            self.effects.add("admin")
            self.parser_state.append(problem)

    def table(self, f: Fields, scope: Scope) -> None:
        name = f.get("relname")
        if not isinstance(name, str):
            return
        schema = f.get("schemaname")
        if schema is None:
            if name not in scope:  # an unqualified name in a CTE's scope is the CTE
                self.tables.add(name.lower())
        else:
            self.tables.add(f"{schema}.{name}".lower())

    def names(self, items: Any) -> str | None:
        """A dotted name from a list of String nodes (catalog prefix dropped)."""
        if isinstance(items, dict):
            items = items.get("List", {}).get("items")
        if not isinstance(items, list):
            return None
        parts = [str(i.get("String", {}).get("sval", "")) for i in items if isinstance(i, dict)]
        return ".".join(parts[-2:]).lower() if parts else None

    def run(self, root: Any, scope: Scope = _NO_SCOPE, quiet: bool = False) -> None:
        """Visit every node under ``root``. ``quiet`` (under a plain EXPLAIN): report names, add no effects."""
        stack = self.stack
        stack.append((root, scope, quiet))
        handlers = _HANDLERS
        fixed = STATEMENT_EFFECTS
        while stack:
            node, scope, quiet = stack.pop()
            if type(node) is list:
                stack.extend((x, scope, quiet) for x in node if type(x) is dict or type(x) is list)
                continue
            if type(node) is not dict:
                continue
            if "withClause" in node:
                scope = self.ctes(node["withClause"], scope, quiet)
            if "relname" in node:  # a RangeVar in a typed field: always a real relation, never a CTE
                self.table(node, _NO_SCOPE)
            if "setstmt" in node and type(node["setstmt"]) is dict:  # ALTER ROLE / DATABASE / SYSTEM ... SET
                self.constants = True
                if not quiet:
                    self.unsafe(settings.set_statement_problem(node["setstmt"]))
            if "funccall" in node and type(node["funccall"]) is dict:  # CALL's FuncCall
                _func_call(self, node["funccall"], scope, quiet, push=False)
            for key, value in node.items():
                handler = handlers.get(key)
                if handler is not None:
                    handler(self, value, scope, quiet)
                    continue
                effects = fixed.get(key)
                if effects is not None and not quiet:
                    self.effects.update(effects)
                if (type(value) is dict or type(value) is list) and key != "withClause":
                    stack.append((value, scope, quiet))

    def ctes(self, clause: Any, scope: Scope, quiet: bool) -> Scope:
        """Queue a WITH clause's CTE bodies; returns the scope of the statement that owns the WITH."""
        if type(clause) is not dict:
            return scope
        ctes = [c.get("CommonTableExpr", {}) for c in clause.get("ctes", []) if type(c) is dict]
        names = [str(c.get("ctename", "")) for c in ctes]
        recursive = bool(clause.get("recursive"))
        for i, cte in enumerate(ctes):
            # a non-recursive CTE sees only the CTEs before it; a same-named table inside it is the real table
            visible = names if recursive else names[:i]
            self.stack.append((cte, scope.union(visible), quiet))
        return scope.union(names)


Handler = Callable[[_Walk, Any, Scope, bool], None]


def _add(w: _Walk, quiet: bool, *effects: str) -> None:
    if not quiet:
        w.effects.update(effects)


def _skip(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    """Leaves (constants, names): nothing below them matters."""


def _range_var(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    if type(f) is dict:
        w.table(f, scope)


def _func_call(w: _Walk, f: Any, scope: Scope, quiet: bool, push: bool = True) -> None:
    if type(f) is not dict:
        return
    name = w.names(f.get("funcname"))
    if name is not None:
        bare = name.rsplit(".", 1)[-1]
        w.functions.add(name)
        w.functions.add(bare)
        if not quiet:
            w.effects.update(effects_of(bare))
            if bare == "set_config":
                w.constants = True
                w.unsafe(settings.set_config_problem(f.get("args") or []))
    if push:
        w.stack.append((f, scope, quiet))


def _select(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "select")
    if type(f) is dict and f.get("intoClause"):
        _add(w, quiet, "create")  # SELECT ... INTO new_table
    w.stack.append((f, scope, quiet))


def _insert(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "insert")
    if type(f) is not dict:
        return
    if (f.get("onConflictClause") or {}).get("action") == "ONCONFLICT_UPDATE":
        _add(w, quiet, "update")
    source = f.get("selectStmt")
    values = source.get("SelectStmt") if type(source) is dict else None
    if type(values) is dict and "valuesLists" in values and "fromClause" not in values:
        # INSERT ... VALUES reads nothing: walk the rows (subqueries in them still count) without a "select"
        w.stack.append(({k: v for k, v in f.items() if k != "selectStmt"}, scope, quiet))
        w.stack.append((values, scope, quiet))
        return
    w.stack.append((f, scope, quiet))


def _update(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "update")
    rel = f.get("relation") if type(f) is dict else None
    if (
        not quiet
        and type(rel) is dict
        and str(rel.get("relname", "")).lower() == "pg_settings"
        and rel.get("schemaname", "pg_catalog").lower() == "pg_catalog"
    ):
        w.unsafe("UPDATE pg_settings changes session settings the gateway cannot check")
    w.stack.append((f, scope, quiet))


def _merge(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "merge")  # and, through its WHEN clauses, the insert / update / delete it may do
    w.stack.append((f, scope, quiet))


def _merge_when(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    command = f.get("commandType") if type(f) is dict else None
    effect = {"CMD_UPDATE": "update", "CMD_INSERT": "insert", "CMD_DELETE": "delete"}.get(str(command))
    if effect:
        _add(w, quiet, effect)
    w.stack.append((f, scope, quiet))


def _grant(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "grant" if type(f) is dict and f.get("is_grant") else "revoke")
    w.stack.append((f, scope, quiet))


def _default_privileges(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    action = f.get("action") if type(f) is dict else None
    _add(w, quiet, "alter", "grant" if type(action) is dict and action.get("is_grant") else "revoke")
    w.stack.append((f, scope, quiet))


def _objects(w: _Walk, f: Any, objtype_field: str, objects: list[Any]) -> None:
    if f.get(objtype_field) in RELATION_OBJECTS:
        for obj in objects:
            name = w.names(obj)
            if name:
                w.tables.add(name)


def _drop(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "drop")
    if type(f) is dict:
        _objects(w, f, "removeType", f.get("objects") or [])


def _comment(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "alter")  # COMMENT ON and SECURITY LABEL change catalog metadata
    if type(f) is dict:
        _objects(w, f, "objtype", [f.get("object")])


def _composite_type(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "create")  # its "typevar" names a type, not a table: walk the columns only
    if type(f) is dict:
        w.stack.append((f.get("coldeflist"), scope, quiet))


def _trigger(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    """CREATE [EVENT] TRIGGER names the function it will run later: report it like a call."""
    _add(w, quiet, "create")
    if type(f) is dict:
        _func_call(w, {"funcname": f.get("funcname")}, scope, quiet, push=False)
        w.stack.append((f, scope, quiet))


def _do(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "do")  # the body is another language's text, run later: not read


def _variable_set(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    w.constants = True
    if type(f) is dict and not quiet:
        w.unsafe(settings.set_statement_problem(f))


def _explain(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    _add(w, quiet, "explain")
    if type(f) is not dict:
        return
    analyze = False
    for item in f.get("options") or []:
        d = item.get("DefElem", {}) if type(item) is dict else {}
        if str(d.get("defname", "")).lower() == "analyze":
            w.constants = True
            analyze = option_bool(d.get("arg")) is not False  # unreadable: the stricter answer
    # plain EXPLAIN plans the statement without running it: its names are reported, its effects are not
    w.stack.append((f.get("query"), scope, quiet or not analyze))


def _copy(w: _Walk, f: Any, scope: Scope, quiet: bool) -> None:
    if type(f) is not dict:
        return
    w.constants = True
    is_from = bool(f.get("is_from"))
    if not quiet:
        w.effects.add("copy_from" if is_from else "copy_to")
        if f.get("is_program"):
            w.effects.add("program")
        elif f.get("filename") is not None:
            w.effects.add("file_read" if is_from else "file_write")
    spec = copy_spec(f, w.names)
    if isinstance(spec, str):
        w.unknown(spec)
    else:
        w.copies.append(spec)
    w.stack.append((f, scope, quiet))


_HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(_LEAVES, _skip),
    "RangeVar": _range_var,
    "FuncCall": _func_call,
    "SelectStmt": _select,
    "InsertStmt": _insert,
    "UpdateStmt": _update,
    "MergeStmt": _merge,
    "MergeWhenClause": _merge_when,
    "GrantStmt": _grant,
    "GrantRoleStmt": _grant,
    "AlterDefaultPrivilegesStmt": _default_privileges,
    "DropStmt": _drop,
    "CommentStmt": _comment,
    "SecLabelStmt": _comment,
    "CompositeTypeStmt": _composite_type,
    "CreateTrigStmt": _trigger,
    "CreateEventTrigStmt": _trigger,
    "DoStmt": _do,
    "VariableSetStmt": _variable_set,
    "ExplainStmt": _explain,
    "CopyStmt": _copy,
}
_STATEMENTS = frozenset(STATEMENT_EFFECTS) | frozenset(k for k in _HANDLERS if k.endswith("Stmt"))
_EMPTY = Classification(frozenset(), statements=0)


def shape(text: str) -> str | None:
    """``text`` with its constants replaced by ``$n`` (pglast's normalize), or None when it does not parse."""
    if "\x00" in text:
        return None
    try:
        return _pg.normalize(text)
    except Exception:  # any parser complaint: the full classification reports it
        return None


# The fast literal key (the rule and why it is safe: interceptor.sql, "Caching"). A text qualifies when it is, from
# left to right: runs of the plain characters below, string literals without a backslash, NUL or lone surrogate,
# quoted identifiers without NUL or lone surrogate, and "-" or "/" that do not start a comment. A quote right after
# b or x is refused: B'...' and X'...' do not read '' as a quote, so their ends are not where this scan puts them.
_MAX_KEY = 1024  # as interceptor.sql's: longer texts keep the exact and shape layers
_KEYABLE = re.compile(
    r"(?:[A-Za-z0-9_ \t\r\n,.()*=<>!+;:%^|~@#?\[\]]++"
    r"|'(?<![bBxX]')(?:[^'\\\x00\ud800-\udfff]++|'')*+'"
    r"|\"(?:[^\"\x00\ud800-\udfff]++|\"\")*+\""
    r"|-(?!-)|/(?!\*))*+"
)
# A number's digits: a maximal run of at most 9 (always below 2**31, so an integer constant stays one) that touches
# no letter or underscore (t1, 0x1F, 0b101, 1e5, 1_000 and 12abc are kept as written). 1.5 has two runs.
_AFTER_FIRST_DIGIT = r"(?<![A-Za-z0-9_$][0-9])[0-9]{0,8}(?![A-Za-z0-9_])"
# The keywords of the two grammar rules that check an integer's value (see interceptor.sql): no key with them.
_VALUE_CHECKED = re.compile(r"\bfloat\b|\bstatistics\b", re.ASCII)
_BLANK = Blanker('"', _AFTER_FIRST_DIGIT)


def literal_key(text: str) -> str | None:
    """``text`` with the contents of its string literals and the digits of its numbers replaced (``'x'`` -> ``''``,
    ``12`` -> ``0``, ``1.5`` -> ``0.0``), or None when the text is outside the small subset for which that is safe (see
    interceptor.sql, "Caching"): two texts with one key are read by PostgreSQL as the same tokens but for the values
    of their constants."""
    if len(text) > _MAX_KEY or _KEYABLE.fullmatch(text) is None:
        return None
    lowered = text.lower()
    if ("float" in lowered or "statistics" in lowered) and _VALUE_CHECKED.search(lowered) is not None:
        return None
    return _BLANK(text)


def classify(text: str) -> tuple[Classification, bool]:
    """Classify one PostgreSQL statement text. The flag says whether the result holds for every text of the same
    shape (constants aside): False when a constant's value was read (SET values, COPY options...)."""
    if "\x00" in text:
        return _unknown("the text contains a NUL character, where PostgreSQL would stop reading"), False
    try:
        tree = json.loads(_pg.parse_sql_json(text))
    except _pg.ParseError as exc:
        message = exc.args[0] if exc.args else str(exc)
        where = f" (at character {exc.args[1] + 1})" if len(exc.args) > 1 and isinstance(exc.args[1], int) else ""
        return _unknown(f"{message}{where}"), False
    except UnicodeError as exc:
        return _unknown(f"the text is not valid Unicode: {exc}"), False
    stmts = tree.get("stmts") or []
    if not stmts:
        return _EMPTY, True  # empty, or only comments: harmless
    w = _Walk()
    for raw in stmts:
        stmt = raw.get("stmt") or {}
        kind = next(iter(stmt), "")
        if kind not in _STATEMENTS:
            w.unknown(f"unrecognised statement {kind or '(empty)'}")
        elif kind == "VariableSetStmt":
            name = str(stmt[kind].get("name", ""))
            w.effects.add("transaction" if name == "TRANSACTION" else "set")
        w.run(stmt)
    detail: dict[str, Any] = {}
    if w.copies and all(c == w.copies[0] for c in w.copies):
        detail["copy"] = w.copies[0]  # several COPYs with different options: none, so rows cannot be misread
    if w.parser_state:
        detail["parser_state"] = "; ".join(w.parser_state)
    result = Classification(
        frozenset(w.effects),
        frozenset(w.tables),
        frozenset(w.functions),
        len(stmts),
        "; ".join(w.reasons),
        detail,
    )
    return result, not w.constants


def _unknown(reason: str) -> Classification:
    return Classification(frozenset({"unknown"}), reason=reason)
