"""The shipped policy harness and strategies work the way plugin authors will use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given
from twisted.internet.defer import Deferred

from interceptor.hookspecs import hookimpl
from interceptor.model import Action, Verdict
from interceptor.testing import PolicyHarness
from interceptor.testing.strategies import commands, identities, sql_like


class NoDrops:
    @hookimpl
    def interceptor_check_command(self, session: Any, command: Any) -> Verdict | None:
        if "drop" in command.text.lower() and session.identity.kind == "agent":
            return Verdict.deny("no drops for agents", rule="no-drop")
        return None


class SlowReviewer:
    def __init__(self) -> None:
        self.reactor: Any = None

    @hookimpl
    def interceptor_configure(self, config: Any, reactor: Any) -> None:
        self.reactor = reactor

    @hookimpl
    def interceptor_check_command(self, command: Any) -> Verdict | None:
        return Verdict.review("needs a human") if "grant" in command.text.lower() else None

    @hookimpl
    def interceptor_review(self) -> Deferred[Verdict]:
        d: Deferred[Verdict] = Deferred()
        self.reactor.callLater(120, d.callback, Verdict.allow("ok", approved_by="alice"))
        return d


def test_harness_checks_by_identity_kind(interceptor_harness: Callable[..., PolicyHarness]) -> None:
    h = interceptor_harness([NoDrops()])
    assert h.check("DROP TABLE t", kind="agent").action is Action.DENY
    assert h.check("DROP TABLE t", kind="human").action is Action.ALLOW
    assert h.check("select 1").action is Action.ALLOW


def test_harness_resolves_held_commands_on_its_clock() -> None:
    h = PolicyHarness([SlowReviewer()], config=object())
    verdict = h.check("grant all on t to bob")
    assert verdict.action is Action.ALLOW and verdict.approved_by == "alice"
    assert h.clock.seconds() >= 120


@given(sql_like())
def test_fuzzing_a_policy_with_the_strategies(text: str) -> None:
    verdict = PolicyHarness([NoDrops()]).check(text, kind="agent")
    assert (verdict.action is Action.DENY) == ("drop" in text.lower())


@given(identities(), commands())
def test_strategies_build_model_objects(identity: Any, command: Any) -> None:
    assert identity.name and command.text is not None
