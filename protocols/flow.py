"""What the legs of every protocol share: the loopback test for plaintext logins, backpressure, and one upstream
connection attempt (:class:`UpstreamAttempt`).

Twisted-level, protocol-neutral. A :class:`ClientLeg` keeps a set of reasons its reading is paused (``pause(why)``
/ ``resume(why)``: a login in progress, a held command, a full upstream send buffer), its peer and its login
timer; :class:`Gate` is the producer it registers on the upstream's transport, so a full upstream buffer becomes
one of those reasons.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger(namespace="interceptor.client")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Pausable(Protocol):
    def pause(self, why: str) -> None: ...
    def resume(self, why: str) -> None: ...


class Gate:
    """Registered as the producer for the upstream's transport: when the upstream's send buffer is full it pauses
    the client's reading, alongside (not instead of) the other reasons the client may be paused."""

    def __init__(self, client: Pausable, why: str) -> None:
        self.client, self.why = client, why

    def pauseProducing(self) -> None:
        self.client.pause(self.why)

    def resumeProducing(self) -> None:
        self.client.resume(self.why)

    def stopProducing(self) -> None:
        pass


class ClientLeg(protocol.Protocol):
    """The start of every client-facing protocol: peer address, login timer, pause reasons."""

    transport: Any

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.peer = ""
        self._peer_host = ""
        self._paused: list[str] = []  # reasons (a list: smaller than a set, and rarely more than one)
        self._timer: Any = None

    def is_closed(self) -> bool:
        raise NotImplementedError

    def _auth_timeout(self) -> None:
        raise NotImplementedError

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        peer = self.transport.getPeer()
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self._peer_host = getattr(peer, "host", "")
        self._timer = self.gateway.reactor.callLater(self.gateway.config.timeouts.auth, self._auth_timeout)

    def pause(self, why: str) -> None:
        if not self._paused and self.transport is not None:
            self.transport.pauseProducing()
        if why not in self._paused:
            self._paused.append(why)

    def resume(self, why: str) -> None:
        if why in self._paused:
            self._paused.remove(why)
        if not self._paused and self.transport is not None and not self.is_closed():
            self.transport.resumeProducing()

    def upstream_failed(self, session: Any, error: Exception) -> None:
        """Log and report an upstream leg that could not be set up (the caller then tells the client)."""
        self._cancel_timer()
        log.warn(
            "session {session}: upstream of {connection} failed: {why}",
            session=session.id,
            connection=session.connection,
            why=str(error),
        )
        self.gateway.pipeline.event("upstream.error", session.id, connection=session.connection, error=str(error))

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class UpstreamAttempt(protocol.ClientFactory):
    """One upstream connection attempt, for either protocol: fires ``on_ready`` or ``on_error`` exactly once. A
    subclass builds its protocol (keeping it as ``instance``) and names its error class, made as
    ``error(public, detail=...)``."""

    noisy = False  # no log line per connection
    error: Callable[..., Exception]

    def __init__(self, conn: Any, on_ready: Callable[[Any], None], on_error: Callable[[Any], None]) -> None:
        self.conn = conn
        self._on_ready: Callable[[Any], None] | None = on_ready
        self._on_error = on_error
        self.instance: Any = None

    def succeeded(self, ready: Any) -> None:
        cb, self._on_ready = self._on_ready, None
        if cb is not None:
            cb(ready)

    def failed(self, err: Exception) -> None:
        if self._on_ready is not None:
            self._on_ready = None
            self._on_error(err)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.failed(self.error(f"cannot reach the upstream of connection {self.conn.name!r}",
                               detail=reason.getErrorMessage()))  # fmt: skip

    def timed_out(self) -> None:
        if self._on_ready is not None:
            self.failed(self.error(f"the upstream of connection {self.conn.name!r} did not answer in time"))
            if self.instance is not None and self.instance.transport is not None:
                self.instance.transport.abortConnection()
