"""The shared state store for several gateway replicas: a table in a PostgreSQL database (psycopg 3).

Install with ``pip install 'interceptor[postgres-state]'``. The URL carries no password (use ``PGPASSWORD`` or a
``.pgpass`` file). The table is created when missing. One connection in autocommit mode, guarded by a lock; a
connection that breaks is dropped and the next call reconnects. Statements time out after 5 s, so a stuck
database turns into a :class:`StoreUnavailable` (and the approval plugin fails closed) instead of a hang.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from interceptor.store.schema import StoreUnavailable
from interceptor.store.sql import SqlStore

__all__ = ["PostgresStore"]

CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT_MS = 5000


class PostgresStore(SqlStore):
    def __init__(
        self, url: str, *, clock: Callable[[], float] = time.time, connect_timeout: int = CONNECT_TIMEOUT
    ) -> None:
        super().__init__(clock)
        try:
            import psycopg
        except ImportError:
            raise StoreUnavailable(
                "the PostgreSQL state store needs psycopg: pip install 'interceptor[postgres-state]'"
            ) from None
        self._psycopg = psycopg
        self.url = url
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: Any = None
        # Replicas starting together race on CREATE TABLE IF NOT EXISTS: the loser can see a duplicate table,
        # type or catalog row. Once the winner has committed, the same statements succeed, so try again.
        races = (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject)
        for attempt in range(5):
            try:
                self._create_schema()
                break
            except StoreUnavailable as e:
                if not isinstance(e.__cause__, races) or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _connect(self) -> Any:
        conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout)
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        return conn

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        psycopg = self._psycopg
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                cur = self._conn.execute(sql.replace("?", "%s"), tuple(params))
                return list(cur.fetchall()) if cur.description is not None else []
            except psycopg.Error as e:
                if isinstance(e, psycopg.OperationalError) and self._conn is not None:
                    self._conn.close()  # reconnect on the next call
                    self._conn = None
                raise StoreUnavailable(f"state store {_where(self.url)}: {_first_line(e)}") from e

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"PostgresStore({_where(self.url)!r})"


def _where(url: str) -> str:
    """The URL without its query string (where options could live)."""
    return url.split("?", 1)[0]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
