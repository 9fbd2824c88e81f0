"""Table and column names for RowDescription's table OIDs, looked up on the upstream and cached.

Masking rules name columns as ``table.column``; a result only carries each column's table OID and attribute
number (and an output name that an alias can change). The relay asks this cache; unknown OIDs are looked up on a
separate, gateway-owned connection per upstream (logged in with the same vaulted credential), so the session's
own stream is never touched. Entries live ``ttl`` seconds: a renamed column is seen under its old name until
then (safe for masking: the old name was already masked or not, and value detectors apply regardless).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.config import ConnectionConfig
from interceptor.protocols.postgres import codec
from interceptor.protocols.postgres.upstream import UpstreamError, UpstreamFactory, UpstreamReady

log = Logger(namespace="interceptor.postgres.catalog")

_QUERY = (
    "select c.oid, n.nspname, c.relname, a.attnum, a.attname from pg_catalog.pg_class c"
    " join pg_catalog.pg_namespace n on n.oid = c.relnamespace"
    " join pg_catalog.pg_attribute a on a.attrelid = c.oid"
    " where c.oid in ({oids}) and a.attnum > 0 and not a.attisdropped"
)


@dataclass(frozen=True)
class TableInfo:
    name: str  # schema.table
    columns: dict[int, str]  # attnum -> attname


class CatalogError(Exception):
    pass


class Catalog:
    """Gateway-wide: (connection, table OID) → TableInfo, with lookups batched per upstream."""

    def __init__(self, reactor: Any, max_size: int, ttl: float = 60.0) -> None:
        self.reactor = reactor
        self.max_size = max_size
        self.ttl = ttl
        self._cache: dict[tuple[str, int], tuple[float, TableInfo | None]] = {}
        self._clients: dict[str, _Client] = {}

    def get(self, conn: str, oid: int) -> TableInfo | None:
        hit = self._cache.get((conn, oid))
        return hit[1] if hit is not None else None

    def missing(self, conn: str, oids: Iterable[int]) -> set[int]:
        now = self.reactor.seconds()
        return {o for o in oids if o and ((hit := self._cache.get((conn, o))) is None or hit[0] < now)}

    def resolve(self, conn: ConnectionConfig, oids: set[int], timeout: float = 10.0) -> Deferred[None]:
        """Look ``oids`` up; fails (and the relay withholds the result) if the upstream does not answer in time,
        so a silent catalog connection can never hold a session's results forever."""
        client = self._clients.get(conn.name)
        if client is None or client.dead:
            client = self._clients[conn.name] = _Client(self, conn)
        return client.lookup(oids).addTimeout(timeout, self.reactor)

    def store(self, conn: str, oids: set[int], rows: list[list[bytes | None]]) -> None:
        expires = self.reactor.seconds() + self.ttl
        found: dict[int, TableInfo] = {}
        for oid_b, nsp, rel, attnum, attname in rows:
            oid = int(oid_b or b"0")
            info = found.get(oid)
            if info is None:
                info = found[oid] = TableInfo(f"{(nsp or b'').decode()}.{(rel or b'').decode()}", {})
            info.columns[int(attnum or b"0")] = (attname or b"").decode()
        for oid in oids:
            self._cache[(conn, oid)] = (expires, found.get(oid))  # None: not a table we can name (dropped)


class _Client:
    """One logged-in upstream connection that runs catalog queries one at a time."""

    def __init__(self, catalog: Catalog, conn: ConnectionConfig) -> None:
        self.catalog, self.conn = catalog, conn
        self.queue: deque[tuple[set[int], Deferred[None]]] = deque()
        self.proto: Any = None
        self.dead = False
        self.rows: list[list[bytes | None]] = []
        self.error: str | None = None
        params = {"user": conn.username or "", "database": conn.database or conn.name,
                  "application_name": "interceptor catalog"}  # fmt: skip
        factory = UpstreamFactory(conn, params, catalog.max_size, self._ready, self._failed)
        catalog.reactor.connectTCP(conn.upstream.host, conn.upstream.port, factory, timeout=10)

    def lookup(self, oids: set[int]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.queue.append((oids, d))
        if self.proto is not None and len(self.queue) == 1:
            self._send()
        return d

    def _send(self) -> None:
        oids = self.queue[0][0]
        sql = _QUERY.format(oids=",".join(str(int(o)) for o in sorted(oids)))
        self.rows, self.error = [], None
        self.proto.transport.write(codec.Query(sql).encode())

    def _ready(self, ready: UpstreamReady) -> None:
        self.proto = ready.protocol
        self.proto.sink = self
        if self.queue:
            self._send()

    def _failed(self, err: UpstreamError) -> None:
        self._die(str(err))

    def _die(self, why: str) -> None:
        self.dead = True
        if self.queue:  # an idle catalog connection that closes (server restart, shutdown) is reopened on demand
            log.warn("catalog connection to {connection} failed: {why}", connection=self.conn.name, why=why)
        while self.queue:
            d = self.queue.popleft()[1]
            if not d.called:  # a timed-out look-up was already failed
                d.errback(CatalogError(why))

    # UpstreamSink
    def upstream_frames(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        for t, s, e in frames:
            if t == codec.Backend.DATA_ROW:
                self.rows.append(codec.data_row_values(buf[s + 5 : e]))
            elif t == codec.Backend.ERROR_RESPONSE:
                self.error = codec.ErrorResponse.decode(buf[s + 5 : e]).message
            elif t == codec.Backend.READY_FOR_QUERY and self.queue:
                oids, d = self.queue.popleft()
                if self.error is None:
                    self.catalog.store(self.conn.name, oids, self.rows)  # cached even if that caller timed out
                    if not d.called:
                        d.callback(None)
                elif not d.called:
                    d.errback(CatalogError(self.error))
                if self.queue:
                    self._send()

    def upstream_broken(self, why: str) -> None:
        self._die(why)
        self.proto.transport.abortConnection()

    def upstream_lost(self, reason: Failure) -> None:
        self._die(reason.getErrorMessage())
