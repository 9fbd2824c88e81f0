"""The hook pipeline: loads plugins, combines verdicts, hands REVIEW to the approver, compiles row rewriters.

Deciding and observing hooks are called implementation by implementation (not through one pluggy call) so that
an exception is pinned on the plugin that raised it: in a deciding hook it becomes a DENY naming that plugin, in
an observing hook it is logged and ignored. The implementation lists are compiled once, after plugins load, so a
command costs a few plain function calls.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from typing import Any

import pluggy
from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger

from interceptor import hookspecs
from interceptor.model import ALLOW, Action, Column, Command, Event, ResultObserver, RowRewriter, Session, Verdict

log = Logger(namespace="interceptor.pipeline")

ENTRY_POINT_GROUP = "interceptor"

Impl = tuple[str, Callable[..., Any], tuple[str, ...]]


class PluginLoadError(Exception):
    """A plugin named in the config or an entry point could not be loaded."""


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _instantiate(obj: Any) -> Any:
    """Entry points may name a module, an instance or a class; a class is instantiated with no arguments, so each
    gateway (and each test) gets plugin state of its own rather than a module global."""
    return obj() if inspect.isclass(obj) else obj


def load_plugins(
    pm: pluggy.PluginManager, modules: Iterable[str] = (), disabled: Iterable[str] = (), entry_points_: bool = True
) -> None:
    """Register the entry-point plugins (group ``interceptor``) not in ``disabled``, then each dotted path in
    ``modules``, and check that every hook they implement exists (``check_pending``)."""
    blocked = set(disabled)
    if entry_points_:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked or pm.has_plugin(ep.name):
                continue
            try:
                pm.register(_instantiate(ep.load()), name=ep.name)
            except Exception as e:
                raise PluginLoadError(f"plugin {ep.name} ({ep.value}): {e}") from e
    for path in modules:
        module_name, _, attr = path.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            if attr:
                obj = getattr(obj, attr)
            if not pm.has_plugin(path):
                pm.register(_instantiate(obj), name=path)
        except Exception as e:
            raise PluginLoadError(f"plugin {path}: {e}") from e
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginLoadError(str(e)) from e


class Pipeline:
    """Runs commands and results through the plugins. One per gateway process; passed in, never global."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.compile()

    def compile(self) -> None:
        """(Re)build the per-hook implementation lists. Call after registering or unregistering plugins."""
        self._impls: dict[str, list[Impl]] = {}
        for name in (
            "interceptor_session_opened",
            "interceptor_session_closed",
            "interceptor_check_command",
            "interceptor_command_decided",
            "interceptor_result_rewriter",
            "interceptor_result_observer",
            "interceptor_message_rewriter",
            "interceptor_event",
        ):
            impls = getattr(self.pm.hook, name).get_hookimpls()
            if any(i.hookwrapper or i.wrapper for i in impls):
                raise PluginLoadError(f"{name} does not support wrapper hookimpls")
            # pluggy calls the last registered first; keep that order.
            self._impls[name] = [(i.plugin_name, i.function, tuple(i.argnames)) for i in reversed(impls)]
        # the per-command and per-result hooks, each implementation called with positional arguments in the
        # hook's order (no argument dict and list per call: these run for every statement)
        self._check = self._positional("interceptor_check_command", ("session", "command"))
        self._decided_impls = self._positional("interceptor_command_decided", ("session", "command", "verdict"))
        self._rewriters = self._positional("interceptor_result_rewriter", ("session", "command", "columns"))
        self._observers = self._positional("interceptor_result_observer", ("session", "command", "columns"))

    def _positional(self, hook: str, order: tuple[str, ...]) -> list[tuple[str, Callable[..., Any]]]:
        return [(plugin, _adapt(func, argnames, order)) for plugin, func, argnames in self._impls[hook]]

    @property
    def rewrites(self) -> bool:
        """True when some plugin may rewrite results (else relays skip describing columns at all)."""
        return bool(self._impls["interceptor_result_rewriter"])

    # -- observing ---------------------------------------------------------------------------------------------

    def _observe(self, hook: str, **kw: Any) -> None:
        for plugin, func, argnames in self._impls[hook]:
            try:
                func(*[kw[a] for a in argnames])
            except Exception:
                log.failure("plugin {plugin} failed in {hook}", plugin=plugin, hook=hook)

    def session_opened(self, session: Session) -> None:
        self._observe("interceptor_session_opened", session=session)

    def session_closed(self, session: Session, reason: str) -> None:
        self._observe("interceptor_session_closed", session=session, reason=reason)

    def event(self, kind: str, session_id: str | None = None, **data: Any) -> None:
        if self._impls["interceptor_event"]:
            self._observe("interceptor_event", event=Event(kind, session_id, data))

    def configure(self, config: Any, reactor: Any) -> None:
        """Call every plugin's ``interceptor_configure``. Exceptions propagate: a bad config must not start."""
        self.pm.hook.interceptor_configure(config=config, reactor=reactor, emit=self.event)

    # -- deciding ----------------------------------------------------------------------------------------------

    def check(self, session: Session, command: Command) -> Verdict | Deferred[Verdict]:
        """The combined verdict for ``command``: a Verdict at once when every plugin answered synchronously (the
        hot path), else a Deferred. Never raises and never errbacks: every failure is a DENY."""
        verdicts: list[Verdict] = []
        pending: list[Deferred[Verdict | None]] = []
        for plugin, call in self._check:
            try:
                result = call(session, command)
            except Exception as e:
                log.failure("plugin {plugin} failed checking a command", plugin=plugin)
                verdicts.append(_plugin_failed(plugin, e))
                continue
            if isinstance(result, Deferred):
                pending.append(result.addCallback(_answer, plugin).addErrback(_failed_deferred, plugin))
            elif (verdict := _answer(result, plugin)) is not None:
                verdicts.append(verdict)
        if not pending:
            return self._settle(session, command, _strictest(verdicts))
        d: Deferred[Any] = gatherResults(pending, consumeErrors=True)
        d.addCallback(lambda more: _strictest(verdicts + [v for v in more if v is not None]))
        d.addCallback(lambda v: self._settle(session, command, v))
        d.addErrback(lambda f: self._decided(session, command, Verdict.deny(f"policy check failed: {f.value}")))
        return d

    def _settle(self, session: Session, command: Command, verdict: Verdict) -> Verdict | Deferred[Verdict]:
        if verdict.action is not Action.REVIEW:
            return self._decided(session, command, verdict)
        try:
            held = self.pm.hook.interceptor_review(session=session, command=command, verdict=verdict)
        except Exception as e:
            log.failure("review hook failed")
            return self._decided(session, command, _plugin_failed("review", e))
        if held is None:
            return self._decided(
                session, command, Verdict.deny(f"{verdict.reason} (needs approval, but no approval plugin is loaded)")
            )
        d: Deferred[Any] = held if isinstance(held, Deferred) else Deferred.fromCoroutine(_const(held))
        d.addCallback(
            lambda v: (
                v
                if isinstance(v, Verdict) and v.action is not Action.REVIEW
                else Verdict.deny("approval ended without a decision")
            )
        )
        d.addErrback(_failed_deferred, "review")
        d.addCallback(lambda v: self._decided(session, command, v))
        return d

    def _decided(self, session: Session, command: Command, verdict: Verdict) -> Verdict:
        for plugin, call in self._decided_impls:
            try:
                call(session, command, verdict)
            except Exception:
                log.failure("plugin {plugin} failed in {hook}", plugin=plugin, hook="interceptor_command_decided")
        return verdict

    @property
    def observes(self) -> bool:
        return bool(self._impls["interceptor_result_observer"])

    def observers(self, session: Session, command: Command, columns: Sequence[Column]) -> list[ResultObserver]:
        """The result observers for this result set, each wrapped so that its failures never touch traffic."""
        out: list[ResultObserver] = []
        for plugin, call in self._observers:
            try:
                obs = call(session, command, columns)
            except Exception:
                log.failure("plugin {plugin} failed in interceptor_result_observer", plugin=plugin)
                continue
            if obs is not None:
                out.append(_SafeObserver(obs, plugin))
        return out

    def message_rewriter(self, session: Session) -> Callable[[str], str] | None:
        """The composed rewriter for free text from the upstream, or None. Raises when a plugin fails: the relay
        must then end the session rather than pass text it could not mask."""
        found = []
        for _plugin, func, argnames in self._impls["interceptor_message_rewriter"]:
            kw = {"session": session}
            f = func(*[kw[a] for a in argnames])
            if f is not None:
                found.append(f)
        if not found:
            return None
        return found[0] if len(found) == 1 else _chain_text(found)

    def rewriter(self, session: Session, command: Command, columns: Sequence[Column]) -> RowRewriter | None:
        """One composed row rewriter for this result set, or None when no plugin rewrites it. Raises when a
        plugin fails: the relay must then withhold the result, never pass it unmasked."""
        found: list[RowRewriter] = []
        for _plugin, call in self._rewriters:
            r = call(session, command, columns)
            if r is not None:
                found.append(r)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return _chain(found)


class _SafeObserver:
    """Wraps a plugin's observer so that its failure is logged once and it is then left out."""

    __slots__ = ("_inner", "_plugin")

    def __init__(self, inner: ResultObserver | None, plugin: str) -> None:
        self._inner, self._plugin = inner, plugin

    def row(self, values: Sequence[bytes | None]) -> None:
        if self._inner is not None:
            try:
                self._inner.row(values)
            except Exception:
                log.failure("result observer of {plugin} failed; it sees no more of this result", plugin=self._plugin)
                self._inner = None

    def done(self, status: str, rows: int) -> None:
        if self._inner is not None:
            try:
                self._inner.done(status, rows)
            except Exception:
                log.failure("result observer of {plugin} failed", plugin=self._plugin)


def _chain_text(functions: list[Callable[[str], str]]) -> Callable[[str], str]:
    def rewrite(text: str) -> str:
        for f in functions:
            text = f(text)
        return text

    return rewrite


def _chain(rewriters: list[RowRewriter]) -> RowRewriter:
    def rewrite(values: Sequence[bytes | None]) -> Sequence[bytes | None] | None:
        changed = None
        for r in rewriters:
            out = r(changed if changed is not None else values)
            if out is not None:
                changed = out
        return changed

    return rewrite


def _adapt(func: Callable[..., Any], argnames: tuple[str, ...], order: tuple[str, ...]) -> Callable[..., Any]:
    """``func`` taking the hook's arguments positionally, in ``order`` (pluggy lets an implementation name any
    subset, in any order)."""
    if argnames == order:
        return func
    if not argnames:
        return lambda *_: func()
    if argnames == order[: len(argnames)]:
        n = len(argnames)
        return lambda *a: func(*a[:n])
    at = [order.index(name) for name in argnames]
    return lambda *a: func(*[a[i] for i in at])


async def _const(v: Any) -> Any:
    return v


def _strictest(verdicts: list[Verdict]) -> Verdict:
    if not verdicts:
        return ALLOW
    return max(verdicts, key=lambda v: v.action)


def _answer(result: Any, plugin: str) -> Verdict | None:
    """A deciding plugin's answer (given at once or by a Deferred) as a Verdict named after it, or None."""
    if result is None:
        return None
    if isinstance(result, Verdict):
        return result if result.plugin else _named(result, plugin)
    return Verdict.deny(f"plugin {plugin} returned {type(result).__name__}, not a Verdict")


def _named(v: Verdict, plugin: str) -> Verdict:
    return Verdict(v.action, v.reason, v.rule, plugin, v.approvers, v.timeout, v.approved_by)


def _plugin_failed(plugin: str, e: BaseException) -> Verdict:
    return Verdict.deny(f"policy plugin {plugin} failed ({type(e).__name__}); denied to fail closed", plugin=plugin)


def _failed_deferred(failure: Any, plugin: str) -> Verdict:
    log.failure("plugin {plugin} failed checking a command", failure, plugin=plugin)
    return _plugin_failed(plugin, failure.value)
