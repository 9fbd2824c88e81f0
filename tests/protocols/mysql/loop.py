"""A private Twisted reactor for tests that need real sockets (pytest here has no pytest-twisted): the test drives
it with ``run_until(condition)``, which iterates until the condition holds or a deadline passes.

TLS (``twisted.protocols.tls``) aggregates small writes with ``callLater`` on the *global* reactor, through
``_get_default_clock``, which Twisted keeps a function so tests can patch it: :func:`private_loop` points it at
the private reactor while the test runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from twisted.internet.selectreactor import SelectReactor
from twisted.protocols import tls


class Loop:
    def __init__(self) -> None:
        self.reactor: Any = SelectReactor()

    def run_until(self, done: Callable[[], object], timeout: float = 10.0) -> None:
        """Iterate the reactor until ``done()`` is true; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"the condition did not hold within {timeout} s")
            self.reactor.iterate(0.01)

    def spin(self, seconds: float) -> None:
        """Iterate for a while (to let something that should not happen have its chance)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.reactor.iterate(0.01)

    def close(self) -> None:
        reactor = self.reactor
        for call in reactor.getDelayedCalls():
            call.cancel()
        reactor.disconnectAll()
        waker = getattr(reactor, "waker", None)
        if waker is not None:
            reactor.removeReader(waker)
            waker.connectionLost(None)


@contextmanager
def private_loop() -> Iterator[Loop]:
    loop = Loop()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tls, "_get_default_clock", lambda: loop.reactor)
        try:
            yield loop
        finally:
            loop.close()
