"""The token walk under the MySQL statement handlers: what a range of tokens reads, calls and names.

:meth:`Walk.scan` reads any stretch of a statement (an expression, a clause, a whole SELECT) in one pass:

* every ``name(`` (and ``db.name(``) is a function call, except syntax keywords (``IN (``, ``VALUES (``...), data
  types (``INT(11)``) and index names (``KEY k (a)``); calls add :mod:`interceptor.sql.mysql_functions` effects;
* ``SELECT`` anywhere is ``select`` (subqueries, ``INSERT ... SELECT``, ``CREATE TABLE ... AS SELECT``...);
  ``TABLE t`` after ``(`` or a set operator too;
* ``FROM``, ``JOIN``, ``USING`` (DELETE's), ``TABLE``/``TABLES`` and ``REFERENCES`` start a table list, except
  inside a function's parentheses (``EXTRACT(YEAR FROM d)``);
* ``INTO OUTFILE`` / ``INTO DUMPFILE`` is ``file_write``; ``ON DUPLICATE KEY UPDATE`` is ``update``;
* ``WITH [RECURSIVE] name AS (...)`` brings CTE names into scope (they are not tables there).

Table names are lower case, ``db.table`` when qualified, unquoted. Everything a walk finds goes into a
:class:`Result`, which the walks of prepared statement texts share.
"""

from __future__ import annotations

from interceptor.sql.mysql_functions import effects_of
from interceptor.sql.mysql_lexer import NUM, OP, QID, WORD, Token

Scope = frozenset[str]
MAX_NESTING = 100

# Words that may stand before "(" without being a function call.
NOT_CALLS = frozenset(
    """and or not xor in exists as on using where select from join straight_join when then else elseif is like
    regexp rlike between all any some distinct distinctrow values value row into key keys index primary unique
    check references partition partitions subpartition over by with union except intersect return returns case
    while until do having limit set table tables lateral for of to against columns nested path order group default
    constraint foreign binary match div than range list hash btree rtree column fulltext spatial""".split()
)
# Data types: "INT(11)" is not a call (types that are also functions, CHAR DATE TIME YEAR..., are reported).
TYPES = frozenset(
    """tinyint smallint mediumint middleint int integer bigint int1 int2 int3 int4 int8 decimal dec numeric fixed
    float float4 float8 double real bit bool boolean varchar varbinary nvarchar nchar tinytext text mediumtext
    longtext tinyblob blob mediumblob longblob datetime enum serial varchar2 number raw""".split()
)
# Words that end a table list (the statement's next clause).
LIST_STOPS = frozenset(
    """where group having order limit union except intersect window into on using set values value select table
    with returning procedure to like then else end when do elseif until""".split()
)
QUERY_STARTS = frozenset({"select", "with", "values", "table"})
_JOIN_WORDS = frozenset({"join", "straight_join", "inner", "cross", "left", "right", "natural", "outer", "full"})
_SET_OPERATORS = frozenset({"union", "except", "intersect", "all", "distinct"})
_NAMES = (WORD, QID)


class Result:
    """What a statement text does, gathered by its walks."""

    __slots__ = (
        "constants", "dynamic", "effects", "files", "functions", "loads", "parser_state", "reasons", "tables",
    )  # fmt: skip

    def __init__(self) -> None:
        self.effects: set[str] = set()
        self.tables: set[str] = set()
        self.functions: set[str] = set()
        self.reasons: list[str] = []
        self.parser_state: list[str] = []
        self.loads: list[bool] = []  # LOAD DATA statements: LOCAL or not
        self.files: list[str] = []  # the client files LOAD DATA LOCAL statements name
        self.dynamic = False  # SQL text the gateway cannot read will run (EXECUTE, PREPARE FROM @var)
        self.constants = False  # the result depends on a constant's value (see interceptor.sql)


class Walk:
    """The tokens of one text and the state of the walk over them."""

    __slots__ = ("close", "depth", "n", "nested_too_deep", "problems", "quiet", "result", "scope", "toks")

    def __init__(self, toks: list[Token], result: Result | None = None, depth: int = 0) -> None:
        self.toks = toks
        self.n = len(toks)
        self.result = Result() if result is None else result
        self.depth = depth  # how many PREPARE texts deep this walk is
        self.quiet = False  # under a plain EXPLAIN: report names, add no effects
        self.scope: Scope = frozenset()  # CTE names of the statement being classified
        self.problems: list[str] = []
        self.nested_too_deep = False
        self.close = self._pair_parentheses()

    def _pair_parentheses(self) -> list[int]:
        """close[i] for each "(": the index of its ")" (or of the ";" / end where it is left open)."""
        close = [0] * self.n
        stack: list[int] = []
        unbalanced = False
        for i, t in enumerate(self.toks):
            if t.kind != OP:
                continue
            v = t.value
            if v == "(":
                stack.append(i)
                if len(stack) > MAX_NESTING:
                    self.problems.append(f"parentheses nested more than {MAX_NESTING} deep")
                    self.nested_too_deep = True
                    return close
            elif v == ")":
                if stack:
                    close[stack.pop()] = i
                else:
                    unbalanced = True
            elif v == ";" and stack:
                for j in stack:
                    close[j] = i
                stack.clear()
                unbalanced = True
        for j in stack:
            close[j] = self.n
        if unbalanced or stack:
            self.problems.append("unbalanced parentheses")
        return close

    # -- results ---------------------------------------------------------------------------------------------------

    def add(self, *effects: str) -> None:
        if not self.quiet:
            self.result.effects.update(effects)

    def unknown(self, reason: str) -> None:
        self.result.effects.add("unknown")
        self.result.reasons.append(reason)

    def unsafe(self, problem: str | None) -> None:
        """A setting that changes how the server reads later statements (the blocking plugin refuses it)."""
        if problem is not None and not self.quiet:
            self.result.effects.add("admin")
            self.result.parser_state.append(problem)

    def table(self, name: str, scope: Scope) -> None:
        if "." in name or name not in scope:
            self.result.tables.add(name)

    def call(self, name: str) -> None:
        bare = name.rsplit(".", 1)[-1]
        self.result.functions.add(name)
        self.result.functions.add(bare)
        if not self.quiet:
            self.result.effects.update(effects_of(bare))

    # -- token tests -----------------------------------------------------------------------------------------------

    def word(self, i: int) -> str:
        """The keyword at ``i`` (lower case), or "" for anything else."""
        if i < self.n:
            t = self.toks[i]
            if t.kind == WORD:
                return t.value
        return ""

    def op(self, i: int, value: str) -> bool:
        if i < self.n:
            t = self.toks[i]
            return t.kind == OP and t.value == value
        return False

    def is_name(self, i: int) -> bool:
        return i < self.n and self.toks[i].kind in _NAMES

    def name_at(self, i: int, end: int) -> tuple[str, int]:
        """The (possibly qualified) name starting at ``i`` and the index after it."""
        name = self.toks[i].value
        if i + 2 < end and self.op(i + 1, ".") and self.toks[i + 2].kind in (WORD, QID, NUM):
            part = self.toks[i + 2]
            if part.kind == NUM:  # db.5: the server reads the digits as a name, the caches' keys blank them
                self.result.constants = True
            return f"{name}.{part.value}".lower(), i + 3
        return name.lower(), i + 1

    def find(self, i: int, end: int, words: frozenset[str]) -> int:
        """The first of ``words`` at ``i``'s nesting level (parentheses and CASE ... END skipped), or ``end``."""
        cases = 0
        toks, close = self.toks, self.close
        while i < end:
            t = toks[i]
            if t.kind == OP and t.value == "(":
                i = close[i] + 1
                continue
            if t.kind == WORD:
                v = t.value
                if v == "case":
                    cases += 1
                elif v == "end" and cases:
                    cases -= 1
                elif cases == 0 and v in words:
                    return i
            i += 1
        return end

    def is_call(self, i: int) -> bool:
        """Whether the name at ``i`` (followed by "(") calls a function."""
        if i and self.word(i - 1) in ("index", "key"):  # KEY k (a): an index name
            return False
        t = self.toks[i]
        return t.kind == QID or (t.value not in NOT_CALLS and t.value not in TYPES)

    # -- the walk --------------------------------------------------------------------------------------------------

    def scan(self, i: int, end: int, scope: Scope | None = None) -> None:
        """Read tokens ``i`` to ``end`` (see the module docstring)."""
        toks = self.toks
        if scope is None:
            scope = self.scope
        stack: list[tuple[bool, Scope]] = []  # per open "(": whether a function call opened it, the scope before
        while i < end:
            t = toks[i]
            kind = t.kind
            if kind == OP:
                if t.value == "(":
                    stack.append((False, scope))
                elif t.value == ")" and stack:
                    scope = stack.pop()[1]
                i += 1
                continue
            if kind in _NAMES and i + 1 < end:
                nxt = toks[i + 1]
                if nxt.kind == OP:
                    if nxt.value == "(" and self.is_call(i):
                        self.call(t.value.lower())
                        stack.append((True, scope))
                        i += 2
                        continue
                    if nxt.value == "." and i + 3 < end and toks[i + 2].kind in _NAMES and self.op(i + 3, "("):
                        self.call(f"{t.value}.{toks[i + 2].value}".lower())
                        stack.append((True, scope))
                        i += 4
                        continue
            if kind != WORD:
                i += 1
                continue
            v = t.value
            if v == "select":
                self.add("select")
            elif v == "with":
                i, scope = self.ctes(i, end, scope)
                continue
            elif stack and stack[-1][0]:
                pass  # inside a function's parentheses: EXTRACT(YEAR FROM d), CONVERT(x USING utf8mb4)
            elif v in ("from", "join", "straight_join") or (v == "using" and not self.op(i + 1, "(")):
                i = self.table_list(i + 1, end, scope)
                continue
            elif v in ("table", "tables"):
                prev = toks[i - 1] if i else None
                if prev is not None and (prev.value == "(" if prev.kind == OP else prev.value in _SET_OPERATORS):
                    self.add("select")
                i = self.table_list(i + 1, end, scope)
                continue
            elif v == "references" and i + 1 < end and toks[i + 1].kind in _NAMES:
                name, i = self.name_at(i + 1, end)
                self.table(name, scope)
                continue
            elif v == "into" and self.word(i + 1) in ("outfile", "dumpfile"):
                self.add("file_write")
            elif v == "on" and self.word(i + 1) == "duplicate" and self.word(i + 3) == "update":
                self.add("update")
            i += 1

    def ctes(self, i: int, end: int, scope: Scope) -> tuple[int, Scope]:
        """At a WITH: walk its CTE bodies; returns the index after the list and the scope with the CTE names
        (``i + 1`` and the same scope when this WITH starts no CTE list: WITH ROLLUP, WITH CHECK OPTION...)."""
        k = i + 1
        recursive = self.word(k) == "recursive"
        if recursive:
            k += 1
        names: list[str] = []
        bodies: list[tuple[int, int]] = []
        while k < end and self.is_name(k):
            name = self.toks[k].value.lower()
            j = k + 1
            if self.op(j, "("):
                j = self.close[j] + 1
            if self.word(j) != "as" or not self.op(j + 1, "("):
                break
            close = min(self.close[j + 1], end)
            names.append(name)
            bodies.append((j + 2, close))
            k = close + 1
            if not self.op(k, ","):
                break
            k += 1
        if not names:
            return i + 1, scope
        for n, (a, b) in enumerate(bodies):
            # a CTE sees the CTEs before it (and, when recursive, all of them, itself included)
            self.scan(a, b, scope.union(names if recursive else names[:n]))
        return k, scope.union(names)

    def condition_end(self, i: int, end: int) -> int:
        """Where a join condition starting at ``i`` ends: at a comma, a join, or the next clause."""
        toks, close = self.toks, self.close
        cases = 0
        while i < end:
            t = toks[i]
            if t.kind == OP:
                if t.value == "(":
                    i = close[i] + 1
                    continue
                if t.value in (",", ")", ";", "}"):
                    return i
            elif t.kind == WORD:
                v = t.value
                if v == "case":
                    cases += 1
                elif v == "end" and cases:
                    cases -= 1
                elif not cases and (v in LIST_STOPS or (v in _JOIN_WORDS and not self.op(i + 1, "("))):
                    return i
            i += 1
        return end

    def table_list(self, i: int, end: int, scope: Scope) -> int:
        """Read ``t [AS a] [modifiers], db.u JOIN v ...`` from ``i``; returns where the list ends."""
        toks, close = self.toks, self.close
        expect = True  # a table reference comes next
        while i < end:
            t = toks[i]
            kind, v = t.kind, t.value
            if kind == OP and v == "(":
                c = min(close[i], end)
                if not expect:  # PARTITION (p), USE INDEX (i), a column list
                    self.scan(i + 1, c, scope)
                else:
                    first = i + 1
                    while first < c and self.op(first, "("):
                        first += 1
                    if self.word(first) in QUERY_STARTS:  # a derived table
                        self.scan(i + 1, c, scope)
                    else:  # parenthesised table references
                        self.scan(self.table_list(i + 1, c, scope), c, scope)
                    expect = False
                i = c + 1
                continue
            if kind == OP:
                if v == "{" and expect and self.word(i + 1) == "oj":  # ODBC's { OJ t1 LEFT JOIN t2 ON ... }
                    i += 2
                    continue
                if v == "," and not expect:
                    expect = True
                elif expect or v in (")", ";"):
                    return i
                i += 1  # an operator inside modifiers (FOR SYSTEM_TIME AS OF x + INTERVAL 1 DAY)
                continue
            if kind == WORD:
                if not expect and v == "on" and self.word(i + 1) != "duplicate":  # a join condition
                    stop = self.condition_end(i + 1, end)
                    self.scan(i + 1, stop, scope)
                    i = stop
                    continue
                if not expect and v == "for" and self.word(i + 1) in ("join", "order", "group"):  # an index hint
                    i += 3 if self.word(i + 2) == "by" else 2
                    continue
                if not expect and v == "using" and self.op(i + 1, "("):  # JOIN ... USING (columns)
                    i = min(close[i + 1], end) + 1
                    continue
                if v in LIST_STOPS:
                    return i
                if v in ("join", "straight_join"):
                    expect = True
                    i += 1
                    continue
                if expect and v == "if" and self.word(i + 1) in ("exists", "not"):
                    i += 2 if self.word(i + 1) == "exists" else 3
                    continue
                if expect and v in ("lateral", "dual"):
                    expect = v == "lateral"
                    i += 1
                    continue
            if kind in _NAMES and self.op(i + 1, "(") and (expect or self.is_call(i)):
                self.call(v.lower())  # a table function (JSON_TABLE), or a call where none belongs
                c = min(close[i + 1], end)
                self.scan(i + 2, c, scope)
                i = c + 1
                expect = False
                continue
            if expect:
                if kind not in _NAMES:
                    return i
                name, i = self.name_at(i, end)
                self.table(name, scope)
                expect = False
                continue
            i += 1  # an alias, or a modifier (AS, USE INDEX, FOR SYSTEM_TIME ..., READ, WRITE...)
        return i
