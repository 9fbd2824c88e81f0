"""Built-in approval plugin: holds a command whose verdict is REVIEW until an approver decides, or it expires.

For each REVIEW verdict it stores an approval request in the state store (``config.state``: SQLite, or PostgreSQL
shared by several replicas), logs it, optionally POSTs it to a webhook, and returns a Deferred. Only the session
that sent the command waits. A LoopingCall on the gateway's reactor polls the store for decisions on this
process's requests (``plugin_config.approval.poll_interval``, default 0.5 s) and fires the Deferred with:

* ALLOW with ``approved_by`` once an approver approved it (``interceptor approvals approve ID``) and this process
  won ``claim_for_execution`` (an approval runs exactly once);
* DENY naming the request when it was denied, expired, was cancelled, or cannot be stored (fail closed).

Store calls run in the reactor's thread pool (they may take milliseconds; see ``docs/approvals.md``), directly
only when the reactor has no thread pool (the test harness's Clock). Settings under ``plugin_config.approval``:
``poll_interval``, ``webhook`` (an http(s) URL), ``webhook_timeout`` (default 5 s).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.protocol import Protocol
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.model import Command, Session, Verdict
from interceptor.store import APPROVED, DENIED, EXPIRED, ApprovalRequest, Store, open_store

log = Logger(namespace="interceptor.plugins.approval")

NAME = "approval"
DEFAULT_TIMEOUT = 300.0
SESSION_CLOSED = "session closed"
_SETTINGS = ("poll_interval", "webhook", "webhook_timeout")

#: ``send(url, payload)``: posts one webhook; may return a Deferred. Replace it on the plugin to send elsewhere.
WebhookSender = Callable[[str, Mapping[str, Any]], object]


@dataclass(slots=True)
class _Waiter:
    request: ApprovalRequest
    deferred: Deferred[Verdict]


class ApprovalPlugin:
    """One per gateway process. Knows only the requests its own sessions wait for."""

    def __init__(self) -> None:
        self.reactor: Any = None
        self.state_url: str | None = None
        self.store: Store | None = None
        self.poll_interval = 0.5
        self.webhook: str | None = None
        self.webhook_timeout = 5.0
        self.send_webhook: WebhookSender = self.post_webhook
        #: ``run(f, *args) -> Deferred``; None picks the reactor's thread pool (or a direct call without one)
        self.run_blocking: Callable[..., Deferred[Any]] | None = None
        self.waiting: dict[str, _Waiter] = {}
        self._creating: dict[str, int] = {}  # session id -> requests being stored right now
        self._closed_early: set[str] = set()  # sessions that closed while one of their requests was being stored
        self._poller: LoopingCall | None = None
        self._open_lock = threading.Lock()

    # -- configuration -----------------------------------------------------------------------------------------

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any) -> None:
        settings = config.plugin_settings(NAME)
        for key in settings:
            if key not in _SETTINGS:
                raise config.error(f"plugin_config.{NAME}.{key}", f"unknown key (expected {', '.join(_SETTINGS)})")
        poll_interval = _seconds(config, settings, "poll_interval", 0.5)
        webhook_timeout = _seconds(config, settings, "webhook_timeout", 5.0)
        webhook = settings.get("webhook")
        if webhook is not None and not (isinstance(webhook, str) and _is_http_url(webhook)):
            raise config.error(f"plugin_config.{NAME}.webhook", "must be an http:// or https:// URL")
        if self.state_url is not None and self.state_url != config.state:
            self._abandon("the state store changed on reload")
        self.reactor = reactor
        self.state_url = config.state  # opened at the first request, so `interceptor check` writes nothing
        self.webhook, self.webhook_timeout = webhook, webhook_timeout
        if poll_interval != self.poll_interval and self._poller is not None and self._poller.running:
            self._poller.stop()
            self._poller = None
        self.poll_interval = poll_interval
        if self.waiting:
            self._ensure_polling()

    def _store(self) -> Store:
        """The store, opened on first use (from whichever thread needs it first)."""
        with self._open_lock:
            if self.store is None:
                assert self.state_url is not None
                self.store = open_store(self.state_url, clock=self.reactor.seconds)
            return self.store

    def _run(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        if self.run_blocking is not None:
            return self.run_blocking(f, *args)
        get_pool = getattr(self.reactor, "getThreadPool", None)
        if get_pool is None:
            return maybeDeferred(f, *args)
        return deferToThreadPool(self.reactor, get_pool(), f, *args)

    # -- holding a command -------------------------------------------------------------------------------------

    @hookimpl
    def interceptor_review(self, session: Session, command: Command, verdict: Verdict) -> Deferred[Verdict]:
        if self.reactor is None or self.state_url is None:
            return succeed(_deny("the approval plugin is not configured; denied to fail closed", verdict))
        if not verdict.approvers:
            return succeed(_deny(f"{verdict.reason}: needs approval, but the rule names no approvers", verdict))
        timeout = verdict.timeout if verdict.timeout and verdict.timeout > 0 else DEFAULT_TIMEOUT
        req = ApprovalRequest.new(
            created_at=self.reactor.seconds(),
            timeout=timeout,
            requester=session.identity.name,
            requester_kind=session.identity.kind.value,
            session_id=session.id,
            connection=session.connection,
            protocol=command.protocol,
            statement=command.text,
            reason=verdict.reason,
            rule=verdict.rule,
            approvers=verdict.approvers,
        )
        self._creating[session.id] = self._creating.get(session.id, 0) + 1
        d = self._run(lambda: self._store().create_approval(req))
        d.addBoth(self._created, session.id, verdict)
        return d

    def _created(self, result: ApprovalRequest | Failure, session_id: str, verdict: Verdict) -> Any:
        left = self._creating.pop(session_id) - 1
        closed = session_id in self._closed_early
        if left:
            self._creating[session_id] = left
        else:
            self._closed_early.discard(session_id)
        if isinstance(result, Failure):
            return self._not_stored(result, verdict)
        if closed:  # its client left while the request was being stored: nobody may approve it now
            self.waiting[result.id] = waiter = _Waiter(result, Deferred())
            self._cancel(result.id, SESSION_CLOSED, "the session closed")
            return waiter.deferred
        return self._hold(result)

    def _hold(self, req: ApprovalRequest) -> Deferred[Verdict]:
        waiter = _Waiter(req, Deferred())
        self.waiting[req.id] = waiter
        fields = {**req.to_json(), "timeout": req.timeout, "approvers": ", ".join(req.approvers)}
        log.info(
            "approval request {id}: {requester} ({requester_kind}) on {connection}, rule {rule}, waits up to"
            " {timeout:g} s for {approvers}: {statement}",
            **fields,
        )
        self._notify(req)
        self._ensure_polling()
        return waiter.deferred

    def _not_stored(self, failure: Failure, verdict: Verdict) -> Verdict:
        log.failure("cannot store an approval request; denying", failure)
        return _deny(f"the approval request could not be stored ({failure.value}); denied to fail closed", verdict)

    # -- polling -----------------------------------------------------------------------------------------------

    def _ensure_polling(self) -> None:
        if self._poller is None or not self._poller.running:
            self._poller = LoopingCall(self._poll)
            self._poller.clock = self.reactor
            self._poller.start(self.poll_interval, now=False).addErrback(
                lambda f: log.failure("approval poller stopped", f)
            )

    def _poll(self) -> Deferred[None] | None:
        if not self.waiting:
            if self._poller is not None and self._poller.running:
                self._poller.stop()
            return None
        now = float(self.reactor.seconds())
        ids = list(self.waiting)
        d = self._run(self._poll_store, ids, now)
        d.addCallbacks(self._settle, self._poll_failed, errbackArgs=(now,))
        d.addErrback(lambda f: log.failure("approval poll failed", f))  # keep the LoopingCall alive
        return d

    def _poll_store(self, ids: Sequence[str], now: float) -> list[ApprovalRequest]:
        store = self._store()
        store.expire_due(now)
        return store.poll_decided(ids)

    def _poll_failed(self, failure: Failure, now: float) -> None:
        log.failure("cannot poll the state store for approval decisions", failure)
        for waiter in list(self.waiting.values()):  # expire locally: nothing waits past its deadline
            if waiter.request.expires_at <= now:
                self._finish(waiter.request.id, self._expired(waiter.request, f" (state store: {failure.value})"))

    def _settle(self, decided: list[ApprovalRequest]) -> Deferred[None] | None:
        approved = []
        for req in decided:
            if req.id not in self.waiting:
                continue
            if req.state == APPROVED:
                approved.append(req)
            elif req.state == DENIED:
                self._finish(req.id, self._denied(req, f"request {req.id} was denied by {req.decided_by}"))
            elif req.state == EXPIRED:
                self._finish(req.id, self._expired(req))
            else:
                self._finish(req.id, self._denied(req, f"request {req.id} was already executed"))
        if not approved:
            return None
        d = self._run(lambda: [(r, self._store().claim_for_execution(r.id)) for r in approved])
        d.addCallbacks(self._claimed, self._claim_failed, errbackArgs=(approved,))
        return d

    def _claimed(self, results: list[tuple[ApprovalRequest, bool]]) -> None:
        for req, won in results:
            if won and req.id not in self.waiting:
                log.warn("approval request {id} was claimed after its session closed; it did not run", id=req.id)
            elif won:
                log.info("approval request {id} approved by {by}; running it", id=req.id, by=req.decided_by)
                reason = f"request {req.id} approved by {req.decided_by}"
                self._finish(req.id, Verdict.allow(reason, rule=req.rule, plugin=NAME, approved_by=req.decided_by))
            else:
                why = f"request {req.id} was approved by {req.decided_by} but has already run; an approval runs once"
                self._finish(req.id, self._denied(req, why))

    def _claim_failed(self, failure: Failure, approved: list[ApprovalRequest]) -> None:
        log.failure("cannot claim approved requests; denying them", failure)
        for req in approved:
            why = f"request {req.id} was approved, but the state store failed ({failure.value}); denied to fail closed"
            self._finish(req.id, self._denied(req, why))

    def _finish(self, request_id: str, verdict: Verdict) -> None:
        waiter = self.waiting.pop(request_id, None)
        if waiter is None:
            return
        if not verdict.allowed:
            log.info("approval request {id}: {reason}", id=request_id, reason=verdict.reason)
        waiter.deferred.callback(verdict)

    def _denied(self, req: ApprovalRequest, reason: str) -> Verdict:
        return Verdict.deny(reason, rule=req.rule, plugin=NAME)

    def _expired(self, req: ApprovalRequest, detail: str = "") -> Verdict:
        if req.decided_by:
            return self._denied(req, f"request {req.id} was cancelled ({req.decided_by}){detail}")
        why = f"request {req.id} expired after {req.timeout:g} s without a decision{detail}"
        return self._denied(req, why)

    # -- ending ------------------------------------------------------------------------------------------------

    @hookimpl
    def interceptor_session_closed(self, session: Session, reason: str) -> None:
        """Pending requests of a closed session are cancelled (state ``expired``, decided by ``session closed``),
        so nobody can approve a command that no longer has a client."""
        if session.id in self._creating:
            self._closed_early.add(session.id)
        for request_id in [i for i, w in self.waiting.items() if w.request.session_id == session.id]:
            self._cancel(request_id, SESSION_CLOSED, f"the session closed ({reason})")

    def _abandon(self, why: str) -> None:
        for request_id in list(self.waiting):
            self._cancel(request_id, why, why)
        self.store = None  # the next request opens the new store

    def _cancel(self, request_id: str, by: str, why: str) -> None:
        store = self.store
        waiter = self.waiting[request_id]
        if store is not None:
            self._run(store.cancel, request_id, by).addErrback(
                lambda f: log.failure("cannot cancel approval request {id}", f, id=request_id)
            )
        self._finish(request_id, self._denied(waiter.request, f"request {request_id} was cancelled: {why}"))

    # -- webhook -----------------------------------------------------------------------------------------------

    def _notify(self, req: ApprovalRequest) -> None:
        if not self.webhook:
            return
        try:
            result = self.send_webhook(self.webhook, webhook_payload(req))
        except Exception:
            log.failure("approval webhook for {id} failed", id=req.id)
            return
        if isinstance(result, Deferred):
            result.addErrback(
                lambda f: log.warn(
                    "approval webhook to {target} for {id} failed: {why}",
                    target=_redacted(self.webhook or ""),
                    id=req.id,
                    why=f.getErrorMessage(),
                )
            )

    def post_webhook(self, url: str, payload: Mapping[str, Any]) -> Deferred[int]:
        """POST ``payload`` as JSON with Twisted's Agent; fires with the HTTP status (an errback for a timeout, a
        connection error or a status of 300 or more). Fire-and-forget: the request never waits for it."""
        body = json.dumps(payload).encode()
        agent = Agent(self.reactor, connectTimeout=self.webhook_timeout)
        headers = Headers({b"content-type": [b"application/json"], b"user-agent": [b"interceptor-approval"]})
        producer = cast(IBodyProducer, _BytesProducer(body))
        d: Deferred[Any] = agent.request(b"POST", url.encode("ascii"), headers, producer)
        timed_out: list[bool] = []
        timeout = self.webhook_timeout

        def cancel() -> None:
            timed_out.append(True)
            d.cancel()

        timer = self.reactor.callLater(timeout, cancel)

        def stop_timer(result: Any) -> Any:
            if timer.active():
                timer.cancel()
            return result

        def done(response: Any) -> int:
            response.deliverBody(Protocol())  # read and discard the body so the connection closes
            if response.code >= 300:
                raise RuntimeError(f"HTTP {response.code}")
            return int(response.code)

        def failed(failure: Failure) -> Failure:
            return Failure(TimeoutError(f"no answer within {timeout:g} s")) if timed_out else failure

        d.addBoth(stop_timer)
        d.addCallback(done)
        d.addErrback(failed)
        return d


def webhook_payload(req: ApprovalRequest) -> dict[str, Any]:
    """The JSON a webhook receives. ``text`` makes it readable as a Slack/Mattermost incoming-webhook message."""
    expires = datetime.fromtimestamp(req.expires_at, UTC).isoformat(timespec="seconds")
    approve, deny = f"interceptor approvals approve {req.id}", f"interceptor approvals deny {req.id}"
    return {
        "id": req.id,
        "requester": req.requester,
        "requester_kind": req.requester_kind,
        "connection": req.connection,
        "protocol": req.protocol,
        "statement": req.statement,
        "statement_sha256": req.statement_sha256,
        "reason": req.reason,
        "rule": req.rule,
        "approvers": list(req.approvers),
        "created_at": req.created_at,
        "expires_at": expires,
        "cli": {"approve": approve, "deny": deny},
        "text": f"{req.requester} on {req.connection} needs approval ({req.reason}, request {req.id}, expires"
        f" {expires}): {req.statement}\nApprove: {approve}\nDeny: {deny}",
    }


@implementer(IBodyProducer)
class _BytesProducer:
    """A request body already in memory (FileBodyProducer would use the global reactor's cooperator)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self.body)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def _deny(reason: str, verdict: Verdict) -> Verdict:
    return Verdict.deny(reason, rule=verdict.rule, plugin=NAME)


def _seconds(config: Config, settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise config.error(f"plugin_config.{NAME}.{key}", "must be a number of seconds above 0 (at most 3600)")
    return float(value)


def _is_http_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _redacted(url: str) -> str:
    """scheme://host[:port] only: webhook paths often hold a secret (Slack, Mattermost)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
