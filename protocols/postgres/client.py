"""The client-facing leg: startup, TLS, token login and routing, then hand-off to the relay.

Order of events for one client:

1. startup packets: SSLRequest → ``S`` and a TLS handshake; GSSENCRequest → ``N``; CancelRequest → forwarded to
   the session that owns the key (forged keys are ignored); StartupMessage → on to login.
2. login: plaintext token login is refused unless the client is on loopback or ``client_tls: optional``; the
   client sends its token as the password; a wrong token gets 28P01 and no upstream is ever contacted.
3. routing: the database name picks the connection; unknown → 3D000; not allowed for this identity → 42501.
4. upstream: the gateway logs in with the vaulted credential; only then does the client get AuthenticationOk,
   the server's parameters, a cancel key of the gateway's own and ReadyForQuery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.model import Identity
from interceptor.protocols.postgres import codec
from interceptor.protocols.postgres.catalog import Catalog
from interceptor.protocols.postgres.relay import Relay, error_frame
from interceptor.protocols.postgres.upstream import UpstreamError, UpstreamFactory, UpstreamReady
from interceptor.sql.settings import value_problem

from ..flow import ClientLeg, Gate, is_loopback

if TYPE_CHECKING:
    from interceptor.service import Gateway

log = Logger(namespace="interceptor.postgres.client")

STARTUP, AUTH, CONNECTING, READY, CLOSED = range(5)
_PASSWORD_LIMIT = 8192
#: startup parameters passed on to the upstream; anything else (``options``, ``replication``...) is not
_FORWARDED = frozenset(
    {"client_encoding", "datestyle", "timezone", "extra_float_digits", "intervalstyle", "search_path"}
)
_AUTH_CLEARTEXT = codec.AuthenticationCleartextPassword().encode()


class ClientProtocol(ClientLeg):
    transport: Any

    def __init__(self, gateway: Gateway, catalog: Catalog | None = None) -> None:
        super().__init__(gateway)
        self.catalog = catalog
        self.state = STARTUP
        self.startup = codec.StartupReader()
        self.reader = codec.FrameReader(gateway.config.limits.max_message_size)
        self.tls = False
        self.params: dict[str, str] = {}
        self.relay: Relay | None = None
        self._upstream_factory: UpstreamFactory | None = None
        self._connector: Any = None
        self._early: list[tuple[bytes, list[tuple[int, int, int]]]] = []
        self._early_size = 0

    def __repr__(self) -> str:
        return f"<postgres client {self.peer} state={self.state}>"

    def is_closed(self) -> bool:
        return self.state == CLOSED

    # -- Twisted callbacks -------------------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.state == READY:
            assert self.relay is not None
            try:
                buf, frames = self.reader.feed(data)
            except codec.ProtocolError as e:
                self.relay.close("protocol error", error_frame(e.sqlstate, f"invalid message: {e}", "FATAL"))
                return
            self.relay.client_frames(buf, frames)
        elif self.state == STARTUP:
            self._startup_data(data)
        elif self.state == AUTH:
            self._auth_data(data)
        elif self.state == CONNECTING:
            # the client may pipeline its first queries behind the password: keep them framed until ready
            try:
                self._keep_early(*self.reader.feed(data))
            except codec.ProtocolError as e:
                self.fail(e.sqlstate, f"invalid message: {e}")

    def _keep_early(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        if frames:
            self._early.append((buf, frames))
            self._early_size += frames[-1][2] - frames[0][1]
        if self._early_size + self.reader.pending > self.gateway.config.limits.max_message_size:
            self.fail("08P01", "too much data before the session was ready")

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        previous, self.state = self.state, CLOSED
        self._cancel_timer()
        if self.relay is not None:
            self.relay.close("client closed", None)
        elif previous == CONNECTING and self._connector is not None:
            self._connector.disconnect()

    # -- startup -----------------------------------------------------------------------------------------------

    def _startup_data(self, data: bytes) -> None:
        try:
            packets = self.startup.feed(data)
            for i, payload in enumerate(packets):
                msg = codec.decode_startup(payload)
                if isinstance(msg, codec.SSLRequest):
                    if self.tls or i + 1 < len(packets) or self.startup.remaining():
                        raise codec.ProtocolError("received unencrypted data after SSL request")
                    self.transport.write(b"S")
                    self.transport.startTLS(self.gateway.server_tls)
                    self.tls = True
                elif isinstance(msg, codec.GSSENCRequest):
                    self.transport.write(b"N")
                elif isinstance(msg, codec.CancelRequest):
                    self.gateway.cancel(msg.pid, msg.secret)
                    self._close_quietly()
                    return
                else:
                    if i + 1 < len(packets) or self.startup.remaining():
                        raise codec.ProtocolError("unexpected data after the startup packet")
                    self._login(msg)
                    return
        except codec.ProtocolError as e:
            self.fail(e.sqlstate, f"invalid startup packet: {e}")

    def _login(self, msg: codec.StartupMessage) -> None:
        self.params = dict(msg.parameters)
        if "replication" in self.params:
            self.fail("0A000", "replication connections are not supported through interceptor")
            return
        if not self.params.get("user"):
            self.fail("28000", "no user name given: connect with user=<identity name>")
            return
        if not self.tls and not is_loopback(self._peer_host) and self.gateway.config.client_tls != "optional":
            self.fail("28000", "TLS is required: connect with sslmode=require (token login is never sent in clear)")
            return
        self.state = AUTH
        self.transport.write(_AUTH_CLEARTEXT)

    # -- login -------------------------------------------------------------------------------------------------

    def _auth_data(self, data: bytes) -> None:
        try:
            buf, frames = self.reader.feed(data)
            if not frames:
                if self.reader.pending > _PASSWORD_LIMIT:
                    raise codec.ProtocolError("password message too long")
                return
            t, s, e = frames[0]
            if t != codec.Frontend.PASSWORD or e - s > _PASSWORD_LIMIT:
                raise codec.ProtocolError("expected a password message")
            token = codec.PasswordMessage.decode(buf[s + 5 : e]).password()
        except codec.ProtocolError as err:
            self.fail("08P01", f"invalid login: {err}")
            return
        self.state = CONNECTING
        self._keep_early(buf, frames[1:])
        if self.state == CLOSED:
            return
        self.pause("login")
        user = self.params["user"]
        d = self.gateway.auth.authenticate(user, token)
        d.addCallback(self._authenticated, user)
        d.addErrback(self._internal_error)

    def _authenticated(self, identity: Identity | None, user: str) -> None:
        if self.state == CLOSED:
            return
        if identity is None:
            self.gateway.pipeline.event("auth.failed", None, identity=user, client=self.peer, protocol="postgres")
            log.info("login failed for {identity} from {client}", identity=user, client=self.peer)
            self.fail("28P01", f'password authentication failed for user "{user}"')
            return
        database = self.params.get("database") or user
        conn = self.gateway.config.connections.get(database)
        if conn is None or conn.protocol != "postgres":
            self.fail("3D000", f'connection "{database}" does not exist')
            return
        if not any(identity.matches(sel) for sel in conn.allow):
            self.gateway.pipeline.event("auth.denied", None, identity=identity.name, connection=conn.name)
            self.fail("42501", f'identity "{identity.name}" may not use connection "{conn.name}"')
            return
        self.session = self.gateway.new_session(identity, conn, "postgres", self.peer, self.tls)
        upstream_params = {
            "user": conn.username or identity.name,
            "database": conn.database or conn.name,
            "application_name": self._application_name(identity),
        }
        for k, v in self.params.items():
            if k.lower() in _FORWARDED:
                problem = value_problem(k.lower(), v)
                if problem is not None:  # e.g. client_encoding=SJIS: the server would read statements differently
                    self.fail("0A000", f"startup parameter refused: {problem}")
                    return
                upstream_params[k] = v
        cfg = self.gateway.config
        factory = UpstreamFactory(
            conn, upstream_params, cfg.limits.max_message_size, self._ready, self._upstream_failed
        )
        self._upstream_factory = factory
        self._cancel_timer()
        self._timer = self.gateway.reactor.callLater(cfg.timeouts.connect, factory.timed_out)
        self._connector = self.gateway.reactor.connectTCP(
            conn.upstream.host, conn.upstream.port, factory, timeout=cfg.timeouts.connect
        )

    def _application_name(self, identity: Identity) -> str:
        own = self.params.get("application_name", "")
        name = f"{identity.name} [interceptor {self.session.id}]"
        return (f"{name} {own}" if own else name).encode()[:63].decode("utf-8", "ignore")

    def _upstream_failed(self, err: UpstreamError) -> None:
        self.upstream_failed(self.session, err)
        if self.state != CLOSED:
            self.fail(err.sqlstate, err.public)

    def _ready(self, ready: UpstreamReady) -> None:
        self._cancel_timer()
        if self.state == CLOSED:
            ready.protocol.transport.loseConnection()
            return
        try:
            relay = Relay(self.gateway, self.session, self, ready.protocol, self.catalog)
        except Exception:
            log.failure("session {session}: a plugin failed while the session opened", session=self.session.id)
            ready.protocol.transport.loseConnection()
            self.fail("XX000", "interceptor: a policy plugin failed; the session was refused")
            return
        self.relay = relay
        ready.protocol.sink = relay
        ready.protocol.transport.registerProducer(Gate(self, "backpressure"), True)
        self.transport.registerProducer(ready.protocol.transport, True)
        pid, secret = self.gateway.register(relay, ready.key)
        out = [codec.AuthenticationOk().encode()]
        out += [codec.ParameterStatus(k, v).encode() for k, v in ready.parameters]
        out.append(codec.BackendKeyData(pid, secret).encode())
        out.append(codec.ReadyForQuery(ready.status).encode())
        self.transport.write(b"".join(out))
        self.state = READY
        # what only the login needed: an idle session should hold as little as it can
        ready.parameters.clear()
        self.params, self._upstream_factory, self._connector = {}, None, None
        self.gateway.pipeline.session_opened(self.session)
        early, self._early = self._early, []
        self.resume("login")
        for buf, frames in early:
            relay.client_frames(buf, frames)

    # -- endings -----------------------------------------------------------------------------------------------

    def _auth_timeout(self) -> None:
        self._timer = None
        if self.state in (STARTUP, AUTH):
            self.fail("08006", "login timed out")

    def _internal_error(self, failure: Failure) -> None:
        log.failure("login failed with an internal error", failure)
        self.fail("XX000", "internal error during login")

    def fail(self, sqlstate: str, message: str) -> None:
        """Refuse the client with a FATAL ErrorResponse and close (only before the relay is running)."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self._cancel_timer()
        self.transport.write(error_frame(sqlstate, message, "FATAL"))
        self.transport.loseConnection()

    def _close_quietly(self) -> None:
        self.state = CLOSED
        self._cancel_timer()
        self.transport.loseConnection()


class ClientFactory(Factory):
    noisy = False  # no log line per connection

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.catalog = Catalog(gateway.reactor, gateway.config.limits.max_message_size)

    def buildProtocol(self, addr: Any) -> ClientProtocol:
        return ClientProtocol(self.gateway, self.catalog)
