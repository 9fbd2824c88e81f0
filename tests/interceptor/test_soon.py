"""interceptor.soon: the next-pass runner and the off-thread jobs the record-keeping plugins fsync with."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred

from interceptor import soon


class _Reactor:
    """Just what off_thread uses: a thread pool (never run here) and the shutdown triggers."""

    def __init__(self) -> None:
        self.triggers: list[tuple[str, str, Any, tuple[Any, ...]]] = []

    def getThreadPool(self) -> object:
        return object()

    def addSystemEventTrigger(self, phase: str, event: str, f: Any, *args: Any) -> None:
        self.triggers.append((phase, event, f, args))

    def shut_down(self) -> None:
        for phase, event, f, args in self.triggers:
            assert (phase, event) == ("after", "shutdown")
            f(*args)


def test_jobs_the_thread_pool_never_ran_run_at_the_end_of_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[tuple[Any, Deferred[None]]] = []

    def pool(reactor: Any, threadpool: Any, job: Any) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        queued.append((job, d))
        return d

    monkeypatch.setattr(soon, "deferToThreadPool", pool)
    reactor = _Reactor()
    run = soon.off_thread(reactor)
    assert run is not None
    ran: list[str] = []
    run(lambda: ran.append("finished in the pool"))
    run(lambda: ran.append("still queued at shutdown"))
    job, d = queued[0]
    job()
    d.callback(None)  # the first ran in the pool; the second never did
    assert len(reactor.triggers) == 1, "one shutdown trigger per reactor"
    reactor.shut_down()
    assert ran == ["finished in the pool", "still queued at shutdown"]


def test_a_reactor_without_threads_gets_none() -> None:
    assert soon.off_thread(None) is None
    assert soon.off_thread(object()) is None
