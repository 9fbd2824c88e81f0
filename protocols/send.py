"""Send now: hand bytes to the kernel at once when a plain TCP transport has nothing queued.

Twisted's ``transport.write`` never sends: it queues the bytes, registers the socket for writability (an
``epoll_ctl``), sends on the reactor's next pass, then unregisters it (another ``epoll_ctl``). A relay forwards
every message that way twice per query, and anything the reactor runs before that next pass (a timer, a deferred
recording line) sits between the message and the wire. :func:`send` instead tries ``send(2)`` straight away when
nothing is queued for the socket, which is what pgbouncer does, and leaves Twisted's path for everything else:
a TLS connection, a non-empty queue, a partial send (the rest is queued, so backpressure and producers work as
before) and a failed one (the queued bytes make Twisted find and report the error on its usual path).

It reads three attributes Twisted has had since its first TCP transport (``dataBuffer``, ``_tempDataBuffer``,
``_writeDisconnected``) plus ``TLS``; :func:`fast_path_available` checks them, and when a Twisted release
changes them :func:`send` simply always queues (``tests/protocols/test_send.py`` then fails, so it is noticed).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

_PLAIN = (tcp.Server, tcp.Client)
_NEEDED = ("dataBuffer", "_tempDataBuffer", "_writeDisconnected", "TLS", "connected", "disconnecting")


def fast_path_available(transport: Any) -> bool:
    """True when :func:`send` can write to ``transport`` directly (a plain TCP connection of a known shape)."""
    return type(transport) in _PLAIN and all(hasattr(transport, a) for a in _NEEDED)


def send(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, but sent at once when the socket has nothing queued."""
    if (
        type(transport) in _PLAIN
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport.dataBuffer
        and not transport._tempDataBuffer
    ):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):
            if sent >= len(data):
                return
            data = data[sent:] if sent > 0 else data
        # an error (CONNECTION_LOST): queue the bytes; Twisted's own write path then reports it as usual
    transport.write(data)
