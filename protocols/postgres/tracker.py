"""Which client message each upstream response answers. Pure: no sockets, no Twisted.

The extended protocol is pipelined: a client may send Parse, Bind, Describe, Execute and Sync for several
statements before reading anything. To put a denial's error in the right place, and to know which command a
result set belongs to, the relay pushes one :class:`Expect` per forwarded message that the server answers, and
pops it when the server's answer to it is complete. After an error inside an extended-protocol batch the server
skips everything until Sync; :meth:`Tracker.error` mirrors that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from interceptor.model import Command, Verdict

QUERY, PARSE, BIND, DESCRIBE_S, DESCRIBE_P, EXECUTE, CLOSE, SYNC, CALL = range(9)
#: kinds answered up to and including a ReadyForQuery
_SYNC_POINTS = frozenset({QUERY, SYNC, CALL})


class TrackerError(Exception):
    """The upstream answered something the protocol does not allow here; the session cannot be trusted."""


@dataclass(slots=True)
class Expect:
    kind: int
    command: Command | None = None
    name: str = ""
    denied: Verdict | None = None
    internal: bool = False  # a message the relay added itself (its answer is not forwarded to the client)


class _Idle(deque[Expect]):
    """The one empty queue every idle tracker shares (an empty deque is 600 bytes, per session). Nothing may be
    added to it: :meth:`Tracker.push` gives the tracker a queue of its own first."""

    def append(self, x: Expect) -> None:
        raise RuntimeError("the shared idle queue takes nothing: use Tracker.push")

    def extend(self, xs: Any) -> None:
        raise RuntimeError("the shared idle queue takes nothing: use Tracker.push")


_IDLE = _Idle()


@dataclass(slots=True)
class Tracker:
    #: what the upstream still owes, in order; the shared empty ``_IDLE`` while nothing is outstanding
    queue: deque[Expect] = field(default_factory=lambda: _IDLE)
    #: prepared statement name -> the Parse command that made it (until closed or replaced)
    statements: dict[str, Command] = field(default_factory=dict)
    #: statement or portal name -> the RowDescription fields the server described for it
    statement_columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    portals: dict[str, str] = field(default_factory=dict)  # portal -> statement
    portal_columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    portal_formats: dict[str, tuple[int, ...]] = field(default_factory=dict)  # portal -> Bind's result formats

    def push(
        self, kind: int, command: Command | None = None, name: str = "", denied: Verdict | None = None,
        internal: bool = False,
    ) -> None:  # fmt: skip
        queue = self.queue
        if queue is _IDLE:
            queue = self.queue = deque()
        queue.append(Expect(kind, command, name, denied, internal))

    @property
    def head(self) -> Expect | None:
        return self.queue[0] if self.queue else None

    def pop(self, *kinds: int) -> Expect:
        """Pop the head, which must be one of ``kinds``."""
        if not self.queue or self.queue[0].kind not in kinds:
            got = self.queue[0].kind if self.queue else None
            raise TrackerError(f"upstream answered out of turn (expected one of {kinds}, head {got})")
        return self.queue.popleft()

    def ready(self) -> Expect:
        """A ReadyForQuery: ends the current Query, FunctionCall or Sync (an idle session gives its queue back)."""
        done = self.pop(QUERY, SYNC, CALL)
        if not self.queue:
            self.queue = _IDLE
        return done

    def error(self) -> Expect | None:
        """An ErrorResponse: returns the message it answers. Inside an extended batch the server now skips to Sync,
        so the skipped messages are dropped too; a Query or FunctionCall still waits for its ReadyForQuery."""
        head = self.head
        if head is None:
            return None
        if head.kind in _SYNC_POINTS:
            return head
        self.queue.popleft()
        while self.queue and self.queue[0].kind != SYNC:
            self.queue.popleft()
        return head

    def command_for_execute(self, portal: str) -> Command | None:
        stmt = self.portals.get(portal)
        return self.statements.get(stmt) if stmt is not None else None

    def columns_for_execute(self, portal: str) -> tuple[Any, ...] | None:
        """The columns an Execute of ``portal`` returns: from a Describe of the portal or of its statement (``()``
        when the server said NoData), or None when neither was described."""
        cols = self.portal_columns.get(portal)
        if cols is None:
            stmt = self.portals.get(portal)
            cols = self.statement_columns.get(stmt) if stmt is not None else None
        return cols

    def describing(self, portal: str) -> bool:
        """A Describe of ``portal``, or of its statement, is on its way (its answer has not come yet)."""
        stmt = self.portals.get(portal)
        return any(
            (e.kind == DESCRIBE_P and e.name == portal) or (e.kind == DESCRIBE_S and e.name == stmt) for e in self.queue
        )
