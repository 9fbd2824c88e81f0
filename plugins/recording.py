"""Built-in recording plugin: a tamper-evident recording of every session (``interceptor.recording`` format).

Every session whose policy has ``record.enabled`` (the default, also for a connection without a policy) gets one
hash-chained JSONL file under ``recordings``: a header when the session opens, each command with its final
verdict, each result as the client saw it (at most ``record.rows`` rows, with the exact row count), each error
the client received, and an end line when the session closes. Lines are queued on the hot path and written on
the reactor's next pass, after the client's answer has gone out. Files are written and fsynced every
``plugin_config.recording.fsync_interval`` seconds (default 2) and when the session closes; the fsyncs run in the
reactor's thread pool, so no session waits for the disk.

It fails closed: when a session's recording cannot be opened or written, every later command of that session is
denied (when the directory is unwritable, that is every new session), unless
``plugin_config.recording.on_error`` is ``continue`` (then the session goes on unrecorded, and it is logged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.audit import Background
from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.model import Column, Command, Event, Session, Verdict
from interceptor.policy import Policy, RecordSpec, load_policies
from interceptor.recording import RecordingWriter
from interceptor.soon import off_thread, soon

log = Logger(namespace="interceptor.plugins.recording")

ON_ERROR = ("deny", "continue")
DENIED = "the session recording cannot be written; commands are refused (plugin_config.recording.on_error)"


class _Live:
    """One session's recording state. ``writer`` is None when the session is not recorded (policy) or when its
    recording failed (then ``failed`` says why)."""

    __slots__ = ("failed", "pending", "rows", "writer")

    def __init__(self, writer: RecordingWriter | None, rows: int) -> None:
        self.writer = writer
        self.rows = rows
        self.failed: str | None = None
        self.pending: list[_ResultRecorder] = []  # results still open (rarely more than one; small when idle)


class _ResultRecorder:
    """The result observer: keeps the first ``cap`` rows, counts the rest, writes one line when done."""

    __slots__ = ("_columns", "_command", "_kept", "_live", "_plugin", "_session", "cap", "count")

    def __init__(
        self, plugin: RecordingPlugin, session: str, live: _Live, command: int, columns: Sequence[Column]
    ) -> None:
        self._plugin, self._session, self._live, self._command = plugin, session, live, command
        self._columns = columns if type(columns) is tuple else tuple(columns)  # the relay's own: encoded once
        self._kept: list[Sequence[bytes | None]] = []
        self.cap = live.rows
        self.count = 0
        live.pending.append(self)

    def row(self, values: Sequence[bytes | None]) -> None:
        if self.count < self.cap:
            self._kept.append(tuple(values))
        self.count += 1

    def done(self, status: str, rows: int) -> None:
        live = self._live
        if self not in live.pending:
            return
        live.pending.remove(self)
        if live.writer is None:
            return
        try:
            live.writer.result(self._command, self._columns, self._kept, max(rows, self.count), status)
        except (OSError, ValueError) as e:
            self._plugin.fail(self._session, live, e)
            return
        self._plugin.queued(self._session, live, now=False)


class RecordingPlugin:
    """One per gateway: the live recordings by session id, and the settings from the last configure."""

    def __init__(self) -> None:
        self.recordings: Path | None = None
        self.policies: dict[str, Policy] = {}
        self.on_error = "deny"
        self.interval = 2.0
        self.live: dict[str, _Live] = {}
        self._timer: LoopingCall | None = None
        self._emit: Any = None
        self._dirty: dict[str, _Live] = {}
        self._reactor: Any = None

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any, emit: Any = None) -> None:
        self._emit = emit
        self._reactor = reactor
        settings = config.plugin_settings("recording")
        for key in settings:
            if key not in ("fsync_interval", "on_error"):
                raise config.error(
                    f"plugin_config.recording.{key}", "unknown key (expected fsync_interval or on_error)"
                )
        interval = settings.get("fsync_interval", 2.0)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise config.error("plugin_config.recording.fsync_interval", "must be a number of seconds above 0")
        on_error = settings.get("on_error", "deny")
        if on_error not in ON_ERROR:
            raise config.error("plugin_config.recording.on_error", "must be deny or continue")
        self.policies = load_policies(config)
        self.recordings, self.on_error = config.recordings, str(on_error)
        if self._timer is None or float(interval) != self.interval:
            if self._timer is not None and self._timer.running:
                self._timer.stop()
            self.interval = float(interval)
            self._timer = LoopingCall(self.flush)
            self._timer.clock = reactor
            self._timer.start(self.interval, now=False)

    # -- state -------------------------------------------------------------------------------------------------

    def _spec(self, session: Session) -> RecordSpec:
        policy = self.policies.get(session.policy) if session.policy is not None else None
        return policy.record if policy is not None else RecordSpec()

    def _open(self, session: Session) -> _Live:
        spec = self._spec(session)
        live = self.live[session.id] = _Live(None, spec.rows)
        if not spec.enabled:
            return live
        if self.recordings is None:
            self.fail(session.id, live, ValueError("the recording plugin was never configured"))
            return live
        try:
            live.writer = RecordingWriter(self.recordings, session)
        except (OSError, ValueError) as e:
            self.fail(session.id, live, e)
        return live

    def _get(self, session: Session) -> _Live:
        live = self.live.get(session.id)
        return live if live is not None else self._open(session)

    def fail(self, session_id: str, live: _Live, error: Exception) -> None:
        """A recording could not be opened or written: stop writing it and, unless on_error is continue, deny."""
        why = f"{error.strerror}: {error.filename}" if isinstance(error, OSError) and error.strerror else str(error)
        live.failed = why
        writer, live.writer = live.writer, None
        if writer is not None:
            try:
                writer.close()
            except (OSError, ValueError):
                pass
        then = "it goes on unrecorded" if self.on_error == "continue" else "its commands are denied"
        log.critical("cannot record session {session} ({why}); {then}", session=session_id, why=why, then=then)

    def queued(self, session_id: str, live: _Live, now: bool = True) -> None:
        """A line was queued. A command's line is written on the reactor's next pass (while the upstream works on
        the command); a result's waits for the next command's, or for the periodic flush, so that writing it never
        delays the client's next command."""
        self._dirty[session_id] = live
        if now:
            soon(self._reactor, self.drain)

    def drain(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for session_id, live in dirty.items():
            if live.writer is not None:
                try:
                    live.writer.drain()
                except Exception as e:  # a disk error, or a line that cannot be encoded: fail closed
                    self.fail(session_id, live, e)

    def flush(self) -> None:
        """Every few seconds: write each session's waiting lines, and fsync them off the reactor thread."""
        for session_id, live in list(self.live.items()):
            if live.writer is not None:
                try:
                    live.writer.flush(True, self._background(session_id, live))
                except OSError as e:
                    self.fail(session_id, live, e)

    def _background(self, session_id: str, live: _Live | None) -> Background | None:
        """Runs an fsync in the reactor's thread pool (None under a test clock: then it runs at once). A failed
        fsync fails the session's recording when it is still open, and is logged when it has closed."""
        run = off_thread(self._reactor)
        if run is None:
            return None

        def background(job: Callable[[], None]) -> object:
            return run(job).addErrback(self._sync_failed, session_id, live)

        return background

    def _sync_failed(self, failure: Failure, session_id: str, live: _Live | None) -> None:
        error = failure.value if isinstance(failure.value, Exception) else OSError(str(failure.value))
        if live is not None and self.live.get(session_id) is live:
            self.fail(session_id, live, error)
        else:
            log.critical("cannot sync the recording of session {session}: {why}", session=session_id,
                         why=str(error))  # fmt: skip

    # -- hooks -------------------------------------------------------------------------------------------------

    @hookimpl
    def interceptor_session_opened(self, session: Session) -> None:
        if session.id not in self.live:
            self._open(session)

    @hookimpl
    def interceptor_check_command(self, session: Session) -> Verdict | None:
        """Fail closed: a session whose recording cannot be written runs no more commands."""
        live = self._get(session)
        if live.failed is not None and self.on_error == "deny":
            return Verdict.deny(DENIED, rule="recording")
        return None

    @hookimpl
    def interceptor_command_decided(self, session: Session, command: Command, verdict: Verdict) -> None:
        live = self._get(session)
        if live.writer is not None:
            try:
                live.writer.command(command, verdict)
            except (OSError, ValueError) as e:
                self.fail(session.id, live, e)
                return
            self.queued(session.id, live)

    @hookimpl
    def interceptor_result_observer(
        self, session: Session, command: Command, columns: Sequence[Column]
    ) -> _ResultRecorder | None:
        live = self.live.get(session.id)
        if live is None or live.writer is None:
            return None
        return _ResultRecorder(self, session.id, live, command.seq, columns)

    @hookimpl
    def interceptor_event(self, event: Event) -> None:
        if event.kind != "command.error" or event.session_id is None:
            return
        live = self.live.get(event.session_id)
        if live is None or live.writer is None:
            return
        command = event.data.get("command")
        seq = command.seq if isinstance(command, Command) else command if isinstance(command, int) else None
        try:
            live.writer.error(seq, str(event.data.get("sqlstate", "")), str(event.data.get("message", "")))
        except (OSError, ValueError) as e:
            self.fail(event.session_id, live, e)
            return
        self.queued(event.session_id, live, now=False)

    @hookimpl
    def interceptor_session_closed(self, session: Session, reason: str) -> None:
        live = self.live.pop(session.id, None)
        self._dirty.pop(session.id, None)
        if live is None:
            return
        for result in list(live.pending):  # results the relay never finished: keep what the client saw
            result.done("aborted", result.count)
        if live.writer is None:
            return
        try:
            seal = live.writer.end(reason, background=self._background(session.id, None))
        except (OSError, ValueError) as e:
            self.fail(session.id, live, e)
            return
        log.info("session {session} recorded in {path}, sealed {seal}", session=session.id, path=str(live.writer.path),
                 seal=seal)  # fmt: skip
        if self._emit is not None:  # the audit log keeps the seal, so a recording cut short is detected
            self._emit("recording.closed", session.id, seal=seal, file=live.writer.path.name)
