"""The store operations in portable SQL, shared by the SQLite and PostgreSQL backends.

Each operation is a single statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING``, ``UPDATE ... WHERE state =
... RETURNING``), so it is atomic on its own: the row lock (PostgreSQL) or the database write lock (SQLite) makes
the ``WHERE state = 'pending'`` test and the change one step. A backend only supplies :meth:`SqlStore._execute`.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

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
    StoreUnavailable,
    new_request_id,
)

TABLE = "interceptor_approvals"
COLUMNS = tuple(f.name for f in dataclasses.fields(ApprovalRequest))
_COLS = ", ".join(COLUMNS)
# Both SQLite and PostgreSQL accept these type names.
DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id text PRIMARY KEY,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        state text NOT NULL,
        requester text NOT NULL,
        requester_kind text NOT NULL,
        session_id text NOT NULL,
        connection text NOT NULL,
        protocol text NOT NULL,
        statement text NOT NULL,
        statement_sha256 text NOT NULL,
        reason text NOT NULL,
        rule text NOT NULL,
        approvers text NOT NULL,
        decided_by text,
        decided_at double precision
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_state ON {TABLE} (state, expires_at)",
)
_ID_ATTEMPTS = 5
_CHUNK = 500  # ids per IN (...) list


def _to_row(req: ApprovalRequest) -> tuple[Any, ...]:
    values = dataclasses.astuple(req)
    i = COLUMNS.index("approvers")
    return (*values[:i], json.dumps(list(req.approvers)), *values[i + 1 :])


def _from_row(row: Sequence[Any]) -> ApprovalRequest:
    values = dict(zip(COLUMNS, row, strict=True))
    values["approvers"] = tuple(json.loads(values["approvers"]))
    return ApprovalRequest(**values)


class SqlStore:
    """The :class:`~interceptor.store.Store` operations; subclasses implement ``_execute`` and ``close``."""

    url: str

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        """Run one statement in a transaction of its own (``?`` placeholders) and return its rows. Raise
        :class:`StoreUnavailable` for any backend failure."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _create_schema(self) -> None:
        for statement in DDL:
            self._execute(statement)

    # -- operations --------------------------------------------------------------------------------------------

    def create_approval(self, req: ApprovalRequest) -> ApprovalRequest:
        marks = ", ".join("?" * len(COLUMNS))
        for _ in range(_ID_ATTEMPTS):
            stored = dataclasses.replace(req, id=new_request_id(), state=PENDING, decided_by=None, decided_at=None)
            sql = f"INSERT INTO {TABLE} ({_COLS}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING RETURNING id"
            if self._execute(sql, _to_row(stored)):
                return stored
        raise StoreUnavailable(f"could not find a free request id in {_ID_ATTEMPTS} attempts")

    def get(self, request_id: str) -> ApprovalRequest:
        rows = self._execute(f"SELECT {_COLS} FROM {TABLE} WHERE id = ?", (request_id,))
        if not rows:
            raise NotFound(request_id)
        return _from_row(rows[0])

    def list(self, state: str | None = None, limit: int = 100) -> builtins.list[ApprovalRequest]:
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r} (one of {', '.join(STATES)})")
        where, params = ("WHERE state = ?", [state]) if state else ("", [])
        sql = f"SELECT {_COLS} FROM {TABLE} {where} ORDER BY created_at DESC, id LIMIT ?"
        return [_from_row(r) for r in self._execute(sql, [*params, max(0, int(limit))])]

    def decide(self, request_id: str, approver: str, approve: bool) -> ApprovalRequest:
        now = self._clock()
        rows = self._execute(
            f"UPDATE {TABLE} SET state = ?, decided_by = ?, decided_at = ?"
            f" WHERE id = ? AND state = '{PENDING}' AND expires_at > ? RETURNING {_COLS}",
            (APPROVED if approve else DENIED, approver, now, request_id, now),
        )
        if rows:
            return _from_row(rows[0])
        current = self.get(request_id)  # raises NotFound
        if current.state == PENDING:  # still pending, so its deadline has passed: record that
            self._execute(
                f"UPDATE {TABLE} SET state = '{EXPIRED}', decided_at = ? WHERE id = ? AND state = '{PENDING}'",
                (now, request_id),
            )
            raise Expired(request_id)
        if current.state == EXPIRED:
            raise Expired(request_id, current.decided_by)
        raise AlreadyDecided(request_id, current.state, current.decided_by)

    def claim_for_execution(self, request_id: str) -> bool:
        sql = f"UPDATE {TABLE} SET state = '{EXECUTED}' WHERE id = ? AND state = '{APPROVED}' RETURNING id"
        return bool(self._execute(sql, (request_id,)))

    def cancel(self, request_id: str, by: str) -> bool:
        sql = (
            f"UPDATE {TABLE} SET state = '{EXPIRED}', decided_by = ?, decided_at = ?"
            f" WHERE id = ? AND state = '{PENDING}' RETURNING id"
        )
        return bool(self._execute(sql, (by, self._clock(), request_id)))

    def expire_due(self, now: float | None = None) -> builtins.list[str]:
        now = self._clock() if now is None else now
        sql = (
            f"UPDATE {TABLE} SET state = '{EXPIRED}', decided_at = ?"
            f" WHERE state = '{PENDING}' AND expires_at <= ? RETURNING id"
        )
        return [str(r[0]) for r in self._execute(sql, (now, now))]

    def poll_decided(self, request_ids: Sequence[str]) -> builtins.list[ApprovalRequest]:
        out: builtins.list[ApprovalRequest] = []
        ids = builtins.list(request_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {_COLS} FROM {TABLE} WHERE id IN ({marks}) AND state <> '{PENDING}'"
            out.extend(_from_row(r) for r in self._execute(sql, chunk))
        return out
