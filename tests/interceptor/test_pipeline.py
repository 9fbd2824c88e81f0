"""Tests for interceptor.pipeline (with interceptor.hookspecs and interceptor.model): combining verdicts, failing
closed, Deferred verdicts, review, observers, rewriters and plugin loading. No sockets, no reactor."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed

from interceptor import hookspecs
from interceptor.hookspecs import hookimpl
from interceptor.model import (
    ALLOW,
    Action,
    Column,
    Command,
    CommandKind,
    Identity,
    IdentityKind,
    Session,
    Verdict,
)
from interceptor.pipeline import Pipeline, PluginLoadError, load_plugins, new_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
SESSION = Session("s1", Identity("bot", IdentityKind.AGENT, frozenset({"agents"})), "app", "postgres", "1.2.3.4", 0.0)
LOADABLE = "tests.interceptor.loadable_plugins"


def command(text: str = "select 1", seq: int = 1) -> Command:
    return Command(SESSION.id, seq, CommandKind.QUERY, text, "postgres")


def pipeline(*plugins: Any) -> Pipeline:
    """A pipeline with ``plugins`` registered in order, as ``p0``, ``p1``..."""
    pm = new_plugin_manager()
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{i}")
    return Pipeline(pm)


def result_of(d: Any) -> Any:
    """The result a Deferred has already fired with (fails the test if it has not fired, or failed)."""
    assert isinstance(d, Deferred), f"expected a Deferred, got {d!r}"
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    assert isinstance(out[0], Verdict), f"the Deferred fired with {out[0]!r}, not a Verdict"
    return out[0]


class Fixed:
    """Answers every command with the same thing (a Verdict, None, a Deferred, anything)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    @hookimpl
    def interceptor_check_command(self, session: Session, command: Command) -> Any:
        self.calls += 1
        return self.answer


class Raises:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def interceptor_check_command(self, command: Command) -> Any:
        self.calls += 1
        raise RuntimeError("plugin bug")


class Reviewer:
    """Implements interceptor_review with a fixed answer, and keeps what it was handed."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.handed: list[Verdict] = []

    @hookimpl
    def interceptor_review(self, session: Session, command: Command, verdict: Verdict) -> Any:
        self.handed.append(verdict)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Observer:
    def __init__(self, explode: bool = False) -> None:
        self.seen: list[tuple[int, Verdict]] = []
        self.explode = explode

    @hookimpl
    def interceptor_command_decided(self, command: Command, verdict: Verdict) -> None:
        self.seen.append((command.seq, verdict))
        if self.explode:
            raise RuntimeError("observer bug")


# -- combining verdicts ------------------------------------------------------------------------------------------


def test_no_plugins_allows() -> None:
    assert pipeline().check(SESSION, command()) == ALLOW
    assert ALLOW.allowed and ALLOW.action is Action.ALLOW


def test_only_no_opinions_allows() -> None:
    p = Fixed(None)
    assert pipeline(p, Fixed(None)).check(SESSION, command()) == ALLOW
    assert p.calls == 1


def test_a_synchronous_verdict_is_named_after_its_plugin() -> None:
    v = pipeline(Fixed(Verdict.deny("no", rule="r1"))).check(SESSION, command())
    assert isinstance(v, Verdict)
    assert (v.action, v.reason, v.rule, v.plugin) == (Action.DENY, "no", "r1", "p0")
    # a plugin that names itself keeps its own name
    v = pipeline(Fixed(Verdict.deny("no", plugin="mine"))).check(SESSION, command())
    assert v.plugin == "mine"


ANSWERS = st.lists(st.sampled_from([None, Action.ALLOW, Action.REVIEW, Action.DENY]), max_size=6)


@given(ANSWERS)
def test_strictest_verdict_wins(answers: list[Action | None]) -> None:
    plugins = [Fixed(None if a is None else Verdict(a, f"said {a.name}")) for a in answers]
    reviewer = Reviewer(Verdict.allow("approved", approved_by="carol"))
    v = pipeline(reviewer, *plugins).check(SESSION, command())
    actions = [a for a in answers if a is not None]
    strictest = max(actions, default=Action.ALLOW)
    if strictest is Action.REVIEW:
        # REVIEW goes to the reviewer, holding the REVIEW verdict, and the reviewer's answer is final
        assert [h.action for h in reviewer.handed] == [Action.REVIEW]
        assert result_of(v).approved_by == "carol"
        return
    assert reviewer.handed == []
    assert isinstance(v, Verdict)
    assert v.action is strictest
    if actions:
        assert v.reason == f"said {strictest.name}"
    assert all(p.calls == 1 for p in plugins), "every plugin is asked, even after a DENY"


def test_action_order_is_strictness() -> None:
    assert Action.DENY > Action.REVIEW > Action.ALLOW
    assert max([Action.ALLOW, Action.DENY, Action.REVIEW]) is Action.DENY


# -- failing closed ----------------------------------------------------------------------------------------------


def test_a_raising_plugin_denies_naming_it_and_the_others_still_run() -> None:
    before, after = Fixed(Verdict.allow("fine")), Fixed(Verdict.allow("fine"))
    bad = Raises()
    pm = new_plugin_manager()
    pm.register(before, name="before")
    pm.register(bad, name="buggy_policy")
    pm.register(after, name="after")
    v = Pipeline(pm).check(SESSION, command())
    assert isinstance(v, Verdict)
    assert v.action is Action.DENY
    assert v.plugin == "buggy_policy"
    assert "buggy_policy" in v.reason and "RuntimeError" in v.reason
    assert (before.calls, bad.calls, after.calls) == (1, 1, 1)


@pytest.mark.parametrize("junk", [True, "allow", 0, {"action": "allow"}, Action.ALLOW])
def test_a_non_verdict_answer_denies(junk: Any) -> None:
    v = pipeline(Fixed(junk)).check(SESSION, command())
    assert isinstance(v, Verdict)
    assert v.action is Action.DENY
    assert "p0" in v.reason and type(junk).__name__ in v.reason


# -- Deferred verdicts -------------------------------------------------------------------------------------------


def test_a_deferred_verdict_holds_the_command_until_it_fires() -> None:
    later: Deferred[Verdict] = Deferred()
    observer = Observer()
    d = pipeline(Fixed(Verdict.allow("sync")), Fixed(later), observer).check(SESSION, command())
    assert isinstance(d, Deferred)
    assert not d.called
    assert observer.seen == [], "nothing is decided before the Deferred fires"
    later.callback(Verdict.deny("decided later", rule="slow"))
    v = result_of(d)
    assert (v.action, v.reason, v.rule) == (Action.DENY, "decided later", "slow")
    assert observer.seen == [(1, v)]


def test_a_deferred_allow_combines_with_a_synchronous_deny() -> None:
    later: Deferred[Verdict] = Deferred()
    d = pipeline(Fixed(later), Fixed(Verdict.deny("sync no"))).check(SESSION, command())
    later.callback(Verdict.allow("async yes"))
    assert result_of(d).reason == "sync no"


def test_a_deferred_verdict_is_named_after_its_plugin() -> None:
    d = pipeline(Fixed(succeed(Verdict.deny("no")))).check(SESSION, command())
    assert result_of(d).plugin == "p0"


def test_a_deferred_with_no_opinion_allows() -> None:
    d = pipeline(Fixed(succeed(None))).check(SESSION, command())
    assert result_of(d).action is Action.ALLOW


def test_a_failing_deferred_denies_naming_the_plugin() -> None:
    later: Deferred[Verdict] = Deferred()
    d = pipeline(Fixed(Verdict.allow("ok")), Fixed(later)).check(SESSION, command())
    later.errback(ValueError("lookup failed"))
    v = result_of(d)
    assert v.action is Action.DENY
    assert v.plugin == "p1" and "p1" in v.reason and "ValueError" in v.reason


def test_a_deferred_firing_with_a_non_verdict_denies_naming_the_plugin() -> None:
    d = pipeline(Fixed(succeed("allow"))).check(SESSION, command())
    v = result_of(d)
    assert v.action is Action.DENY
    assert "p0" in v.reason


# -- review --------------------------------------------------------------------------------------------------------


def test_review_without_an_approval_plugin_denies() -> None:
    v = pipeline(Fixed(Verdict.review("risky statement"))).check(SESSION, command())
    assert isinstance(v, Verdict)
    assert v.action is Action.DENY
    assert "risky statement" in v.reason and "approval" in v.reason


def test_review_approved_later_allows() -> None:
    held: Deferred[Verdict] = Deferred()
    reviewer = Reviewer(held)
    observer = Observer()
    d = pipeline(reviewer, Fixed(Verdict.review("risky", rule="hold")), observer).check(SESSION, command())
    assert isinstance(d, Deferred) and not d.called
    assert [(h.action, h.reason, h.rule) for h in reviewer.handed] == [(Action.REVIEW, "risky", "hold")]
    assert observer.seen == []
    held.callback(Verdict.allow("approved", approved_by="carol"))
    v = result_of(d)
    assert v.action is Action.ALLOW and v.approved_by == "carol"
    assert observer.seen == [(1, v)]


def test_review_denied_later_denies() -> None:
    held: Deferred[Verdict] = Deferred()
    d = pipeline(Reviewer(held), Fixed(Verdict.review("risky"))).check(SESSION, command())
    held.callback(Verdict.deny("carol said no"))
    assert result_of(d).reason == "carol said no"


def test_a_reviewer_answering_at_once_is_used() -> None:
    reviewer = Reviewer(Verdict.allow("approved", approved_by="auto"))
    v = result_of(pipeline(reviewer, Fixed(Verdict.review("risky"))).check(SESSION, command()))
    assert v.action is Action.ALLOW and v.approved_by == "auto"


@pytest.mark.parametrize("answer", [Verdict.review("still thinking"), "yes", None])
def test_a_review_ending_without_a_decision_denies(answer: Any) -> None:
    held: Deferred[Any] = Deferred()
    d = pipeline(Reviewer(held), Fixed(Verdict.review("risky"))).check(SESSION, command())
    held.callback(answer)
    v = result_of(d)
    assert v.action is Action.DENY
    assert "without a decision" in v.reason


def test_a_failing_review_denies() -> None:
    held: Deferred[Verdict] = Deferred()
    d = pipeline(Reviewer(held), Fixed(Verdict.review("risky"))).check(SESSION, command())
    held.errback(RuntimeError("approval store down"))
    v = result_of(d)
    assert v.action is Action.DENY and "review" in v.reason


def test_a_raising_reviewer_denies() -> None:
    v = pipeline(Reviewer(RuntimeError("boom")), Fixed(Verdict.review("risky"))).check(SESSION, command())
    assert isinstance(v, Verdict)
    assert v.action is Action.DENY and "review" in v.reason and "RuntimeError" in v.reason


def test_review_reached_through_a_deferred_goes_to_the_reviewer() -> None:
    later: Deferred[Verdict] = Deferred()
    reviewer = Reviewer(succeed(Verdict.allow("approved", approved_by="dave")))
    d = pipeline(reviewer, Fixed(later)).check(SESSION, command())
    later.callback(Verdict.review("risky"))
    assert result_of(d).approved_by == "dave"
    assert len(reviewer.handed) == 1


def test_a_deny_is_never_sent_to_review() -> None:
    reviewer = Reviewer(Verdict.allow("approved", approved_by="carol"))
    v = pipeline(reviewer, Fixed(Verdict.review("risky")), Fixed(Verdict.deny("no"))).check(SESSION, command())
    assert isinstance(v, Verdict) and v.action is Action.DENY
    assert reviewer.handed == []


# -- observers -----------------------------------------------------------------------------------------------------


def test_observers_see_each_final_verdict_exactly_once() -> None:
    answers: list[Any] = [
        Verdict.allow("a"),
        Verdict.deny("b"),
        succeed(Verdict.allow("c")),
        fail(RuntimeError("d")),
        Verdict.review("e"),
    ]
    seen = Observer()
    plugin = Fixed(None)
    p = pipeline(plugin, seen, Reviewer(succeed(Verdict.allow("ok", approved_by="x"))))
    finals = []
    for seq, answer in enumerate(answers, 1):
        plugin.answer = answer
        out = p.check(SESSION, command(seq=seq))
        finals.append(out if isinstance(out, Verdict) else result_of(out))
    assert seen.seen == list(enumerate(finals, 1))
    assert [v.action for v in finals] == [Action.ALLOW, Action.DENY, Action.ALLOW, Action.DENY, Action.ALLOW]


def test_a_raising_observer_changes_nothing() -> None:
    first, bad, last = Observer(), Observer(explode=True), Observer()
    p = pipeline(first, bad, last, Fixed(Verdict.deny("no")))
    v = p.check(SESSION, command())
    assert isinstance(v, Verdict) and v.reason == "no"
    assert [s for s, _ in first.seen] == [s for s, _ in bad.seen] == [s for s, _ in last.seen] == [1]
    held: Deferred[Verdict] = Deferred()
    p = pipeline(first, bad, last, Fixed(held))
    d = p.check(SESSION, command(seq=2))
    held.callback(Verdict.allow("yes"))
    assert result_of(d).reason == "yes"
    assert [s for s, _ in last.seen] == [1, 2]


def test_other_observing_hooks_swallow_exceptions() -> None:
    class Watch:
        def __init__(self, explode: bool) -> None:
            self.explode = explode
            self.log: list[str] = []

        @hookimpl
        def interceptor_session_opened(self, session: Session) -> None:
            self.log.append("opened")
            if self.explode:
                raise RuntimeError

        @hookimpl
        def interceptor_session_closed(self, session: Session, reason: str) -> None:
            self.log.append(f"closed: {reason}")
            if self.explode:
                raise RuntimeError

        @hookimpl
        def interceptor_event(self, event: Any) -> None:
            self.log.append(f"{event.kind} {event.session_id} {dict(event.data)}")
            if self.explode:
                raise RuntimeError

    bad, good = Watch(True), Watch(False)
    p = pipeline(good, bad)
    p.session_opened(SESSION)
    p.event("auth.failed", "s1", identity="bot")
    p.session_closed(SESSION, "client closed")
    expected = ["opened", "auth.failed s1 {'identity': 'bot'}", "closed: client closed"]
    assert good.log == bad.log == expected


def test_configure_reaches_every_plugin_and_propagates_errors() -> None:
    class Conf:
        def __init__(self, explode: bool = False) -> None:
            self.got: list[Any] = []
            self.explode = explode

        @hookimpl
        def interceptor_configure(self, config: Any, reactor: Any) -> None:
            self.got.append((config, reactor))
            if self.explode:
                raise ValueError("bad setting")

    a, b = Conf(), Conf()
    pipeline(a, b).configure("cfg", "reactor")
    assert a.got == b.got == [("cfg", "reactor")]
    with pytest.raises(ValueError, match="bad setting"):
        pipeline(Conf(explode=True)).configure("cfg", "reactor")


# -- rewriters -----------------------------------------------------------------------------------------------------


class Suffix:
    """Rewrites column 0 by appending ``tag``; leaves rows alone when ``tag`` is None."""

    def __init__(self, tag: bytes | None, offer: bool = True) -> None:
        self.tag = tag
        self.offer = offer
        self.columns: list[Any] = []

    @hookimpl
    def interceptor_result_rewriter(self, columns: Any) -> Any:
        self.columns.append(columns)
        if not self.offer:
            return None
        tag = self.tag

        def rewrite(values: Any) -> Any:
            if tag is None:
                return None
            return [(values[0] or b"") + tag, *values[1:]]

        return rewrite


COLUMNS = (Column("a", 0), Column("b", 1))


def test_no_rewriter_when_no_plugin_rewrites() -> None:
    assert pipeline().rewriter(SESSION, command(), COLUMNS) is None
    assert not pipeline().rewrites
    declines = Suffix(b"x", offer=False)
    p = pipeline(declines)
    assert p.rewrites, "a plugin that implements the hook may rewrite"
    assert p.rewriter(SESSION, command(), COLUMNS) is None
    assert declines.columns == [COLUMNS]


def test_rewriters_compose_in_call_order() -> None:
    first, second = Suffix(b"1"), Suffix(b"2")
    p = pipeline(first, second)
    rewrite = p.rewriter(SESSION, command(), COLUMNS)
    assert rewrite is not None
    # pluggy's own call order for this hook (last registered first) is the order rewriters apply in
    order = [r([b""])[0] for r in p.pm.hook.interceptor_result_rewriter(session=SESSION, command=None, columns=())]
    assert order == [b"2", b"1"]
    assert rewrite([b"v", None]) == [b"v21", None]


def test_a_rewriter_leaving_the_row_alone_passes_it_on() -> None:
    p = pipeline(Suffix(b"1"), Suffix(None), Suffix(b"3"))
    rewrite = p.rewriter(SESSION, command(), COLUMNS)
    assert rewrite is not None
    assert rewrite([b"v", b"w"]) == [b"v31", b"w"]
    untouched = pipeline(Suffix(None), Suffix(None)).rewriter(SESSION, command(), COLUMNS)
    assert untouched is not None
    assert untouched([b"v", b"w"]) is None, "unchanged rows are reported as None, so the relay sends the original"


def test_a_single_rewriter_is_returned_as_is() -> None:
    rewrite = pipeline(Suffix(b"!"), Suffix(b"?", offer=False)).rewriter(SESSION, command(), COLUMNS)
    assert rewrite is not None
    assert rewrite([b"v"]) == [b"v!"]


def test_a_failing_rewriter_plugin_raises() -> None:
    class Broken:
        @hookimpl
        def interceptor_result_rewriter(self, columns: Any) -> Any:
            raise RuntimeError("cannot mask")

    with pytest.raises(RuntimeError, match="cannot mask"):
        pipeline(Suffix(b"1"), Broken()).rewriter(SESSION, command(), COLUMNS)


def test_compile_picks_up_plugins_registered_later() -> None:
    p = pipeline()
    assert not p.rewrites
    p.pm.register(Suffix(b"1"), name="late")
    p.pm.register(Fixed(Verdict.deny("late no")), name="late-policy")
    p.compile()
    assert p.rewrites
    v = p.check(SESSION, command())
    assert isinstance(v, Verdict) and v.reason == "late no"


# -- loading plugins -----------------------------------------------------------------------------------------------


def test_load_a_class_by_dotted_path() -> None:
    pm = new_plugin_manager()
    load_plugins(pm, [f"{LOADABLE}:DenyDrop"], entry_points_=False)
    plugin = pm.get_plugin(f"{LOADABLE}:DenyDrop")
    assert type(plugin).__name__ == "DenyDrop", "a class is instantiated"
    p = Pipeline(pm)
    v = p.check(SESSION, command("DROP TABLE t"))
    assert isinstance(v, Verdict)
    assert (v.action, v.rule, v.plugin) == (Action.DENY, "drop", f"{LOADABLE}:DenyDrop")
    assert p.check(SESSION, command("select 1")) == ALLOW


def test_each_plugin_manager_gets_its_own_instance_and_loading_twice_is_harmless() -> None:
    pm1, pm2 = new_plugin_manager(), new_plugin_manager()
    load_plugins(pm1, [f"{LOADABLE}:DenyDrop", f"{LOADABLE}:DenyDrop"], entry_points_=False)
    load_plugins(pm1, [f"{LOADABLE}:DenyDrop"], entry_points_=False)
    load_plugins(pm2, [f"{LOADABLE}:DenyDrop"], entry_points_=False)
    assert pm1.get_plugin(f"{LOADABLE}:DenyDrop") is not pm2.get_plugin(f"{LOADABLE}:DenyDrop")
    assert len(pm1.hook.interceptor_check_command.get_hookimpls()) == 1


def test_load_a_module_by_dotted_path() -> None:
    import tests.interceptor.loadable_plugins as module

    pm = new_plugin_manager()
    load_plugins(pm, [LOADABLE], entry_points_=False)
    assert pm.get_plugin(LOADABLE) is module
    module.CLOSED.clear()
    Pipeline(pm).session_closed(SESSION, "idle timeout")
    assert module.CLOSED == ["idle timeout"]


@pytest.mark.parametrize(
    "path",
    [
        "tests.interceptor.no_such_module",
        "no_such_top_level_package_xyz:Plugin",
        f"{LOADABLE}:NoSuchClass",
    ],
)
def test_a_missing_plugin_is_a_load_error(path: str) -> None:
    with pytest.raises(PluginLoadError, match=re.escape(path)):
        load_plugins(new_plugin_manager(), [path], entry_points_=False)


@pytest.mark.parametrize("name", ["NeedsArgs", "BadSignature", "UnknownHook"])
def test_a_plugin_that_cannot_be_registered_is_a_load_error(name: str) -> None:
    with pytest.raises(PluginLoadError, match=name if name != "UnknownHook" else "interceptor_check_comand"):
        load_plugins(new_plugin_manager(), [f"{LOADABLE}:{name}"], entry_points_=False)


def test_entry_point_plugins_load_unless_disabled() -> None:
    from interceptor.plugins.audit import AuditPlugin

    pm = new_plugin_manager()
    load_plugins(pm)
    assert isinstance(pm.get_plugin("audit"), AuditPlugin)
    pm = new_plugin_manager()
    load_plugins(pm, disabled=["audit"])
    assert pm.get_plugin("audit") is None
    assert not any(isinstance(p, AuditPlugin) for p in pm.get_plugins())


@pytest.mark.parametrize("hook", ["interceptor_check_command", "interceptor_command_decided"])
def test_wrapper_hookimpls_are_refused(hook: str) -> None:
    def body(self: Any, command: Any) -> Any:
        return (yield)

    body.__name__ = hook
    plugin = type("Wrapping", (), {hook: hookimpl(wrapper=True)(body)})()
    pm = new_plugin_manager()
    pm.register(plugin, name="wrapping")
    with pytest.raises(PluginLoadError, match=f"{hook} does not support wrapper"):
        Pipeline(pm)


# -- the plugin API is documented ----------------------------------------------------------------------------------


def hookspec_functions() -> dict[str, Any]:
    return {
        name: f
        for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(f, f"{hookspecs.PROJECT}_spec")
    }


def test_every_hookspec_has_a_docstring() -> None:
    specs = hookspec_functions()
    assert set(specs) == {name for name in dir(new_plugin_manager().hook) if name.startswith("interceptor_")}, (
        "every hook the plugin manager knows is a hookspec in interceptor/hookspecs.py"
    )
    assert len(specs) >= 8
    undocumented = [name for name, f in specs.items() if len(inspect.getdoc(f) or "") < 20]
    assert undocumented == []


def test_every_hookspec_is_in_docs_hooks_md() -> None:
    doc = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    missing = [name for name in hookspec_functions() if not re.search(rf"\b{name}\b", doc)]
    assert missing == []
