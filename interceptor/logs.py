"""Structured log lines for the daemon: one JSON object (or one ``key=value`` text line) per event.

Only simple values that the code passes explicitly as fields are written; nothing is taken from object reprs,
so a secret cannot slip into a line by accident. Per-message events are never logged at info level.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn, "error": LogLevel.error}
_SIMPLE = (str, int, float, bool)


@implementer(ILogObserver)
class LineObserver:
    def __init__(self, stream: IO[str], fmt: str = "json") -> None:
        self.stream = stream
        self.fmt = fmt

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        record: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event.get("log_time", time.time())))
            + f".{int((event.get('log_time', 0) % 1) * 1000):03d}Z",
            "level": level.name,
            "logger": event.get("log_namespace", "?"),
            "msg": formatEvent(event),
        }
        for k, v in event.items():
            if (
                not k.startswith("log_")
                and k not in ("format", "message", "isError", "system", "time")
                and (isinstance(v, _SIMPLE) or v is None)
            ):
                record.setdefault(k, v)
        failure = event.get("log_failure")
        if failure is not None:
            record["error"] = failure.getErrorMessage()
            record["traceback"] = failure.getTraceback()
        if self.fmt == "json":
            line = json.dumps(record, default=str)
        else:
            line = " ".join(f"{k}={v}" if k != "msg" else json.dumps(v) for k, v in record.items() if k != "traceback")
            if failure is not None:
                line += "\n" + record["traceback"]
        self.stream.write(line + "\n")
        self.stream.flush()


def start(level: str = "info", fmt: str = "json", stream: IO[str] | None = None) -> None:
    """Send Twisted's log events to ``stream`` (stderr by default) as structured lines at ``level`` and above."""
    predicate: Any = LogLevelFilterPredicate(defaultLogLevel=_LEVELS.get(level, LogLevel.info))
    lines: Any = LineObserver(stream or sys.stderr, fmt)
    observer: Any = FilteringLogObserver(lines, [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
