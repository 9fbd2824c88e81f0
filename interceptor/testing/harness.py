"""Run commands through plugins without sockets: the policy harness for plugin authors.

    from interceptor.testing import PolicyHarness
    harness = PolicyHarness([MyPlugin()])
    verdict = harness.check("DROP TABLE orders", identity="autogen-bot", kind="agent")
    assert verdict.action is Action.DENY

Held commands (a Deferred verdict) are resolved with a deterministic clock: ``check`` advances it until the
verdict fires or ``max_wait`` simulated seconds pass (then it raises ``TimeoutError``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from interceptor.model import (
    Column,
    Command,
    CommandKind,
    Identity,
    IdentityKind,
    RowRewriter,
    Session,
    Verdict,
    new_session_id,
)
from interceptor.pipeline import Pipeline, new_plugin_manager


class PolicyHarness:
    """A pipeline of the given plugins, a simulated clock, and helpers to build sessions and commands."""

    def __init__(self, plugins: Iterable[Any], config: Any = None, protocol: str = "postgres") -> None:
        pm = new_plugin_manager()
        for i, plugin in enumerate(plugins):
            pm.register(plugin, name=f"{type(plugin).__name__}-{i}")
        pm.check_pending()
        self.pipeline = Pipeline(pm)
        self.clock = Clock()
        self.protocol = protocol
        self._seq = itertools.count(1)
        if config is not None:
            self.pipeline.configure(config, self.clock)

    def session(
        self,
        identity: str = "agent",
        kind: str | IdentityKind = IdentityKind.AGENT,
        groups: Iterable[str] = (),
        connection: str = "db",
        policy: str | None = None,
    ) -> Session:
        who = Identity(identity, IdentityKind(kind), frozenset(groups))
        return Session(new_session_id(), who, connection, self.protocol, "127.0.0.1:1", time.time(), policy)

    def command(self, session: Session, text: str, kind: CommandKind = CommandKind.QUERY) -> Command:
        return Command(session.id, next(self._seq), kind, text, self.protocol)

    def check(
        self, text: str, session: Session | None = None, command_kind: CommandKind = CommandKind.QUERY,
        max_wait: float = 3600.0, **who: Any,
    ) -> Verdict:  # fmt: skip
        """The final verdict for ``text``, as the relay would get it. ``who`` goes to :meth:`session`
        (``identity``, ``kind``, ``groups``, ``connection``, ``policy``)."""
        session = session or self.session(**who)
        result = self.pipeline.check(session, self.command(session, text, command_kind))
        if not isinstance(result, Deferred):
            return result
        box: list[Verdict] = []
        result.addCallback(box.append)
        waited = 0.0
        while not box and waited < max_wait:
            self.clock.advance(1.0)
            waited += 1.0
        if not box:
            raise TimeoutError(f"verdict for {text!r} still pending after {max_wait} simulated seconds")
        return box[0]

    def rewriter(self, columns: Sequence[str | Column], text: str = "select", **who: Any) -> RowRewriter | None:
        """The composed row rewriter the plugins return for a result with these columns."""
        session = self.session(**who)
        cols = [c if isinstance(c, Column) else Column(c, i) for i, c in enumerate(columns)]
        return self.pipeline.rewriter(session, self.command(session, text), cols)
