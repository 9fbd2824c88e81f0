"""Session recordings: one hash-chained JSONL file per session, with its writer, reader, lister and verifier.

The file format only, reusable by any protocol: no Twisted and no hooks here (``interceptor.plugins.recording``
feeds it). A recording lives at ``<recordings>/<YYYY-MM-DD>/<session id>.jsonl`` (the UTC day the session
started); the name is built only from the gateway-generated session id, which must match :data:`SESSION_ID`.
Every line is a :class:`~interceptor.audit.ChainWriter` record (``seq``, ``prev``, ``hash``) with a ``type``:

* ``header``: the session, the verified identity, connection, protocol, client address, TLS, policy;
* ``command``: the command's number (``command``), kind, text and final verdict;
* ``result``: the columns and the rows as the client saw them (at most the policy's ``record.rows``), with the
  exact ``row_count``, ``truncated`` and the ``status`` (the command tag, or ``error`` / ``aborted``);
* ``error``: an error the client received for a command (``sqlstate``, ``message``);
* ``end``: the reason, ``ended_at``, the chain's last hash (``digest``) and the line ``counts``.

Values are text when they are UTF-8 (and the column is in text format), ``{"b64": "..."}`` otherwise, and
``null`` for SQL NULL. See ``docs/recording.md``.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from interceptor import audit
from interceptor.audit import Background, ChainProblem, ChainWriter, Escape, json_text, verdict_members
from interceptor.model import Action, Column, Command, Session, Verdict

FORMAT = 1
#: What the gateway generates (``interceptor.model.new_session_id``): milliseconds in hex, a dash, 8 hex digits.
SESSION_ID = re.compile(r"[0-9a-f]+-[0-9a-f]{8}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TAIL = 65536
_COUNTED = ("commands", "denied", "results", "errors")

Value = str | dict[str, str] | None


def valid_session_id(session_id: object) -> bool:
    return isinstance(session_id, str) and SESSION_ID.fullmatch(session_id) is not None


def session_path(recordings: Path, session_id: str, started_at: float) -> Path:
    """``<recordings>/<UTC day of started_at>/<session_id>.jsonl``. Raises ValueError for anything that is not a
    gateway session id, so no other input can choose a file name."""
    if not valid_session_id(session_id):
        raise ValueError(f"not a gateway session id: {session_id!r}")
    day = datetime.fromtimestamp(started_at, UTC).strftime("%Y-%m-%d")
    return recordings / day / f"{session_id}.jsonl"


def find(recordings: Path, session_id: str) -> Path | None:
    """The recording of ``session_id`` under ``recordings``, or None (also for an invalid id)."""
    if not valid_session_id(session_id) or not recordings.is_dir():
        return None
    found = sorted(p for p in recordings.glob(f"*/{session_id}.jsonl") if _DAY.fullmatch(p.parent.name))
    return found[0] if found else None


def encode_value(value: bytes | None, binary: bool = False) -> Value:
    """A row value as recorded: text if it is UTF-8 in a text-format column, else ``{"b64": ...}``; None is NULL."""
    if value is None:
        return None
    if not binary:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def decode_value(value: Value) -> bytes | None:
    """The inverse of :func:`encode_value` (text comes back UTF-8 encoded)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return base64.b64decode(value["b64"])
    return value.encode("utf-8")


class RecordingWriter:
    """Writes one session's recording. Creating it makes the directories (0700) and the file (0600, never an
    existing one) and writes the header; :meth:`end` writes the end line and closes the file. Lines are buffered
    until :meth:`flush` (the plugin calls it on a timer). Every method raises OSError when the disk refuses."""

    __slots__ = ("_chain", "closed", "counts")

    def __init__(self, recordings: Path, session: Session, ts: float | None = None) -> None:
        path = session_path(recordings, session.id, session.started_at)
        recordings.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if path.exists():
            raise FileExistsError(errno.EEXIST, "a recording of this session already exists", str(path))
        self._chain = ChainWriter(str(path))  # a str: a Path's parts cost every idle session some 400 bytes
        self.counts = [0, 0, 0, 0]  # in the order of _COUNTED: commands, denied, results, errors
        self.closed = False
        ident = session.identity
        self._line(
            "header",
            ts,
            format=FORMAT,
            session=session.id,
            identity={"name": ident.name, "kind": ident.kind.value, "groups": sorted(ident.groups)},
            connection=session.connection,
            protocol=session.protocol,
            client=session.client_addr,
            tls=session.tls,
            policy=session.policy,
            attributes=dict(session.attributes),
            started_at=session.started_at,
        )

    @property
    def path(self) -> Path:
        return Path(self._chain.path)

    def _line(self, line_type: str, ts: float | None, **fields: Any) -> str:
        if self.closed:
            raise ValueError(f"{self.path}: the recording is closed")
        return self._chain.append({"type": line_type, "ts": audit.timestamp(ts), **fields})

    def _later(self, build: Callable[..., str], ts: float | None, *args: Any) -> None:
        """Queue a line: ``build(ts, *args, escape)`` makes it (an :data:`interceptor.audit.Fragment`) when the
        chain drains (the plugin drains on the reactor's next pass, so the line is written after the client's
        answer has been sent)."""
        if self.closed:
            raise ValueError(f"{self.path}: the recording is closed")
        self._chain.defer(partial(build, audit.timestamp(ts), *args))

    @property
    def pending(self) -> bool:
        return self._chain.pending

    def drain(self) -> None:
        self._chain.drain()

    def command(self, command: Command, verdict: Verdict, ts: float | None = None) -> None:
        self.counts[0] += 1
        if verdict.action is Action.DENY:
            self.counts[1] += 1
        self._later(_command_line, ts, command, verdict)

    def result(
        self, command: int, columns: Sequence[Column], rows: Sequence[Sequence[bytes | None]], row_count: int,
        status: str, ts: float | None = None,
    ) -> None:  # fmt: skip
        """``rows`` are the rows kept (already capped; not changed afterwards); ``row_count`` counts every row
        the client received."""
        self.counts[2] += 1
        self._later(_result_line, ts, command, columns, rows, row_count, status)

    def error(self, command: int | None, sqlstate: str, message: str, ts: float | None = None) -> None:
        self.counts[3] += 1
        self._later(_error_line, ts, command, sqlstate, message)

    def end(self, reason: str, ts: float | None = None, background: Background | None = None) -> str:
        """Write the end line, flush, fsync (with ``background``: off the caller's thread, see
        :meth:`ChainWriter.flush`) and close. Returns the end line's own hash (the recording's seal)."""
        ended = time.time() if ts is None else ts
        self._chain.drain()  # the queued lines first: the digest is the hash of the last of them
        counts = dict(zip(_COUNTED, self.counts, strict=True)) | {"lines": self._chain.seq}
        seal = self._line("end", ended, reason=reason, ended_at=ended, digest=self._chain.prev, counts=counts)
        self.close(background)
        return seal

    def flush(self, sync: bool = True, background: Background | None = None) -> None:
        self._chain.flush(sync, background)

    def close(self, background: Background | None = None) -> None:
        if not self.closed:
            self.closed = True
            self._chain.close(background)


def _command_line(ts: float, command: Command, verdict: Verdict, esc: Escape) -> str:
    return (
        f'"type":"command","ts":{ts!r},"command":{command.seq},"kind":{json_text(command.kind.value, esc)},'
        f'"text":{json_text(command.text, esc)},{verdict_members(verdict, esc)}'
    )


_COLUMNS: dict[int, tuple[Sequence[Column], str, tuple[bool, ...]]] = {}


def _columns(columns: Sequence[Column], esc: Escape) -> tuple[str, tuple[bool, ...]]:
    """A result's ``"columns":[...]`` member, and which columns are binary. Kept per columns object (the relay
    hands out one per statement, so a repeated statement's columns are encoded once)."""
    if esc is audit.escape:
        hit = _COLUMNS.get(id(columns))
        if hit is not None and hit[0] is columns:
            return hit[1], hit[2]
    members = ",".join(f'{{"name":{json_text(c.name, esc)},"type":{json_text(c.type_name, esc)}}}' for c in columns)
    text = f'"columns":[{members}]'
    binary = tuple(c.binary for c in columns)
    if esc is audit.escape:
        if len(_COLUMNS) >= 1024:
            _COLUMNS.clear()
        _COLUMNS[id(columns)] = (columns, text, binary)  # the entry keeps the object alive: its id is not reused
    return text, binary


def _value(value: bytes | None, binary: bool, esc: Escape) -> str:
    if value is None:
        return "null"
    if not binary:
        try:
            return esc(str(value, "utf-8"))
        except UnicodeDecodeError:
            pass
    return f'{{"b64":"{base64.b64encode(value).decode("ascii")}"}}'


def _rows(rows: Sequence[Sequence[bytes | None]], binary: tuple[bool, ...], esc: Escape) -> str:
    """The kept rows as JSON, each value as :func:`encode_value` makes it."""
    if not any(binary):
        try:  # the common case: text columns of UTF-8 text
            return _array(_array("null" if v is None else esc(str(v, "utf-8")) for v in row) for row in rows)
        except UnicodeDecodeError:
            pass
    width = len(binary)
    return _array(_array(_value(v, binary[i] if i < width else False, esc) for i, v in enumerate(row)) for row in rows)


def _array(items: Iterable[str]) -> str:
    return "[" + ",".join(items) + "]"


def _result_line(
    ts: float, command: int, columns: Sequence[Column], rows: Sequence[Sequence[bytes | None]], row_count: int,
    status: str, esc: Escape,
) -> str:  # fmt: skip
    cols, binary = _columns(columns, esc)
    truncated = "true" if row_count > len(rows) else "false"
    return (
        f'"type":"result","ts":{ts!r},"command":{command},{cols},"rows":{_rows(rows, binary, esc)},'
        f'"row_count":{row_count},"truncated":{truncated},"status":{json_text(status, esc)}'
    )


def _error_line(ts: float, command: int | None, sqlstate: str, message: str, esc: Escape) -> str:
    seq = "null" if command is None else str(int(command))
    return (
        f'"type":"error","ts":{ts!r},"command":{seq},"sqlstate":{json_text(sqlstate, esc)},'
        f'"message":{json_text(message, esc)}'
    )


# -- reading -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """A recording as read back: its header, the command/result/error lines in order, and the end line (None
    while the session is open, or if the gateway stopped before it could write one)."""

    path: Path
    header: dict[str, Any]
    entries: list[dict[str, Any]]
    end: dict[str, Any] | None

    @property
    def session_id(self) -> str:
        return str(self.header.get("session", ""))

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "header": self.header, "entries": self.entries, "end": self.end}


def read(path: Path) -> Recording:
    """Parse a recording. Raises ValueError naming the line when one is not a JSON object or the first is not a
    header. A last line cut short (the gateway stopped mid-write) is ignored. This does not verify the chain."""
    with path.open("rb") as f:
        raw_lines = f.read().split(b"\n")
    header: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = []
    end = None
    last = len(raw_lines)
    for n, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            if n == last:  # no newline after it: a partial write
                break
            raise ValueError(f"{path}: line {n} is not a JSON object") from None
        if header is None:
            if rec.get("type") != "header":
                raise ValueError(f"{path}: line {n} is not a recording header")
            header = rec
        elif rec.get("type") == "end":
            end = rec
        else:
            entries.append(rec)
    if header is None:
        raise ValueError(f"{path}: empty, not a recording")
    return Recording(path, header, entries, end)


@dataclass(frozen=True)
class SessionSummary:
    """One line of ``interceptor sessions``, read from a recording's header and end lines only."""

    id: str
    path: Path
    started_at: float
    identity: str
    kind: str
    connection: str
    protocol: str
    client: str
    ended_at: float | None = None
    reason: str | None = None
    commands: int | None = None
    denied: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"path": str(self.path)}


def _first_and_last(path: Path) -> tuple[bytes, bytes]:
    """The first line and the last complete non-empty line, without reading the middle of the file."""
    with path.open("rb") as f:
        first = f.readline(_TAIL)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    lines = [x for x in tail.split(b"\n")[:-1] if x.strip()]  # [:-1]: text after the last newline is partial
    return first, lines[-1] if lines else b""


def summarize(path: Path) -> SessionSummary | None:
    """The summary of one recording, or None when its header cannot be read."""
    try:
        first, last = _first_and_last(path)
        head = json.loads(first)
        if not isinstance(head, dict) or head.get("type") != "header":
            return None
        ident = head.get("identity") or {}
        summary = SessionSummary(
            id=str(head["session"]),
            path=path,
            started_at=float(head["started_at"]),
            identity=str(ident.get("name", "")),
            kind=str(ident.get("kind", "")),
            connection=str(head.get("connection", "")),
            protocol=str(head.get("protocol", "")),
            client=str(head.get("client", "")),
        )
        try:
            end = json.loads(last)
        except ValueError:
            return summary
        if isinstance(end, dict) and end.get("type") == "end":
            counts = end.get("counts") or {}
            return replace(
                summary,
                ended_at=float(end.get("ended_at", 0.0)),
                reason=str(end.get("reason", "")),
                commands=int(counts.get("commands", 0)),
                denied=int(counts.get("denied", 0)),
            )
        return summary
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def recording_files(recordings: Path) -> list[Path]:
    """Every recording file under ``recordings``, newest day first."""
    if not recordings.is_dir():
        return []
    days = sorted((d for d in recordings.iterdir() if _DAY.fullmatch(d.name) and d.is_dir()), reverse=True)
    return [f for d in days for f in sorted(d.glob("*.jsonl"), reverse=True) if valid_session_id(f.stem)]


def list_sessions(recordings: Path, limit: int | None = None) -> list[SessionSummary]:
    """Summaries of the recorded sessions, newest first (at most ``limit``). Reads two lines of each file."""
    out: list[SessionSummary] = []
    day = None
    for path in recording_files(recordings):
        if limit is not None and len(out) >= limit and path.parent != day:
            break  # the days are newest first: an older day cannot hold a newer session
        day = path.parent
        if (summary := summarize(path)) is not None:
            out.append(summary)
    out.sort(key=lambda s: (s.started_at, s.id), reverse=True)
    return out if limit is None else out[:limit]


# -- verifying -----------------------------------------------------------------------------------------------------


class _Checker:
    """The recording rules on top of the chain: a header first (naming the file's session), known line types,
    nothing after the end line, and an end line whose digest and counts match what came before it."""

    def __init__(self, stem: str) -> None:
        self.stem = stem
        self.tally: Counter[str] = Counter()
        self.ended = False

    def __call__(self, n: int, rec: dict[str, Any]) -> str | None:
        kind = rec.get("type")
        if self.ended:
            return "a line after the end line"
        if n == 1:
            if kind != "header":
                return "the first line is not a recording header"
            if rec.get("session") != self.stem:
                return f"the header names session {rec.get('session')!r}, not this file's {self.stem!r}"
            return None
        if kind in ("command", "result", "error"):
            self.tally[f"{kind}s"] += 1
            if kind == "command" and rec.get("action") == "deny":
                self.tally["denied"] += 1
            return None
        if kind != "end":
            return f"unexpected line type {kind!r}"
        self.ended = True
        if rec.get("digest") != rec.get("prev"):
            return "the end line's digest does not match the chain before it"
        counts = rec.get("counts")
        if not isinstance(counts, dict):
            return "the end line has no counts"
        for key, held in (*((k, self.tally[k]) for k in _COUNTED), ("lines", n - 1)):
            if counts.get(key) != held:
                return f"the end line counts {counts.get(key)} {key} but the recording holds {held} (lines removed?)"
        return None


def verify(path: Path) -> tuple[int, ChainProblem | None]:
    """Check a recording: the hash chain (any changed, removed, inserted or reordered line), the line types, and
    the end line's digest and counts. Returns (lines checked, the first problem or None), like
    :func:`interceptor.audit.verify`. A recording without an end line verifies (its session may still be open):
    check :attr:`SessionSummary.ended_at` to tell."""
    return audit.verify(path, _Checker(path.stem))


def is_recording(path: Path) -> bool:
    """True when ``path``'s first line is a recording header (rather than, say, an audit log line)."""
    try:
        with path.open("rb") as f:
            head = json.loads(f.readline(_TAIL))
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and head.get("type") == "header" and "session" in head


def seal_problems(recordings: Path, seals: dict[str, str]) -> list[tuple[Path, str]]:
    """Hold each recording against the seal the audit log keeps for it (``file name -> seal``): a recording whose
    last line is not that seal was cut short (its tail, end line included, removed), or is missing."""
    found = {p.name: p for p in recording_files(recordings)}
    problems: list[tuple[Path, str]] = []
    for name, seal in sorted(seals.items()):
        path = found.get(name)
        if path is None:
            problems.append((recordings / name, "the audit log holds a seal for this recording, but it is missing"))
            continue
        last = None
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            for raw in f.read().splitlines():
                if raw.strip():
                    last = raw
        try:
            last_hash = json.loads(last)["hash"] if last else None
        except (ValueError, KeyError, TypeError):
            last_hash = None
        if last_hash != seal:
            problems.append((path, "does not end with the seal the audit log holds for it (its end was cut)"))
    return problems
