"""``interceptor approvals list|approve|deny``: the approver's side of the approval flow.

An approver proves who they are with their own gateway token (``$INTERCEPTOR_TOKEN`` or ``--token-file``). The
token is checked (bcrypt) only against the identities that the request's approver selectors match, never against
every identity. Nobody decides their own request. Exit codes: 0 done, 1 refused, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt

from interceptor.config import Config, IdentityConfig, default_path, load
from interceptor.store import (
    EXPIRED,
    PENDING,
    AlreadyDecided,
    ApprovalRequest,
    Expired,
    Store,
    StoreError,
    StoreUnavailable,
    open_store,
)

__all__ = ["add_parsers", "cmd_approvals"]

TOKEN_ENV = "INTERCEPTOR_TOKEN"
_MAX_TOKEN = 72  # bcrypt reads 72 bytes at most; longer tokens are refused, never truncated
_STATEMENT_WIDTH = 60


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], add_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``approvals list|approve|deny`` to the ``interceptor`` parser. ``add_config(parser)`` adds -c/--config."""
    approvals = sub.add_parser("approvals", help="commands waiting for approval")
    asub = approvals.add_subparsers(dest="approvals_command", required=True, metavar="ACTION")
    p = asub.add_parser("list", help="list requests waiting for a decision")
    add_config(p)
    p.add_argument("--json", action="store_true", help="full records as JSON")
    p.add_argument("--all", action="store_true", help="also decided and expired requests")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default: %(default)s)")
    for action, text in (("approve", "let the command run (once)"), ("deny", "refuse the command")):
        p = asub.add_parser(action, help=text)
        add_config(p)
        p.add_argument("id", help="request id (from `interceptor approvals list` or the webhook)")
        p.add_argument("--token-file", metavar="PATH", help=f"file holding your gateway token (default: ${TOKEN_ENV})")


def cmd_approvals(args: argparse.Namespace) -> int:
    cfg = load(default_path(args.config))
    if args.approvals_command == "list":
        return _list(cfg, args)
    return _decide(cfg, args, approve=args.approvals_command == "approve")


# -- list --------------------------------------------------------------------------------------------------------


def _list(cfg: Config, args: argparse.Namespace) -> int:
    now = time.time()
    try:
        store = open_store(cfg.state, create=False)
    except StoreUnavailable as e:
        if not cfg.state.startswith("sqlite:"):
            return _refuse(str(e))
        requests: list[ApprovalRequest] = []  # no file yet: nothing was ever requested
    else:
        try:
            requests = store.list(state=None if args.all else PENDING, limit=args.limit)
        except StoreError as e:
            return _refuse(str(e))
        finally:
            store.close()
    if not args.all:
        requests = [r for r in requests if r.expires_at > now]
    if args.json:
        print(json.dumps([r.to_json() for r in requests], indent=2))
        return 0
    if not requests:
        print("no approval requests" if args.all else "no approval requests waiting")
        return 0
    rows = [("ID", "AGE", "EXPIRES IN", "REQUESTER", "CONNECTION", "RULE", "STATE", "STATEMENT")]
    for r in requests:
        state = EXPIRED if r.state == PENDING and r.expires_at <= now else r.state
        expires = _duration(r.expires_at - now) if state == PENDING else "-"
        rows.append(
            (
                r.id,
                _duration(now - r.created_at),
                expires,
                r.requester,
                r.connection,
                r.rule,
                state,
                _short(r.statement),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _short(statement: str) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= _STATEMENT_WIDTH else flat[: _STATEMENT_WIDTH - 1] + "…"


# -- approve / deny ------------------------------------------------------------------------------------------------


def _decide(cfg: Config, args: argparse.Namespace, approve: bool) -> int:
    verb = "approve" if approve else "deny"
    token = _read_token(args)
    if token is None:
        return 2
    try:
        store = open_store(cfg.state, create=False)
    except StoreUnavailable as e:
        return _refuse(f"no approval request {args.id}" if cfg.state.startswith("sqlite:") else str(e))
    try:
        return _decide_in(store, cfg, args.id, token, approve, verb)
    finally:
        store.close()


def _decide_in(store: Store, cfg: Config, request_id: str, token: str, approve: bool, verb: str) -> int:
    try:
        req = store.get(request_id)
        if req.state != PENDING:  # say so before spending a bcrypt check; decide() below re-checks atomically
            raise Expired(req.id, req.decided_by) if req.state == EXPIRED else _already(req)
    except StoreError as e:
        return _refuse(str(e))
    who = find_approver(cfg, req, token)
    if who is None:
        return _refuse(f"your token does not belong to any approver of request {req.id} ({', '.join(req.approvers)})")
    if who.name == req.requester:
        return _refuse(f"you cannot {verb} your own request")
    try:
        decided = store.decide(req.id, who.name, approve)
    except StoreError as e:
        return _refuse(str(e))
    print(f"{decided.state} request {decided.id} as {who.name}: {req.requester} on {req.connection}: {req.statement}")
    if approve:
        print("the gateway runs it once, at its next poll (within a second)")
    return 0


def _already(req: ApprovalRequest) -> StoreError:
    return AlreadyDecided(req.id, req.state, req.decided_by)


def find_approver(cfg: Config, req: ApprovalRequest, token: str) -> IdentityConfig | None:
    """The configured identity that ``token`` belongs to, among those the request's approver selectors match."""
    raw = token.encode()
    if not raw or len(raw) > _MAX_TOKEN:
        return None
    for candidate in cfg.identities.values():
        identity = candidate.identity()
        if not any(identity.matches(selector) for selector in req.approvers):
            continue
        try:
            if bcrypt.checkpw(raw, candidate.token_hash.encode()):
                return candidate
        except ValueError:
            continue
    return None


def _read_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            print(f"interceptor: cannot read the token file {args.token_file}: {e}", file=sys.stderr)
            return None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        where = f"the token file {args.token_file} is empty" if args.token_file else f"${TOKEN_ENV} is not set"
        print(
            f"interceptor: {where}; give your own gateway token in ${TOKEN_ENV} or --token-file PATH", file=sys.stderr
        )
        return None
    return token


def _refuse(message: str) -> int:
    print(f"interceptor: {message}", file=sys.stderr)
    return 1
