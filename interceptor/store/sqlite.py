"""The embedded state store: one SQLite file in WAL mode, shared by the gateway and the ``interceptor`` CLI.

The file is created ``0600`` (its directory ``0700`` when created), because it holds the statements waiting for
approval. WAL lets the CLI read while the gateway writes; ``busy_timeout`` makes a writer wait for the (very short)
write lock of another instead of failing. ``synchronous = NORMAL`` keeps a commit free of ``fsync`` (a crash may
lose the last moments of decisions, never corrupt the file; a lost approval only means asking again).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from interceptor.store.schema import StoreUnavailable
from interceptor.store.sql import SqlStore

__all__ = ["SqliteStore"]

BUSY_TIMEOUT_MS = 5000


class SqliteStore(SqlStore):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        create: bool = True,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        super().__init__(clock)
        self.path = os.fspath(path)
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.Lock()  # one connection, usable from the reactor thread or a pool thread
        try:
            if self.path != ":memory:":
                _ensure_file(Path(self.path), create)
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot open the state store {self.path}: {_why(e)}") from e
        self._execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if self.path != ":memory:":
            self._execute("PRAGMA journal_mode = WAL")
            self._execute("PRAGMA synchronous = NORMAL")
        self._create_schema()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as e:
                raise StoreUnavailable(f"state store {self.path}: {_why(e)}") from e

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _ensure_file(path: Path, create: bool) -> None:
    if path.exists():
        return
    if not create:
        raise StoreUnavailable(f"no state store at {path} (the gateway creates it at the first approval request)")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
