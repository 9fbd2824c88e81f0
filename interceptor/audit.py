"""Append-only, hash-chained JSONL files: the writer and the verifier.

Each line is a JSON object that begins with ``seq``, ends with ``prev`` (the previous line's hash) and ``hash``,
and ``hash = sha256(prev + the line as written, up to ``,"hash"``, closed with "}")``: the bytes are hashed as
they are, so the verifier never re-serialises, and any change to a byte of the line breaks its hash. (Lines
written before this rule were canonical JSON, with sorted keys; hashing their bytes gives the same digest, so old
chains still verify.) Changing, removing, reordering or inserting a line breaks the chain at that line, and
:func:`verify` names it. The writer buffers lines and flushes (with fsync) on a timer and on
:meth:`ChainWriter.flush`, so a line costs one JSON encoding and one SHA-256 (the hot lines are built straight
as JSON text from a template, see :data:`Fragment`).

On the hot path even that is put off: :meth:`ChainWriter.defer` queues a function that builds the record, and
:meth:`ChainWriter.drain` (which the plugins run on the reactor's next pass, after the client's answer has been
sent) builds, serialises and hashes the queued records in order. Every other method drains first, so the chain
is the same as if each record had been appended at once; the timestamps are taken when a record is queued.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from interceptor.model import Verdict

GENESIS = "0" * 64
#: bytes of finished lines a :class:`ChainWriter` keeps before it writes them (it also writes on every flush)
BUFFER = 1 << 16


# The writer's JSON: compact, keys in the record's own order, calling the C encoder directly (JSONEncoder.encode's
# per-call set-up is a third of the time for a line). Non-ASCII text is written as it is (UTF-8).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_encoder is not None:
    _iterencode = _c_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def _encode(record: dict[str, Any]) -> str:
        return "".join(_iterencode(record, 0))
else:  # pragma: no cover - CPython always has the C encoder; PyPy does not
    _plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def _encode(record: dict[str, Any]) -> str:
        return _plain.encode(record)


# A text that is not valid Unicode (a lone surrogate: a client's bytes that were not UTF-8, kept losslessly)
# cannot be written as UTF-8; such a record is written with every non-ASCII character escaped instead, which
# json.loads reads back exactly.
_encode_ascii = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
_RESERVED = ("seq", "prev", "hash")
_SUFFIX = re.compile(rb',"hash":"([0-9a-f]{64})"\}\n?\Z')  # a line ends with its newline: nothing else

#: JSON string quoting for :data:`Fragment` builders: text as it is (written as UTF-8), or with every non-ASCII
#: character escaped (the retry for text that is not valid Unicode).
Escape = Callable[[str], str]
escape: Escape = json.encoder.encode_basestring
escape_ascii: Escape = json.encoder.encode_basestring_ascii

#: A record built straight as JSON: ``build(escape)`` returns the members of one JSON object without its braces
#: (``"type":"command","ts":1.5,...``), quoting every string it did not make itself with ``escape``. It must not
#: set ``seq``, ``prev`` or ``hash``. The hot lines (commands, results) are built this way: a template with a few
#: quoted strings costs a fraction of encoding a dict.
Fragment = Callable[[Escape], str]

#: Runs a job off the reactor thread (see :func:`interceptor.soon.off_thread`); the job's errors are its own.
Background = Callable[[Callable[[], None]], object]


def fragment(record: dict[str, Any]) -> Fragment:
    """A :data:`Fragment` for a plain dict (checked for the reserved keys now)."""
    if any(k in record for k in _RESERVED):
        raise ValueError(f"a chained record may not set {', '.join(k for k in _RESERVED if k in record)}")
    return lambda esc: (_encode if esc is escape else _encode_ascii)(record)[1:-1]


def timestamp(t: float | None = None) -> float:
    """A line's ``ts``: ``t`` (default: now) to the microsecond (cut, not rounded: a tenth of ``round``'s cost)."""
    return int((time.time() if t is None else t) * 1e6) / 1e6


def json_text(value: object, esc: Escape) -> str:
    """A JSON string (null for None; anything else as its ``str``), for fragment builders."""
    if type(value) is str:
        return esc(value)
    return "null" if value is None else esc(str(value))


_VERDICTS: dict[int, tuple[Verdict, str]] = {}


def verdict_members(verdict: Verdict, esc: Escape) -> str:
    """A verdict as the audit log and the recordings write it: ``"action":...,"reason":...,"rule":...,
    "plugin":...,"approved_by":...``. Kept per verdict object (most commands share one ALLOW)."""
    if esc is escape:
        hit = _VERDICTS.get(id(verdict))
        if hit is not None and hit[0] is verdict:
            return hit[1]
    text = (
        f'"action":"{verdict.action.name.lower()}","reason":{json_text(verdict.reason, esc)},'
        f'"rule":{json_text(verdict.rule, esc)},"plugin":{json_text(verdict.plugin, esc)},'
        f'"approved_by":{json_text(verdict.approved_by, esc)}'
    )
    if esc is escape:
        if len(_VERDICTS) >= 512:
            _VERDICTS.clear()
        _VERDICTS[id(verdict)] = (verdict, text)  # the entry keeps the verdict alive, so its id is not reused
    return text


def _chain(seq: int, build: Fragment, prev: str) -> tuple[bytes, str]:
    """Serialise once and hash the bytes as written (without ``hash``): the line (newline included) and its hash."""
    inner = build(escape)
    head = f'{{"seq":{seq},{inner},' if inner else f'{{"seq":{seq},'
    try:
        data = f'{head}"prev":"{prev}"'.encode()
    except UnicodeEncodeError:
        inner = build(escape_ascii)
        data = (f'{{"seq":{seq},{inner},"prev":"{prev}"' if inner else f'{{"seq":{seq},"prev":"{prev}"').encode()
    digest = hashlib.sha256(prev.encode() + data + b"}").hexdigest()
    return b'%s,"hash":"%s"}\n' % (data, digest.encode()), digest


def chain_line(seq: int, record: dict[str, Any], prev: str) -> tuple[str, str]:
    """The chained line (newline included) for ``record`` as line ``seq`` after the hash ``prev``, and its hash.
    Serialised once; the hash is taken over the line's bytes as written (without ``hash``)."""
    line, digest = _chain(seq, fragment(record), prev)
    return line.decode(), digest


class ChainWriter:
    """Appends chained records to one file. Continues an existing chain after a restart.

    Lines are kept in a list of their own until :meth:`flush` or until :data:`BUFFER` bytes are waiting, then
    written with one system call. The file is opened for each write (and each fsync) and closed after it, so a
    writer holds neither a buffer nor a file descriptor while nothing is waiting: an idle session's recording
    costs no descriptor (a gateway holding thousands of sessions would otherwise run out of them)."""

    __slots__ = ("_dirty", "_lines", "_pending", "_waiting", "closed", "path", "prev", "seq")

    def __init__(self, path: Path | str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.seq, self.prev = _tail(path)
        os.close(self._open(create=True))  # made (0600) and known to be writable now, not at the first flush
        self.closed = False
        self._lines: list[bytes] = []
        self._waiting = 0  # bytes in _lines
        self._dirty = False  # written since the last fsync
        self._pending: list[Fragment] = []

    def _open(self, create: bool = False) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        return os.open(self.path, flags, 0o600)

    def defer(self, build: Fragment) -> None:
        """Queue a record: ``build(escape)`` makes it at the next :meth:`drain` (or any other call that writes)."""
        if self.closed:
            raise ValueError(f"{self.path}: the chain is closed")
        self._pending.append(build)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def drain(self) -> None:
        """Build, serialise and hash every queued record, in order. Raises what :meth:`append` raises; the
        records after a failing one are dropped (the caller stops using a writer that failed)."""
        pending, self._pending = self._pending, []
        lines = self._lines
        waiting = self._waiting
        for build in pending:
            self.seq += 1
            line, self.prev = _chain(self.seq, build, self.prev)
            lines.append(line)
            waiting += len(line)
        self._waiting = waiting
        if waiting >= BUFFER:
            os.close(self._write())

    def append(self, record: dict[str, Any]) -> str:
        """Append one record now (after the queued ones); returns its hash."""
        if self.closed:
            raise ValueError(f"{self.path}: the chain is closed")
        build = fragment(record)
        if self._pending:
            self.drain()
        self.seq += 1
        line, self.prev = _chain(self.seq, build, self.prev)
        self._lines.append(line)
        self._waiting += len(line)
        if self._waiting >= BUFFER:
            os.close(self._write())
        return self.prev

    def _write(self) -> int:
        """Write the waiting lines; returns the open descriptor, for the caller to fsync or close."""
        if self.closed:
            raise ValueError(f"{self.path}: the chain is closed")
        data = memoryview(b"".join(self._lines))
        self._lines.clear()
        self._waiting = 0
        fd = self._open()
        try:
            self._dirty = True
            while data:
                data = data[os.write(fd, data) :]
        except BaseException:
            os.close(fd)
            raise
        return fd

    def flush(self, sync: bool = True, background: Background | None = None) -> None:
        """Write the waiting lines; with ``sync``, fsync them too: at once, or with ``background`` (a function that
        runs a job on another thread, so the reactor does not wait for the disk). A background job opens the file
        itself when it runs: thousands of queued fsyncs hold no descriptors."""
        if self._pending:
            self.drain()
        fd = self._write() if self._lines else None
        if not sync or not self._dirty or self.closed:
            if fd is not None:
                os.close(fd)
            return
        self._dirty = False
        if background is None:
            _fsync_and_close(fd if fd is not None else self._open())
            return
        if fd is not None:
            os.close(fd)
        background(partial(_fsync_path, self.path))

    def close(self, background: Background | None = None) -> None:
        """Flush (fsync included, with ``background`` as for :meth:`flush`); the writer takes no more lines."""
        try:
            self.flush(True, background)
        finally:
            self.closed = True


def _fsync_path(path: Path | str) -> None:
    _fsync_and_close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC))


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tail(path: Path | str) -> tuple[int, str]:
    """The last line's seq and hash, read from the end of the file (not the whole file)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().splitlines()
    except FileNotFoundError:
        return 0, GENESIS
    for raw in reversed(lines):
        if raw.strip():
            last = json.loads(raw)
            return int(last["seq"]), str(last["hash"])
    return 0, GENESIS


@dataclass(frozen=True)
class ChainProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for raw in f:
            if raw.strip():
                yield json.loads(raw)


#: An extra per-line check for :func:`verify`: called with each line's number and record (without ``hash``) once
#: its hash checks out; returns a message to report that line as the first problem, or None.
LineCheck = Callable[[int, dict[str, Any]], str | None]


def verify(path: Path, check: LineCheck | None = None) -> tuple[int, ChainProblem | None]:
    """Check a whole chain. Returns (lines checked, the first problem or None). ``check`` adds a format's own
    rules (the recording format uses it for its line types and its end line)."""
    prev, seq, n = GENESIS, 0, 0
    with path.open("rb") as f:  # bytes: a line that is not UTF-8 is a bad line, not a crash
        for n, raw in enumerate(f, 1):
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                claimed = record.pop("hash")
            except (ValueError, KeyError):
                return n, ChainProblem(n, "not a chained JSON record")
            if record.get("prev") != prev:
                return n, ChainProblem(n, "does not follow the line before it (a line was removed or reordered)")
            if record.get("seq") != seq + 1:
                return n, ChainProblem(n, f"sequence number {record.get('seq')} where {seq + 1} was due")
            found = _SUFFIX.search(raw)  # the hash is over the bytes before it, so it must end the line
            if (
                found is None
                or claimed != found.group(1).decode()
                or hashlib.sha256(prev.encode() + raw[: found.start()] + b"}").hexdigest() != claimed
            ):
                return n, ChainProblem(n, "content does not match its hash (the line was changed)")
            if check is not None and (message := check(n, record)) is not None:
                return n, ChainProblem(n, message)
            prev, seq = claimed, seq + 1
    return n, None
