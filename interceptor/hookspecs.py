"""Every hook a plugin may implement. This module *is* the plugin API.

Hooks come in two sorts:

* **deciding** hooks (``interceptor_check_command``, ``interceptor_result_rewriter``) shape traffic. An exception
  in one of them fails closed: the command is denied, or the result is withheld.
* **observing** hooks (everything else) only watch. An exception in one is logged and never changes traffic.

A plugin is any object or module with functions marked ``@hookimpl`` (from :mod:`interceptor`'s ``hookimpl``).
Built-ins register through the entry-point group ``interceptor``, exactly like third-party plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from twisted.internet.defer import Deferred

    from interceptor.config import Config
    from interceptor.model import Column, Command, Event, ResultObserver, RowRewriter, Session, Verdict

PROJECT = "interceptor"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def interceptor_configure(config: Config, reactor: Any, emit: Callable[..., None]) -> None:
    """Called once at startup, and again after every successful reload (SIGHUP), with the validated config.

    Read your settings here (``config.plugin_settings(name)``) and keep what you need. ``reactor`` is the
    running reactor (use it for timers; never import the global one). ``emit(kind, session_id, **data)`` sends
    an :class:`~interceptor.model.Event` to every ``interceptor_event`` implementation (the recording plugin
    uses it to hand each recording's seal to the audit log). Raise
    :class:`interceptor.config.ConfigError` to refuse a config: at startup that stops the gateway, on reload the
    old config stays in force. All implementations are called.
    """


@hookspec
def interceptor_session_opened(session: Session) -> None:
    """Observing. Called once a client has authenticated and its upstream connection is ready, before the first
    command. All implementations are called; return values are ignored."""


@hookspec
def interceptor_session_closed(session: Session, reason: str) -> None:
    """Observing. Called once when a session ends, whoever ended it. ``reason`` is a short human string
    (``client closed``, ``idle timeout``, ``upstream error``, ``shutdown``...). All implementations are called."""


@hookspec
def interceptor_check_command(session: Session, command: Command) -> Verdict | Deferred[Verdict] | None:
    """Deciding. Called for every command before it may reach the upstream.

    Return a :class:`~interceptor.model.Verdict`, a ``Deferred`` that fires with one (to hold the command, for
    example until someone approves it), or ``None`` when you have no opinion (ok / unknown / reject, as devpi
    puts it). All implementations are called. The pipeline combines the answers, strictest first:
    DENY > REVIEW > ALLOW; ``None`` counts as no opinion, and no opinion at all is ALLOW.

    When the combined verdict is REVIEW, the pipeline hands it to :func:`interceptor_review`. An exception, or a
    Deferred that fails, is a DENY that names the plugin. Keep this fast: it runs on the reactor thread for every
    command.
    """


@hookspec(firstresult=True)
def interceptor_review(session: Session, command: Command, verdict: Verdict) -> Deferred[Verdict] | None:
    """Deciding, first result wins. Called when the combined verdict for a command is REVIEW.

    The approval plugin implements this: it stores a request and returns a ``Deferred`` that fires with the
    final verdict (ALLOW with ``approved_by`` set, or DENY naming the request) when someone decides or the request
    expires. Only the session that sent the command waits; other sessions carry on. If no plugin answers, the
    command is denied (fail closed): a review rule without an approval plugin never lets a command through.
    """


@hookspec
def interceptor_command_decided(session: Session, command: Command, verdict: Verdict) -> None:
    """Observing. Called once per command with the final combined verdict, just before the command is forwarded
    (ALLOW) or answered with the protocol's error (DENY). Audit and recording plugins live here."""


@hookspec
def interceptor_result_rewriter(session: Session, command: Command, columns: Sequence[Column]) -> RowRewriter | None:
    """Deciding. Called **once per result set**, when the upstream describes its columns, never per row.

    Return a row rewriter (values in, new values or ``None`` for "unchanged" out), or ``None`` to leave rows
    alone. When several plugins return rewriters they are applied in turn, in pluggy's call order. The relay
    forwards rows the rewriters leave unchanged as their original bytes. An exception here (or in a rewriter)
    withholds the row: the relay ends the result with an error rather than pass unmasked data.
    """


@hookspec
def interceptor_result_observer(session: Session, command: Command, columns: Sequence[Column]) -> ResultObserver | None:
    """Observing. Called **once per result set**, after ``interceptor_result_rewriter``. Return an object whose
    ``row(values)`` gets every row exactly as the client receives it (after all rewriters) and whose
    ``done(status, rows)`` is called once when the result ends. The recording plugin lives here. An exception in
    the hook or in the observer is logged; traffic goes on (a plugin that must stop traffic when it cannot
    observe, like the recorder, denies commands through ``interceptor_check_command`` instead).
    """


@hookspec
def interceptor_message_rewriter(session: Session) -> Callable[[str], str] | None:
    """Deciding. Called once when a session opens. Return a function that rewrites free text the upstream sends
    outside result rows (error and notice messages, details and hints, notification payloads, parameter values),
    or ``None``. Functions from several plugins are applied in turn. An exception ends the session (fail
    closed): text that could not be masked never reaches the client.
    """


@hookspec
def interceptor_event(event: Event) -> None:
    """Observing. Called for notable events that are not commands: ``auth.failed``, ``auth.denied``,
    ``upstream.error``, ``session.cancel``, ``config.reloaded``, ``command.error`` (an error the client received
    for a command: ``data`` has ``command``, ``sqlstate`` and the masked ``message``)... Never carries a secret.
    All implementations are called; exceptions are logged and ignored."""
