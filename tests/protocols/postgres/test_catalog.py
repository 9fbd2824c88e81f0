"""The catalog cache without sockets: a look-up the upstream never answers fails in time, and a late or failed
connection afterwards does not trip over the already-failed caller."""

from __future__ import annotations

import pytest
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.testing import MemoryReactorClock

from interceptor.config import loads
from interceptor.protocols.postgres.catalog import Catalog

CONFIG = loads(
    "listen: {postgres: 127.0.0.1:0}\ndata_dir: /nonexistent\n"
    "connections:\n  - {name: app, protocol: postgres, upstream: 127.0.0.1:5432, username: app}\n"
)


def test_silent_upstream_times_out_and_later_failure_is_harmless() -> None:
    reactor = MemoryReactorClock()
    catalog = Catalog(reactor, 1 << 20)
    failures: list[BaseException] = []
    d = catalog.resolve(CONFIG.connections["app"], {16384}, timeout=2.0)
    d.addErrback(lambda f: failures.append(f.value))
    assert len(reactor.tcpClients) == 1  # one catalog connection was attempted
    reactor.advance(1.9)
    assert failures == []
    reactor.advance(0.2)
    assert len(failures) == 1 and isinstance(failures[0], DeferredTimeout)
    client = catalog._clients["app"]
    client._failed(type("E", (), {"__str__": lambda self: "connection refused"})())  # type: ignore[arg-type]
    assert client.dead
    assert catalog.get("app", 16384) is None and catalog.missing("app", {16384}) == {16384}


@pytest.mark.parametrize("oids", [set(), {0}])
def test_nothing_to_look_up(oids: set[int]) -> None:
    assert Catalog(MemoryReactorClock(), 1 << 20).missing("app", oids) == set()
