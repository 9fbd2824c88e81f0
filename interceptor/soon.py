"""Run functions once on the reactor's next pass, however often they are asked for before then; and run blocking
jobs (an fsync) off the reactor thread.

The record-keeping plugins (audit, recording) queue their lines on the hot path and write them here. A command's
lines are asked for when it is decided, so they are written on the pass after the relay forwarded the command:
while the upstream works on it, not while the client waits. Every plugin shares one timer per pass (one
``callLater`` per query, not one per plugin and line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

log = Logger(namespace="interceptor.soon")

_waiting: dict[Any, dict[Callable[[], None], None]] = {}


def soon(reactor: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` on ``reactor``'s next pass (once, however often it is asked for). Without a reactor (a plugin
    that was never configured) it runs at once. An exception is logged; it does not stop the others."""
    if reactor is None:
        fn()
        return
    batch = _waiting.get(reactor)
    if batch is None:
        batch = _waiting[reactor] = {}
        reactor.callLater(0, _run, reactor)
    batch[fn] = None


def _run(reactor: Any) -> None:
    for fn in _waiting.pop(reactor, {}):
        try:
            fn()
        except Exception:
            log.failure("deferred call {fn!r} failed", fn=fn)


_unfinished: dict[Any, dict[Callable[[], None], None]] = {}


def off_thread(reactor: Any) -> Callable[[Callable[[], None]], Deferred[None]] | None:
    """A function that runs a job in ``reactor``'s thread pool and returns its Deferred (the caller adds an
    errback), or None for a reactor without threads (a test clock): the caller then runs the job itself.

    The reactor stops its thread pool while it shuts down, and jobs still queued then would never run: whatever has
    not finished by the end of shutdown is run on the reactor thread instead (an fsync twice is harmless)."""
    if reactor is None or not hasattr(reactor, "getThreadPool"):
        return None

    def run(job: Callable[[], None]) -> Deferred[None]:
        jobs = _unfinished.get(reactor)
        if jobs is None:
            jobs = _unfinished[reactor] = {}
            reactor.addSystemEventTrigger("after", "shutdown", _finish, reactor)
        jobs[job] = None

        def done(result: Any) -> Any:
            jobs.pop(job, None)  # callbacks run on the reactor thread: no lock needed
            return result

        d: Deferred[None] = deferToThreadPool(reactor, reactor.getThreadPool(), job)
        return d.addBoth(done)

    return run


def _finish(reactor: Any) -> None:
    for job in list(_unfinished.pop(reactor, {})):
        try:
            job()
        except Exception:
            log.failure("{job!r} failed at shutdown", job=job)
