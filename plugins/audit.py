"""Built-in audit plugin: every decided command becomes one hash-chained line in the audit log.

Each line ties the command to a verified identity: session, identity, kind, groups, connection, protocol, the
statement as the client sent it, and the verdict (action, reason, rule, plugin, approver). A line is queued when
the command is decided and built on the reactor's next pass, after the answer went out. The log is written when
a session closes and every ``flush_interval`` seconds (``plugin_config.audit.flush_interval``, default 1), and
fsynced then, in the reactor's thread pool (the reactor never waits for the disk). Check a log with
``interceptor audit verify``.

It fails closed: if the log cannot be opened (or its last line is not a chained record, so the chain cannot be
continued) or a write fails, every command is denied until the problem is fixed and the config reloaded.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.audit import ChainWriter, Escape, escape, escape_ascii, fragment, json_text, timestamp, verdict_members
from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.model import Command, Event, Session, Verdict
from interceptor.soon import off_thread, soon

log = Logger(namespace="interceptor.plugins.audit")

_WHO_LIMIT = 100_000


class AuditPlugin:
    def __init__(self) -> None:
        self.writer: ChainWriter | None = None
        self.path: Path | None = None
        self.broken: str | None = None
        self._timer: LoopingCall | None = None
        self._reactor: Any = None
        self._who: dict[str, str] = {}  # session id -> its part of every line

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any) -> None:
        self._reactor = reactor
        settings = config.plugin_settings("audit")
        try:
            interval = float(settings.get("flush_interval", 1.0))
        except (TypeError, ValueError):
            raise config.error("plugin_config.audit.flush_interval", "must be a number of seconds") from None
        if interval <= 0:
            raise config.error("plugin_config.audit.flush_interval", "must be above 0")
        if self.path != config.audit_log:
            if self.writer is not None:
                self.writer.close()
            self.writer, self.broken = None, None
        self.path = config.audit_log  # opened at the first command, so `interceptor check` writes nothing
        if self._timer is None:
            self._timer = LoopingCall(self._flush)
            self._timer.clock = reactor
            self._timer.start(interval, now=False)

    def _flush(self, sync: bool = True) -> None:
        """Write the waiting lines; with ``sync`` (the timer), fsync them too, off the reactor thread."""
        if self.writer is not None and self.broken is None:
            run = off_thread(self._reactor) if sync else None
            background = None if run is None else (lambda job: run(job).addErrback(self._sync_failed))
            try:
                self.writer.flush(sync, background)
            except (OSError, ValueError) as e:
                self._break(f"cannot write the audit log: {e}")

    def _sync_failed(self, failure: Failure) -> None:
        if self.broken is None:
            self._break(f"cannot sync the audit log: {failure.value}")

    def _break(self, why: str) -> None:
        self.broken = why
        log.critical("audit log {path} unusable, denying every command: {why}", path=str(self.path), why=why)

    @hookimpl
    def interceptor_check_command(self) -> Verdict | None:
        """Fail closed: while the audit log cannot be written, no command runs unaudited."""
        if self.writer is None and self.broken is None and self.path is not None:
            try:
                self.writer = ChainWriter(self.path)
            except (OSError, ValueError, KeyError, TypeError) as e:
                self._break(f"cannot continue the audit chain in {self.path}: {e}")
        if self.broken is not None:
            return Verdict.deny("the audit log cannot be written; commands are refused until it can", rule="audit")
        return None

    @hookimpl
    def interceptor_command_decided(self, session: Session, command: Command, verdict: Verdict) -> None:
        """The line is queued here and written on the reactor's next pass (after the answer went out)."""
        if self.writer is None or self.broken is not None:
            return
        who = self._who.get(session.id)
        if who is None:
            if len(self._who) >= _WHO_LIMIT:  # sessions that never closed (a plugin error): start over
                self._who.clear()
            who = self._who[session.id] = _who(session)
        self.writer.defer(partial(_line, timestamp(), who, command, verdict))
        soon(self._reactor, self.drain)

    def drain(self) -> None:
        if self.writer is None or self.broken is not None:
            return
        try:
            self.writer.drain()
        except Exception as e:  # a disk error, or a line that cannot be encoded: fail closed
            self._break(f"cannot write the audit log: {e}")

    @hookimpl
    def interceptor_event(self, event: Event) -> None:
        """A closed recording's seal goes into the chain: ``audit verify`` then notices a recording cut short."""
        if event.kind != "recording.closed" or self.broken is not None or self.path is None:
            return
        try:
            if self.writer is None:
                self.writer = ChainWriter(self.path)
            self.writer.append(
                {
                    "ts": timestamp(),
                    "session": event.session_id,
                    "type": "recording",
                    "file": event.data.get("file"),
                    "seal": event.data.get("seal"),
                }
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            self._break(f"cannot write the audit log: {e}")

    @hookimpl
    def interceptor_session_closed(self, session: Session, reason: str) -> None:
        """The session's lines are written now; the timer fsyncs them (an fsync per session would make every
        short session wait for the disk)."""
        self._who.pop(session.id, None)
        self._flush(sync=False)


def _who(session: Session) -> str:
    """The session's part of a line (the same for each of its commands)."""
    ident = session.identity
    build = fragment(
        {
            "session": session.id,
            "identity": ident.name,
            "kind": ident.kind.value,
            "groups": sorted(ident.groups),
            "connection": session.connection,
        }
    )
    text = build(escape)
    try:
        text.encode()
    except UnicodeEncodeError:  # not valid Unicode (never from a loaded config, but the line must be writable)
        text = build(escape_ascii)
    return text


def _line(ts: float, who: str, command: Command, verdict: Verdict, esc: Escape) -> str:
    """One command's line: ts, session, identity, kind, groups, connection, protocol, command, type, text, action,
    reason, rule, plugin, approved_by."""
    return (
        f'"ts":{ts!r},{who},"protocol":{json_text(command.protocol, esc)},"command":{command.seq},'
        f'"type":{json_text(command.kind.value, esc)},"text":{json_text(command.text, esc)},'
        f"{verdict_members(verdict, esc)}"
    )
