"""protocols/send.py against a real reactor and a real socket: bytes go out at once when nothing is queued, and
order is kept when something is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.protocol import Factory, Protocol

from interceptor.protocols.send import fast_path_available, send


class _Keep(Protocol):
    made: list[Any] = []

    def connectionMade(self) -> None:
        self.made.append(self.transport)


@pytest.fixture
def pair() -> Iterator[tuple[EPollReactor, Any, socket.socket]]:
    reactor = EPollReactor()
    _Keep.made = []
    port = reactor.listenTCP(0, Factory.forProtocol(_Keep), interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.settimeout(2)
    for _ in range(100):
        if _Keep.made:
            break
        reactor.iterate(0.01)
    assert _Keep.made, "the server side never connected"
    yield reactor, _Keep.made[0], client
    client.close()
    port.stopListening()
    reactor.iterate(0)


def test_twisted_still_has_what_the_fast_path_reads(pair: tuple[EPollReactor, Any, socket.socket]) -> None:
    _, transport, _ = pair
    assert fast_path_available(transport)  # fails when a Twisted release renames what send() relies on


def test_sent_at_once_without_a_reactor_pass(pair: tuple[EPollReactor, Any, socket.socket]) -> None:
    _, transport, client = pair
    send(transport, b"hello")
    assert client.recv(100) == b"hello"  # the reactor never ran: the bytes left in send()
    assert not transport.dataBuffer and not transport._tempDataBuffer


def test_queued_bytes_keep_their_place(pair: tuple[EPollReactor, Any, socket.socket]) -> None:
    reactor, transport, client = pair
    transport.write(b"first,")
    send(transport, b"second")  # must queue behind "first," rather than overtake it
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(100)
    got = b""
    client.settimeout(2)
    for _ in range(50):
        reactor.iterate(0.01)
        client.setblocking(False)
        try:
            got += client.recv(100)
        except BlockingIOError:
            pass
        if got == b"first,second":
            break
    assert got == b"first,second"


def test_a_large_write_is_finished_by_the_reactor(pair: tuple[EPollReactor, Any, socket.socket]) -> None:
    reactor, transport, client = pair
    data = bytes(range(256)) * 40_000  # 10 MB: more than one send() takes
    send(transport, data)
    got = bytearray()
    client.setblocking(False)
    for _ in range(10_000):
        reactor.iterate(0)
        try:
            got += client.recv(1 << 20)
        except BlockingIOError:
            pass
        if len(got) >= len(data):
            break
    assert bytes(got) == data
