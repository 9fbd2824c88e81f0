"""The upstream leg of a MySQL/MariaDB session: connect to the real server, negotiate TLS, log in with the
vaulted credential, then hand the connected protocol to the relay.

Order of events:

1. the server's greeting (HandshakeV10, sequence id 0), or an ERR (too many connections, host blocked ...);
2. TLS, by the connection's ``tls`` mode (``disable``: never; ``prefer``: when the greeting offers SSL;
   ``require``/``verify-full``: or fail): an SSLRequest, then ``transport.startTLS`` with
   :func:`interceptor.tls.upstream_options`;
3. a HandshakeResponse41 with the capabilities the client negotiated with the gateway (the relay forwards
   result packets byte for byte, so both legs must speak the same format) plus those the login itself needs,
   never compression, and the relay's connection attributes;
4. the authentication exchange, led by the server: mysql_native_password; caching_sha2_password (fast path,
   or full authentication: the password inside TLS, else encrypted with the server's RSA public key);
   mysql_clear_password and sha256_password only over TLS; any other plugin is refused by name;
5. the final OK: ``on_ready`` gets an :class:`UpstreamReady`. From then on every chunk is framed by a
   PacketReader and handed to the sink; packets that arrive before the sink is set are kept for it.

Steps 1, 3 and 4 are the sans-IO :class:`~.upstream_login.UpstreamLogin` (which also documents the error
codes); this module adds the socket, TLS, the timeout and the hand-off. The password is resolved from the vault
only when a step of the exchange needs it, used for that one packet, and never stored on an object, logged or
shown: neither ``UpstreamError.public`` nor its ``detail`` can hold it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Protocol as TypingProtocol

from OpenSSL import SSL
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from interceptor.config import ConnectionConfig
from interceptor.tls import upstream_options
from interceptor.vault import VaultError

from ..flow import UpstreamAttempt
from .handshake import HandshakeV10
from .packets import PacketReader
from .upstream_login import ER_CONNECT_TO_FOREIGN_DATA_SOURCE, UpstreamError, UpstreamLogin, negotiate
from .wire import ProtocolError

__all__ = [
    "ER_CONNECT_TO_FOREIGN_DATA_SOURCE",
    "UpstreamError",
    "UpstreamFactory",
    "UpstreamProtocol",
    "UpstreamReady",
    "UpstreamSink",
    "negotiate",
]


@dataclass
class UpstreamReady:
    protocol: UpstreamProtocol
    greeting: HandshakeV10  # server version, connection id, capabilities
    caps: int  # the capabilities in force on the upstream leg
    status: int  # server status flags from the final OK
    tls: bool = False  # whether the upstream leg runs over TLS


class UpstreamSink(TypingProtocol):
    """What the upstream leg hands packets to once the login is done (the relay)."""

    def upstream_packets(self, buf: bytes, packets: list[tuple[int, int, int]]) -> None: ...
    def upstream_broken(self, why: str) -> None: ...
    def upstream_lost(self, reason: Failure) -> None: ...


class UpstreamProtocol(Protocol):
    """Logs in to the server, then hands every packet to the sink (see :meth:`set_sink`). The relay writes its
    packets to ``transport`` itself."""

    transport: Any

    def __init__(self, factory: UpstreamFactory) -> None:
        self.f = factory
        self.reader = PacketReader(factory.max_size)
        self.login = factory.new_login()
        self._done = False  # on_ready or on_error has fired
        self._ready: UpstreamReady | None = None
        self._sink: UpstreamSink | None = None
        self._early: list[tuple[bytes, list[tuple[int, int, int]]]] = []  # logged in, no sink yet
        self._broken: str | None = None
        self._lost: Failure | None = None

    # -- after the login -----------------------------------------------------------------------------------------

    @property
    def sink(self) -> UpstreamSink | None:
        return self._sink

    @sink.setter
    def sink(self, sink: UpstreamSink) -> None:
        self.set_sink(sink)

    def set_sink(self, sink: UpstreamSink) -> None:
        """Start handing packets to ``sink``: first those that arrived since the OK, then a framing error or the
        loss of the connection, if either happened meanwhile."""
        if self._ready is None:
            raise RuntimeError("the upstream is not logged in")
        self._sink = sink
        early, self._early = self._early, []
        for buf, packets in early:
            sink.upstream_packets(buf, packets)
        if self._broken is not None:
            sink.upstream_broken(self._broken)
        if self._lost is not None:
            sink.upstream_lost(self._lost)

    def dataReceived(self, data: bytes) -> None:
        sink = self._sink
        if sink is not None:
            try:
                buf, packets = self.reader.feed_offsets(data)
            except ProtocolError as err:
                sink.upstream_broken(str(err))
                return
            if packets:
                sink.upstream_packets(buf, packets)
            return
        if self._ready is not None:
            self._keep(data)
        elif not self._done:
            try:
                self._login_data(data)
            except UpstreamError as err:
                self._fail(err)
            except ProtocolError as err:
                public = f"the upstream of connection {self.f.conn.name!r} broke the protocol during login"
                self._fail(UpstreamError(public, sqlstate="08S01", detail=str(err)))

    def _keep(self, data: bytes) -> None:
        if self._broken is not None:
            return
        try:
            buf, packets = self.reader.feed_offsets(data)
        except ProtocolError as err:
            self._broken = str(err)
            return
        if packets:
            self._early.append((buf, packets))

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._sink is not None:
            self._sink.upstream_lost(reason)
        elif self._ready is not None:
            self._lost = reason
        elif not self._done:
            self._done = True
            name, tls = self.f.conn.name, self.f.conn.tls
            if reason.check(SSL.Error):
                err = UpstreamError(f"TLS with the upstream of connection {name!r} failed (tls: {tls})",
                                    detail=reason.getErrorMessage())  # fmt: skip
            else:
                err = UpstreamError(f"the upstream of connection {name!r} closed the connection during login",
                                    sqlstate="08S01", detail=reason.getErrorMessage())  # fmt: skip
            self.f.failed(err)

    # -- the login -----------------------------------------------------------------------------------------------

    def _login_data(self, data: bytes) -> None:
        login, reader = self.login, self.reader
        buf, packets = reader.feed_offsets(data)
        for i, (seq, start, end) in enumerate(packets):
            login.seq.check(seq, reader.count(start, end))
            payload = reader.payload(buf, start, end)
            if login.greeting is None:
                if i + 1 < len(packets) or reader.pending:
                    raise ProtocolError("the server sent more than its greeting before the client answered")
                ssl_request, response = login.greeting_received(payload)
                if ssl_request is not None:
                    self.transport.write(ssl_request)
                    conn = self.f.conn
                    self.transport.startTLS(upstream_options(conn.tls, conn.upstream.host, conn.ca))
                self.transport.write(response)
                continue
            answer = login.reply_received(payload)
            if isinstance(answer, bytes):
                self.transport.write(answer)
            elif answer is not None:  # the OK: logged in
                if i + 1 < len(packets):
                    self._early.append((buf, packets[i + 1 :]))
                self._done = True
                self._ready = UpstreamReady(self, login.greeting, login.caps, answer.status, login.tls)
                self.f.succeeded(self._ready)
                return

    def _fail(self, err: UpstreamError) -> None:
        self._done = True
        self.f.failed(err)
        self.transport.abortConnection()


class UpstreamFactory(UpstreamAttempt):
    """One upstream connection attempt. Fires ``on_ready`` or ``on_error`` exactly once.

    ``caps`` are the capabilities the client negotiated with the gateway, ``database`` the schema to log in to
    (None or empty: none), ``attributes`` the connection attributes to send, ``charset`` the client's collation
    id (0..255), ``max_size`` the largest logical packet accepted (also announced as the max_packet_size). The
    user is ``conn.username``, else ``username``. ``rsa_public_key`` (PEM) pins caching_sha2_password's RSA key:
    full authentication without TLS then never asks the server for one."""

    protocol = UpstreamProtocol  # type: ignore[assignment]
    error = UpstreamError
    instance: UpstreamProtocol | None
    conn: ConnectionConfig

    def __init__(
        self,
        conn: ConnectionConfig,
        caps: int,
        database: str | None,
        attributes: dict[str, str],
        charset: int,
        max_size: int,
        on_ready: Callable[[UpstreamReady], None],
        on_error: Callable[[UpstreamError], None],
        *,
        username: str | None = None,
        rsa_public_key: bytes | None = None,
    ) -> None:
        if not 0 <= charset <= 0xFF:
            raise ValueError(f"collation id {charset} does not fit the handshake's one byte")
        super().__init__(conn, on_ready, on_error)
        self.caps = caps
        self.database = database or ""
        self.attributes = attributes
        self.charset = charset
        self.max_size = max_size
        self.username = conn.username or username or ""
        self.rsa_public_key = rsa_public_key

    def new_login(self) -> UpstreamLogin:
        """The sans-IO login for one connection attempt."""
        c = self.conn
        packet_size = min(self.max_size, 0xFFFFFFFF)
        return UpstreamLogin(c.name, c.tls, self.caps, self.username, self.database, self.attributes, self.charset,
                             packet_size, self._password, self.rsa_public_key)  # fmt: skip

    def _password(self) -> str:
        """The upstream password, read from the vault now (empty when the connection has none)."""
        if self.conn.password is None:
            return ""
        try:
            return self.conn.password.resolve()
        except VaultError as err:
            raise UpstreamError(f"the credential for connection {self.conn.name!r} is unavailable",
                                sqlstate="08004", detail=str(err)) from None  # fmt: skip

    def buildProtocol(self, addr: Any) -> UpstreamProtocol:
        self.instance = UpstreamProtocol(self)
        return self.instance
