"""Built-in audit plugin: every decided command becomes one hash-chained line in the audit log.

Each line ties the command to a verified identity: session, identity, kind, groups, connection, protocol, the
statement as the client sent it, and the verdict (action, reason, rule, plugin, approver). The log is flushed
and fsynced every ``flush_interval`` seconds (``plugin_config.audit.flush_interval``, default 1) and when a
session closes. Check a log with ``interceptor audit verify``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from interceptor.audit import ChainWriter
from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.model import Command, Session, Verdict

log = Logger(namespace="interceptor.plugins.audit")


class AuditPlugin:
    def __init__(self) -> None:
        self.writer: ChainWriter | None = None
        self.path: Path | None = None
        self._timer: LoopingCall | None = None

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any) -> None:
        settings = config.plugin_settings("audit")
        try:
            interval = float(settings.get("flush_interval", 1.0))
        except (TypeError, ValueError):
            raise config.error("plugin_config.audit.flush_interval", "must be a number of seconds") from None
        if interval <= 0:
            raise config.error("plugin_config.audit.flush_interval", "must be above 0")
        if self.path != config.audit_log and self.writer is not None:
            self.writer.close()
            self.writer = None
        self.path = config.audit_log  # opened at the first command, so `interceptor check` writes nothing
        if self._timer is None:
            self._timer = LoopingCall(self._flush)
            self._timer.clock = reactor
            self._timer.start(interval, now=False)

    def _flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    @hookimpl
    def interceptor_command_decided(self, session: Session, command: Command, verdict: Verdict) -> None:
        if self.writer is None:
            if self.path is None:
                return
            self.writer = ChainWriter(self.path)
        self.writer.append(
            {
                "ts": round(time.time(), 6),
                "session": session.id,
                "identity": session.identity.name,
                "kind": session.identity.kind.value,
                "groups": sorted(session.identity.groups),
                "connection": session.connection,
                "protocol": command.protocol,
                "command": command.seq,
                "type": command.kind.value,
                "text": command.text,
                "action": verdict.action.name.lower(),
                "reason": verdict.reason,
                "rule": verdict.rule,
                "plugin": verdict.plugin,
                "approved_by": verdict.approved_by,
            }
        )

    @hookimpl
    def interceptor_session_closed(self, session: Session, reason: str) -> None:
        self._flush()
