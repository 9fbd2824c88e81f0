"""The approval plugin through the policy harness: a REVIEW verdict waits for a decision made through the Store
(as ``interceptor approvals`` does), with the harness's simulated clock driving the poller and the deadlines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from interceptor.config import Config, ConfigError, loads
from interceptor.hookspecs import hookimpl
from interceptor.model import Action, Command, Session, Verdict
from interceptor.plugins.approval import ApprovalPlugin, webhook_payload
from interceptor.store import AlreadyDecided, Expired, Store, open_store
from interceptor.testing import PolicyHarness

DELETE = "DELETE FROM orders WHERE id = 1"


class ReviewDeletes:
    """Stands in for the blocking plugin: deletes need a DBA's approval within 60 s."""

    approvers: tuple[str, ...] = ("group:dba",)

    @hookimpl
    def interceptor_check_command(self, command: Command) -> Verdict | None:
        if command.text.lower().startswith("delete"):
            return Verdict.review("deletes need a DBA", rule="deletes", approvers=self.approvers, timeout=60)
        return None


def _config(tmp_path: Path, state: str | None = None, **settings: Any) -> Config:
    approval = json.dumps(settings)
    return loads(
        f"listen: {{postgres: 127.0.0.1:0}}\ndata_dir: {tmp_path}\nstate: {state or f'sqlite:///{tmp_path}/state.db'}\n"
        f"plugin_config: {{approval: {approval}}}\n"
    )


class Setup:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.plugin = ApprovalPlugin()
        self.sent: list[tuple[str, Mapping[str, Any]]] = []
        self.plugin.send_webhook = lambda url, payload: self.sent.append((url, payload))
        self.config = _config(tmp_path, **settings)
        self.h = PolicyHarness([ReviewDeletes(), self.plugin], config=self.config)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The approver's side: a connection of its own to the same file, on the harness's clock."""
        if self._store is None:
            self._store = open_store(self.config.state, clock=self.h.clock.seconds)
        return self._store

    def hold(self, text: str = DELETE, session: Session | None = None) -> tuple[list[Verdict], str, Session]:
        session = session or self.h.session("bot", kind="agent", groups=["agents"], connection="orders")
        result = self.h.pipeline.check(session, self.h.command(session, text))
        assert isinstance(result, Deferred), result
        fired: list[Verdict] = []
        result.addCallback(fired.append)
        assert fired == []  # held
        [req] = [r for r in self.store.list(state="pending") if r.session_id == session.id]
        return fired, req.id, session


def test_approved_request_runs_with_approved_by(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    req = s.store.get(rid)
    assert (req.requester, req.requester_kind, req.connection, req.statement) == ("bot", "agent", "orders", DELETE)
    assert (req.rule, req.approvers, req.expires_at - req.created_at) == ("deletes", ("group:dba",), 60)
    s.h.clock.advance(5)
    assert fired == []  # nobody decided yet
    s.store.decide(rid, "alice", approve=True)
    s.h.clock.advance(0.5)
    [verdict] = fired
    assert verdict.action is Action.ALLOW and verdict.approved_by == "alice" and verdict.rule == "deletes"
    assert rid in verdict.reason
    assert s.store.get(rid).state == "executed"
    assert s.plugin.waiting == {} and s.plugin._poller is not None
    s.h.clock.advance(0.5)
    assert not s.plugin._poller.running  # nothing waits: no more polling


def test_denied_request_names_the_id(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    s.store.decide(rid, "alice", approve=False)
    s.h.clock.advance(0.5)
    [verdict] = fired
    assert verdict.action is Action.DENY and verdict.reason == f"request {rid} was denied by alice"


def test_expiry_denies_naming_the_id(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    s.h.clock.advance(59.5)
    assert fired == []
    s.h.clock.advance(0.5)
    [verdict] = fired
    assert verdict.action is Action.DENY and verdict.reason == f"request {rid} expired after 60 s without a decision"
    assert s.store.get(rid).state == "expired"
    with pytest.raises(Expired):
        s.store.decide(rid, "alice", approve=True)


def test_exactly_once(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    s.store.decide(rid, "alice", approve=True)
    with pytest.raises(AlreadyDecided, match="already approved by alice"):
        s.store.decide(rid, "carol", approve=True)
    s.h.clock.advance(5)
    assert [v.action for v in fired] == [Action.ALLOW]
    assert not s.store.claim_for_execution(rid)  # another replica could not run it again


def test_claim_lost_is_a_deny(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    s.store.decide(rid, "alice", approve=True)
    assert s.store.claim_for_execution(rid)  # someone else ran it first
    s.h.clock.advance(0.5)
    [verdict] = fired
    assert verdict.action is Action.DENY and rid in verdict.reason and "already" in verdict.reason


def test_other_sessions_do_not_wait(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, _, _ = s.hold()
    assert s.h.check("select 1", identity="bot").action is Action.ALLOW
    assert fired == []


def test_closed_session_cancels_its_requests(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, session = s.hold()
    other_fired, other_rid, _ = s.hold()
    s.h.pipeline.session_closed(session, "client closed")
    [verdict] = fired
    assert verdict.action is Action.DENY and verdict.reason.startswith(f"request {rid} was cancelled")
    req = s.store.get(rid)
    assert (req.state, req.decided_by) == ("expired", "session closed")
    with pytest.raises(Expired, match="session closed"):
        s.store.decide(rid, "alice", approve=True)
    assert other_fired == [] and s.store.get(other_rid).state == "pending"


def test_session_closed_while_its_request_is_stored(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    calls: list[tuple[Deferred[Any], Any, tuple[Any, ...]]] = []

    def run(f: Any, *args: Any) -> Deferred[Any]:  # a slow store: calls finish when the test says so
        calls.append((Deferred(), f, args))
        return calls[-1][0]

    s.plugin.run_blocking = run
    session = s.h.session("bot")
    fired: list[Verdict] = []
    s.h.pipeline.check(session, s.h.command(session, DELETE)).addCallback(fired.append)  # type: ignore[union-attr]
    s.h.pipeline.session_closed(session, "client closed")
    while calls:
        d, f, args = calls.pop(0)
        d.callback(f(*args))
    [verdict] = fired
    [req] = s.store.list()
    assert verdict.action is Action.DENY and verdict.reason == f"request {req.id} was cancelled: the session closed"
    assert (req.state, req.decided_by) == ("expired", "session closed")
    assert (s.plugin.waiting, s.plugin._creating, s.plugin._closed_early) == ({}, {}, set())


def test_unwritable_store_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    s = Setup(tmp_path, state=f"sqlite:///{tmp_path}/afile/state.db")
    verdict = s.h.check(DELETE, identity="bot")
    assert verdict.action is Action.DENY
    assert "approval request could not be stored" in verdict.reason and "state store" in verdict.reason


def test_store_failure_while_waiting_still_expires(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    assert s.plugin.store is not None
    s.plugin.store.close()  # every later call fails
    s.h.clock.advance(30)
    assert fired == []
    s.h.clock.advance(30)
    [verdict] = fired
    assert verdict.action is Action.DENY and verdict.reason.startswith(f"request {rid} expired after 60 s")


def test_rule_without_approvers_is_denied(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    review = s.h.pipeline.pm.get_plugins()
    for p in review:
        if isinstance(p, ReviewDeletes):
            p.approvers = ()
    verdict = s.h.check(DELETE)
    assert verdict.action is Action.DENY and "names no approvers" in verdict.reason


def test_configure_writes_nothing(tmp_path: Path) -> None:
    Setup(tmp_path)
    assert not (tmp_path / "state.db").exists()


def test_reload_with_another_store_cancels_waiting(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fired, rid, _ = s.hold()
    s.config = _config(tmp_path, state=f"sqlite:///{tmp_path}/other.db")
    s.h.pipeline.configure(s.config, s.h.clock)
    [verdict] = fired
    assert verdict.action is Action.DENY and rid in verdict.reason and "changed on reload" in verdict.reason
    assert open_store(f"sqlite:///{tmp_path}/state.db").get(rid).state == "expired"
    s._store = None
    s.hold()  # new requests go to the new store


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "fast"}, "poll_interval"),
        ({"webhook_timeout": True}, "webhook_timeout"),
        ({"webhook": "ftp://example.com/hook"}, "webhook"),
        ({"webhok": "http://example.com/hook"}, "webhok"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"plugin_config.approval.{key}"):
        Setup(tmp_path, **settings)


def test_store_calls_run_in_the_reactor_thread_pool(tmp_path: Path) -> None:
    """With a real reactor the store is used from pool threads, never the reactor thread (see docs/approvals.md)."""
    s = Setup(tmp_path)
    calls: list[str] = []

    def run(f: Any, *args: Any) -> Deferred[Any]:
        calls.append(getattr(f, "__name__", "?"))
        return deferToThreadPool(cast(Any, _InlineReactor()), cast(Any, _InlinePool()), f, *args)

    s.plugin.run_blocking = run
    fired, rid, _ = s.hold()
    s.store.decide(rid, "alice", approve=True)
    s.h.clock.advance(0.5)
    assert fired[0].action is Action.ALLOW
    assert calls == ["<lambda>", "_poll_store", "<lambda>"]  # create, poll, claim


class _InlinePool:
    def callInThreadWithCallback(self, on_result: Any, f: Any, *args: Any, **kw: Any) -> None:
        try:
            on_result(True, f(*args, **kw))
        except Exception:
            on_result(False, Failure())


class _InlineReactor:
    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


# -- webhook ---------------------------------------------------------------------------------------------------


def test_webhook_gets_the_request(tmp_path: Path) -> None:
    s = Setup(tmp_path, webhook="https://hooks.example.com/services/SECRET")
    _, rid, _ = s.hold()
    [(url, payload)] = s.sent
    assert url == "https://hooks.example.com/services/SECRET"
    assert payload["id"] == rid and payload["statement"] == DELETE and payload["requester"] == "bot"
    assert (payload["connection"], payload["rule"], payload["approvers"]) == ("orders", "deletes", ["group:dba"])
    assert payload["reason"] == "deletes need a DBA" and payload["expires_at"] == "1970-01-01T00:01:00+00:00"
    assert payload["cli"] == {
        "approve": f"interceptor approvals approve {rid}",
        "deny": f"interceptor approvals deny {rid}",
    }
    assert f"interceptor approvals approve {rid}" in payload["text"]
    json.dumps(payload)


def test_webhook_failure_does_not_block(tmp_path: Path) -> None:
    s = Setup(tmp_path, webhook="http://127.0.0.1:9/hook")

    def boom(url: str, payload: Mapping[str, Any]) -> None:
        raise OSError("unreachable")

    s.plugin.send_webhook = boom
    fired, rid, _ = s.hold()
    s.store.decide(rid, "alice", approve=True)
    s.h.clock.advance(0.5)
    assert fired[0].action is Action.ALLOW


def _posting(status: bytes) -> tuple[Deferred[int], StringTransport, Any, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    plugin = ApprovalPlugin()
    plugin.interceptor_configure(_config(Path("/nonexistent")), reactor)
    d = plugin.post_webhook("http://127.0.0.1:8099/hook", {"id": "abc"})
    [(host, port, factory, *_)] = reactor.tcpClients
    assert (host, port) == ("127.0.0.1", 8099)
    protocol: Any = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    if status:
        protocol.dataReceived(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    return d, transport, protocol, reactor


def test_post_webhook_with_the_real_agent() -> None:
    d, transport, _, _ = _posting(b"204 No Content")
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"POST /hook HTTP/1.1") and b"Content-Type: application/json" in head
    assert json.loads(body) == {"id": "abc"}
    got: list[int] = []
    d.addCallback(got.append)
    assert got == [204]


def test_post_webhook_error_status_and_timeout() -> None:
    d, _, _, _ = _posting(b"500 Internal Server Error")
    errors: list[Failure] = []
    d.addErrback(errors.append)
    assert "HTTP 500" in errors[0].getErrorMessage()
    d, _, _, reactor = _posting(b"")
    timeouts: list[Failure] = []
    d.addErrback(timeouts.append)
    reactor.advance(5.0)
    assert timeouts and timeouts[0].getErrorMessage() == "no answer within 5 s"


def test_payload_is_plain_json_types(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    _, rid, _ = s.hold()
    payload = webhook_payload(s.store.get(rid))
    assert json.loads(json.dumps(payload)) == payload
