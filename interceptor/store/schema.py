"""The approval request record, its states and the errors the state store raises."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PENDING, APPROVED, DENIED, EXPIRED, EXECUTED = "pending", "approved", "denied", "expired", "executed"
STATES = (PENDING, APPROVED, DENIED, EXPIRED, EXECUTED)
ID_LENGTH = 12  # base32 characters: 60 random bits


class StoreError(Exception):
    """Base class of every error the state store raises."""


class StoreUnavailable(StoreError):
    """The store cannot be opened, read or written (missing file, permissions, database down...)."""


class NotFound(StoreError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no approval request {request_id}")
        self.request_id = request_id


class AlreadyDecided(StoreError):
    def __init__(self, request_id: str, state: str, by: str | None) -> None:
        who = f" by {by}" if by else ""
        super().__init__(f"request {request_id} was already {state}{who}")
        self.request_id, self.state, self.by = request_id, state, by


class Expired(StoreError):
    def __init__(self, request_id: str, by: str | None = None) -> None:
        why = f" ({by})" if by else ""
        super().__init__(f"request {request_id} expired without a decision{why}")
        self.request_id, self.by = request_id, by


def new_request_id() -> str:
    """A short, URL-safe, unguessable id: 12 lower-case base32 characters (60 random bits), never sequential."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()[:ID_LENGTH]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One command held for approval. ``statement`` is exactly the client's text; ``approvers`` the rule's
    selectors (``alice``, ``group:dba``, ``kind:human``)."""

    id: str
    created_at: float
    expires_at: float
    state: str
    requester: str
    requester_kind: str
    session_id: str
    connection: str
    protocol: str
    statement: str
    statement_sha256: str
    reason: str
    rule: str
    approvers: tuple[str, ...]
    decided_by: str | None = None
    decided_at: float | None = None

    @classmethod
    def new(
        cls,
        *,
        created_at: float,
        timeout: float,
        requester: str,
        requester_kind: str,
        session_id: str,
        connection: str,
        protocol: str,
        statement: str,
        reason: str = "",
        rule: str = "",
        approvers: Sequence[str] = (),
    ) -> ApprovalRequest:
        """A pending request, not yet stored (its id is given by :meth:`Store.create_approval`)."""
        return cls(
            id="",
            created_at=created_at,
            expires_at=created_at + timeout,
            state=PENDING,
            requester=requester,
            requester_kind=requester_kind,
            session_id=session_id,
            connection=connection,
            protocol=protocol,
            statement=statement,
            statement_sha256=hashlib.sha256(statement.encode("utf-8", "surrogatepass")).hexdigest(),
            reason=reason,
            rule=rule,
            approvers=tuple(approvers),
        )

    @property
    def timeout(self) -> float:
        return self.expires_at - self.created_at

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["approvers"] = list(self.approvers)
        return out
