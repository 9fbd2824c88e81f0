"""The gateway's shared state: approval requests, kept in SQLite (embedded default) or PostgreSQL (for replicas).

    store = open_store(config.state)            # sqlite:///abs/path.db or postgresql://user@host/db
    req = store.create_approval(ApprovalRequest.new(...))
    store.decide(req.id, "alice", approve=True)  # what `interceptor approvals approve` does
    store.claim_for_execution(req.id)            # True exactly once, whichever replica asks

Every operation is one small atomic statement, synchronous and fast. A state change only ever happens from the
state the operation expects (``pending`` -> decided, ``approved`` -> ``executed``), checked inside the same
``UPDATE``, so two callers racing on one request (two approvers, two replicas) can never both win. Times are
seconds since the epoch from the store's ``clock`` (``time.time`` unless given).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from interceptor.store.schema import (
    APPROVED,
    DENIED,
    EXECUTED,
    EXPIRED,
    PENDING,
    STATES,
    AlreadyDecided,
    ApprovalRequest,
    Expired,
    NotFound,
    StoreError,
    StoreUnavailable,
    new_request_id,
)

if TYPE_CHECKING:
    from interceptor.store.postgres import PostgresStore
    from interceptor.store.sqlite import SqliteStore

__all__ = [
    "APPROVED",
    "DENIED",
    "EXECUTED",
    "EXPIRED",
    "PENDING",
    "STATES",
    "AlreadyDecided",
    "ApprovalRequest",
    "Expired",
    "NotFound",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "blocking_url",
    "new_request_id",
    "open_store",
]


def __getattr__(name: str) -> object:  # the backends load lazily: psycopg is an optional dependency
    if name == "SqliteStore":
        from interceptor.store.sqlite import SqliteStore

        return SqliteStore
    if name == "PostgresStore":
        from interceptor.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Store(Protocol):
    """What the gateway and the CLI need from the state store. Implementations: :class:`SqliteStore`,
    :class:`PostgresStore`. Every method raises :class:`StoreUnavailable` when the backend fails."""

    url: str

    def create_approval(self, req: ApprovalRequest) -> ApprovalRequest:
        """Store a new pending request under a fresh random id; returns it with the id set."""
        ...

    def get(self, request_id: str) -> ApprovalRequest:
        """The request, or :class:`NotFound`."""
        ...

    def list(self, state: str | None = None, limit: int = 100) -> builtins.list[ApprovalRequest]:
        """Requests, newest first, optionally only those in ``state``."""
        ...

    def decide(self, request_id: str, approver: str, approve: bool) -> ApprovalRequest:
        """``pending`` -> ``approved``/``denied``, atomically, if the request has not expired. Raises
        :class:`NotFound`, :class:`AlreadyDecided` or :class:`Expired` (marking it expired) otherwise."""
        ...

    def claim_for_execution(self, request_id: str) -> bool:
        """``approved`` -> ``executed``, atomically. True for exactly one caller, ever."""
        ...

    def cancel(self, request_id: str, by: str) -> bool:
        """``pending`` -> ``expired`` with ``decided_by`` = ``by`` (e.g. ``session closed``). False if it was no
        longer pending."""
        ...

    def expire_due(self, now: float | None = None) -> builtins.list[str]:
        """Mark every pending request whose deadline has passed as expired; returns their ids."""
        ...

    def poll_decided(self, request_ids: Sequence[str]) -> builtins.list[ApprovalRequest]:
        """Those of ``request_ids`` that are no longer pending."""
        ...

    def close(self) -> None: ...


def blocking_url(url: str) -> bool:
    """True if calls to this store may wait on the network (run them in a thread, never on the reactor)."""
    return not url.startswith("sqlite:")


def open_store(url: str, *, clock: Callable[[], float] = time.time, create: bool = True) -> Store:
    """Open the store named by ``config.state``: ``sqlite:///abs/path.db`` (``sqlite:///:memory:`` for tests) or
    ``postgresql://user@host:port/db``. The schema is created when missing. With ``create=False`` a SQLite file
    that does not exist yet raises :class:`StoreUnavailable` instead of being created."""
    if url.startswith("sqlite:///"):
        from interceptor.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"), clock=clock, create=create)
    if url.startswith(("postgresql://", "postgres://")):
        from interceptor.store.postgres import PostgresStore

        return PostgresStore(url, clock=clock)
    raise StoreUnavailable(f"unsupported state store URL {url.split(':', 1)[0]}:... (sqlite:/// or postgresql://)")
