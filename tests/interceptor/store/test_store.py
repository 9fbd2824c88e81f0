"""The Store contract, run against both backends: SQLite (a temporary file) and PostgreSQL (a throwaway database)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from interceptor.store import (
    AlreadyDecided,
    Expired,
    NotFound,
    Store,
    StoreUnavailable,
    new_request_id,
    open_store,
)
from tests.interceptor.store.conftest import FakeClock, StoreFactory, new_request


def test_create_and_get_round_trip(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock, statement="DELETE FROM t WHERE note = 'café'"))
    assert re.fullmatch(r"[a-z2-7]{12}", req.id)
    assert req.state == "pending" and req.decided_by is None and req.decided_at is None
    assert req.expires_at == clock() + 60
    assert req.statement_sha256 == hashlib.sha256("DELETE FROM t WHERE note = 'café'".encode()).hexdigest()
    got = store.get(req.id)
    assert got == req
    assert got.approvers == ("group:dba", "carol")
    assert got.to_json()["approvers"] == ["group:dba", "carol"]


def test_ids_are_random_not_sequential(store: Store, clock: FakeClock) -> None:
    ids = [store.create_approval(new_request(clock)).id for _ in range(20)]
    assert len(set(ids)) == 20
    assert ids != sorted(ids)  # 20 random ids in creation order are sorted with odds 1 in 20!
    assert len({new_request_id() for _ in range(1000)}) == 1000


def test_get_unknown_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no approval request nosuchid"):
        store.get("nosuchid")


def test_list_newest_first_with_state_filter_and_limit(store: Store, clock: FakeClock) -> None:
    made = []
    for i in range(3):
        made.append(store.create_approval(new_request(clock, statement=f"delete {i}")))
        clock.advance(1)
    store.decide(made[0].id, "alice", approve=False)
    assert [r.id for r in store.list()] == [made[2].id, made[1].id, made[0].id]
    assert [r.id for r in store.list(state="pending")] == [made[2].id, made[1].id]
    assert [r.id for r in store.list(state="denied")] == [made[0].id]
    assert len(store.list(limit=1)) == 1
    with pytest.raises(ValueError, match="unknown state"):
        store.list(state="bogus")


def test_approve_then_claim_exactly_once(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock))
    assert not store.claim_for_execution(req.id)  # pending: nothing to claim yet
    clock.advance(5)
    decided = store.decide(req.id, "alice", approve=True)
    assert (decided.state, decided.decided_by, decided.decided_at) == ("approved", "alice", clock())
    assert store.claim_for_execution(req.id)
    assert not store.claim_for_execution(req.id)
    assert store.get(req.id).state == "executed"


def test_second_decision_is_already_decided(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock))
    store.decide(req.id, "alice", approve=True)
    with pytest.raises(AlreadyDecided, match=f"request {req.id} was already approved by alice") as info:
        store.decide(req.id, "carol", approve=False)
    assert (info.value.state, info.value.by) == ("approved", "alice")
    assert store.get(req.id).decided_by == "alice"


def test_denied_cannot_be_claimed(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock))
    assert store.decide(req.id, "alice", approve=False).state == "denied"
    assert not store.claim_for_execution(req.id)
    with pytest.raises(AlreadyDecided, match="already denied by alice"):
        store.decide(req.id, "alice", approve=True)


def test_decide_unknown_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.decide("nosuchid", "alice", approve=True)


def test_decide_after_the_deadline_is_expired(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock, timeout=10))
    clock.advance(10)
    with pytest.raises(Expired, match=f"request {req.id} expired"):
        store.decide(req.id, "alice", approve=True)
    assert store.get(req.id).state == "expired"  # recorded, not only refused
    with pytest.raises(Expired):
        store.decide(req.id, "alice", approve=True)


def test_expire_due_and_poll_decided(store: Store, clock: FakeClock) -> None:
    short = store.create_approval(new_request(clock, timeout=10))
    long = store.create_approval(new_request(clock, timeout=100))
    decided = store.create_approval(new_request(clock, timeout=100))
    store.decide(decided.id, "alice", approve=True)
    assert store.expire_due(clock() + 9) == []
    assert store.expire_due(clock() + 10) == [short.id]
    assert store.expire_due(clock() + 10) == []  # only once
    polled = {r.id: r.state for r in store.poll_decided([short.id, long.id, decided.id, "nosuchid"])}
    assert polled == {short.id: "expired", decided.id: "approved"}
    assert store.poll_decided([]) == []


def test_poll_decided_handles_many_ids(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock))
    store.decide(req.id, "alice", approve=False)
    ids = [new_request_id() for _ in range(1200)] + [req.id]
    assert [r.id for r in store.poll_decided(ids)] == [req.id]


def test_cancel_only_pending(store: Store, clock: FakeClock) -> None:
    req = store.create_approval(new_request(clock))
    assert store.cancel(req.id, "session closed")
    assert not store.cancel(req.id, "session closed")
    got = store.get(req.id)
    assert (got.state, got.decided_by) == ("expired", "session closed")
    with pytest.raises(Expired, match=r"\(session closed\)"):
        store.decide(req.id, "alice", approve=True)


def test_a_second_connection_sees_the_decision(open_one: StoreFactory, clock: FakeClock) -> None:
    gateway, cli = open_one(), open_one()
    req = gateway.create_approval(new_request(clock))
    cli.decide(req.id, "alice", approve=True)
    assert [r.state for r in gateway.poll_decided([req.id])] == ["approved"]


def _race(n: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action(i)`` for i in range(n) in n threads released at the same moment; return results/exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_racing_claims_win_exactly_once(open_one: StoreFactory, clock: FakeClock) -> None:
    replicas = [open_one() for _ in range(4)]  # one connection per "replica"
    for _ in range(10):
        req = replicas[0].create_approval(new_request(clock))
        replicas[1].decide(req.id, "alice", approve=True)
        rid = req.id
        results = _race(len(replicas), lambda i: replicas[i].claim_for_execution(rid))  # noqa: B023
        assert sorted(results) == [False, False, False, True], results


def test_racing_decisions_one_wins(open_one: StoreFactory, clock: FakeClock) -> None:
    approvers = [open_one() for _ in range(4)]
    for _ in range(10):
        req = approvers[0].create_approval(new_request(clock))
        rid = req.id
        results = _race(len(approvers), lambda i: approvers[i].decide(rid, f"a{i}", approve=i % 2 == 0))  # noqa: B023
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, AlreadyDecided) for r in results if r not in winners), results
        assert approvers[0].get(req.id).decided_by == winners[0].decided_by


def test_unsupported_url() -> None:
    with pytest.raises(StoreUnavailable, match="unsupported state store URL redis:"):
        open_store("redis://localhost/0")
