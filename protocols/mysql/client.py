"""The client-facing leg of a MySQL/MariaDB session: greeting, TLS, token login and routing, then the relay.

Order of events for one client:

1. the gateway greets (HandshakeV10, as ``8.0.40-interceptor``, offering :data:`.login.OFFERED` and TLS);
2. an SSLRequest starts TLS (bytes the client sent after it are the TLS handshake and go into TLS);
3. the HandshakeResponse41: the user is the identity, the database the connection. Plaintext logins are refused
   unless the client is on loopback or ``client_tls: optional``; the token is read as :mod:`.login` explains;
   a wrong token gets ERR 1045 and no upstream is contacted; an unknown connection ERR 1049; a connection the
   identity may not use ERR 1044; no database ERR 1046;
4. the upstream leg logs in with the vaulted credential (the identity and session id go as connection
   attributes); only then does the client get its OK, and the relay takes over.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.model import Identity
from interceptor.sql.mysql_settings import UNSAFE_CHARSET_IDS

from ..flow import ClientLeg, Gate, is_loopback
from .generic import ERRPacket, OKPacket
from .handshake import HandshakeResponse41, SSLRequest, decode_client_hello
from .login import ER_ACCESS_DENIED, OFFERED, Login, LoginError, Token, new_rsa_key
from .packets import PacketReader, SequenceTracker, split_payload
from .relay import Relay
from .upstream import UpstreamError, UpstreamFactory, UpstreamReady
from .wire import Capability, ProtocolError

if TYPE_CHECKING:
    from interceptor.service import Gateway

log = Logger(namespace="interceptor.mysql.client")

HELLO, AUTH, CHECKING, READY, CLOSED = range(5)
_LOGIN_LIMIT = 16384
_ids = itertools.count(1)
#: what the upstream leg must have in force too (the relay forwards result packets as they are)
_RELAYED = int(
    Capability.FOUND_ROWS | Capability.LONG_FLAG | Capability.IGNORE_SPACE | Capability.PROTOCOL_41
    | Capability.INTERACTIVE | Capability.TRANSACTIONS | Capability.MULTI_STATEMENTS | Capability.MULTI_RESULTS
    | Capability.PS_MULTI_RESULTS | Capability.SESSION_TRACK | Capability.DEPRECATE_EOF | Capability.LOCAL_FILES
    | Capability.LONG_PASSWORD
)  # fmt: skip


class ClientProtocol(ClientLeg):
    transport: Any

    def __init__(self, gateway: Gateway, rsa_key: Any) -> None:
        super().__init__(gateway)
        self.state = HELLO
        self.reader = PacketReader(_LOGIN_LIMIT)
        self.seq = SequenceTracker()
        self.tls = False
        self.relay: Relay | None = None
        self.login: Login | None = None
        self.caps = 0
        self._rsa = rsa_key
        self._connector: Any = None
        self._early: list[bytes] = []
        self._raw = b""
        self.session: Any = None

    def __repr__(self) -> str:
        return f"<mysql client {self.peer} state={self.state}>"

    def is_closed(self) -> bool:
        return self.state == CLOSED

    # -- Twisted callbacks -------------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()
        self.login = Login(next(_ids) & 0xFFFFFFFF, False, self._rsa)
        self.transport.write(split_payload(self.login.greeting(OFFERED | Capability.SSL), self.seq.next()))

    def dataReceived(self, data: bytes) -> None:
        if self.state == READY:
            assert self.relay is not None
            self.relay.client_data(data)
            return
        if self.state == CHECKING:  # a client may send its first command right behind its password
            self._early.append(data)
            if sum(map(len, self._early)) > self.gateway.config.limits.max_message_size:
                self.fail(ERRPacket(1153, "08S01", "too much data before the session was ready"))
            return
        if self.state == CLOSED:
            return
        try:
            if self.state == HELLO and not self.tls:
                data = self._first_packet(data)
                if not data:
                    return
            buf, packets = self.reader.feed_offsets(data)
            done = 0
            for seq, start, end in packets:
                if self.state not in (HELLO, AUTH):
                    break
                self.seq.check(seq)
                payload = buf[start + 4 : end]
                if self.state == HELLO:
                    self._hello(payload, b"")
                else:
                    self._auth(payload)
                done = end
            if self.state == CHECKING and done < len(buf):
                # the client sent its first command (or the start of it) right behind its last login packet: it
                # starts a new exchange (sequence id 0) and is the relay's to frame
                self._early.append(buf[done:])
        except LoginError as e:
            self.fail(ERRPacket(e.errno, e.sqlstate, str(e)))
        except ProtocolError as e:
            self.fail(ERRPacket(1043, "08S01", f"bad handshake: {e}"))

    def _first_packet(self, data: bytes) -> bytes:
        """The first packet is read by hand: after an SSLRequest come TLS records, which are not packets."""
        raw = self._raw = self._raw + data
        if len(raw) < 4:
            return b""
        length, seq = int.from_bytes(raw[:3], "little"), raw[3]
        if length > _LOGIN_LIMIT:
            raise ProtocolError(f"a login packet of {length} bytes")
        if len(raw) < 4 + length:
            return b""
        self._raw = b""
        self.seq.check(seq)
        rest = raw[4 + length :]
        if self._hello(raw[4 : 4 + length], rest):
            return b""
        return rest

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        previous, self.state = self.state, CLOSED
        self._cancel_timer()
        if self.relay is not None:
            self.relay.close("client closed", None, 0)
        elif previous == CHECKING and self._connector is not None:
            self._connector.disconnect()

    # -- login -------------------------------------------------------------------------------------------------

    def _hello(self, payload: bytes, rest: bytes) -> bool:
        """The client's answer to the greeting. True when the rest of the chunk was handed to TLS."""
        hello = decode_client_hello(payload, OFFERED)
        if hello.capabilities & ~(OFFERED | Capability.SSL) & 0xFFFFFFFF:
            extra = Capability(hello.capabilities & ~OFFERED & ~int(Capability.SSL) & 0xFFFFFFFF)
            raise ProtocolError(f"the client claims capabilities it was not offered: {extra!r}")
        if not hello.capabilities & Capability.PROTOCOL_41:
            raise ProtocolError("clients older than protocol 4.1 are not supported")
        if isinstance(hello, SSLRequest):
            if self.tls:
                raise ProtocolError("a second SSLRequest")
            self.tls = True
            assert self.login is not None
            self.login.tls = True
            self.transport.startTLS(self.gateway.server_tls)
            if rest:  # the TLS ClientHello came in the same read: it belongs to TLS, not to us
                self.transport.protocol.dataReceived(rest)
            return True
        assert isinstance(hello, HandshakeResponse41)
        if not self.tls and not is_loopback(self._peer_host) and self.gateway.config.client_tls != "optional":
            raise LoginError(
                "TLS is required: connect with --ssl (a token is never accepted in clear)", 3159, "HY000"
            )  # ER_SECURE_TRANSPORT_REQUIRED
        if hello.charset in UNSAFE_CHARSET_IDS:  # the server would read statements differently from the gateway
            raise LoginError(
                f"interceptor: character set {hello.charset} is refused (its multibyte characters can hide a"
                " backslash, so the server would read statements differently from the gateway)",
                1115,
                "42000",
            )  # ER_UNKNOWN_CHARACTER_SET
        self.caps = hello.capabilities & ~int(Capability.SSL)
        self.state = AUTH
        assert self.login is not None
        self._answer(self.login.hello(hello))
        return False

    def _auth(self, payload: bytes) -> None:
        assert self.login is not None
        self._answer(self.login.reply(payload))

    def _answer(self, step: bytes | Token) -> None:
        if isinstance(step, bytes):
            self.transport.write(split_payload(step, self.seq.next()))
            return
        assert self.login is not None and self.login.response is not None
        self.state = CHECKING
        self.pause("login")
        user = self.login.response.username
        d = self.gateway.auth.authenticate(user, step.value)
        d.addCallback(self._authenticated, user)
        d.addErrback(self._internal_error)

    def _authenticated(self, identity: Identity | None, user: str) -> None:
        if self.state == CLOSED:
            return
        assert self.login is not None and self.login.response is not None
        host = self._peer_host
        if identity is None:
            self.gateway.pipeline.event("auth.failed", None, identity=user, client=self.peer, protocol="mysql")
            log.info("login failed for {identity} from {client}", identity=user, client=self.peer)
            self.fail(
                ERRPacket(ER_ACCESS_DENIED, "28000", f"Access denied for user '{user}'@'{host}' (using password: YES)")
            )
            return
        name = self.login.response.database
        if not name:
            self.fail(ERRPacket(1046, "3D000", "No database selected: use the connection's name as the database"))
            return
        conn = self.gateway.config.connections.get(name)
        if conn is None or conn.protocol != "mysql":
            self.fail(ERRPacket(1049, "42000", f"Unknown database '{name}'"))
            return
        if not any(identity.matches(sel) for sel in conn.allow):
            self.gateway.pipeline.event("auth.denied", None, identity=identity.name, connection=conn.name)
            self.fail(
                ERRPacket(1044, "42000", f"Access denied for user '{identity.name}'@'{host}' to database '{name}'")
            )
            return
        self.session = self.gateway.new_session(identity, conn, "mysql", self.peer, self.tls)
        attributes = {
            "program_name": "interceptor",
            "interceptor_identity": identity.name,
            "interceptor_session": self.session.id,
            "interceptor_client": self.peer,
        }
        cfg = self.gateway.config
        factory = UpstreamFactory(
            conn, self.caps & _RELAYED, conn.database or conn.name, attributes, self.login.response.charset,
            cfg.limits.max_message_size, self._ready, self._upstream_failed, username=identity.name,
        )  # fmt: skip
        self._cancel_timer()
        self._timer = self.gateway.reactor.callLater(cfg.timeouts.connect, factory.timed_out)
        self._connector = self.gateway.reactor.connectTCP(
            conn.upstream.host, conn.upstream.port, factory, timeout=cfg.timeouts.connect
        )

    def _upstream_failed(self, err: UpstreamError) -> None:
        self.upstream_failed(self.session, err)
        if self.state != CLOSED:
            self.fail(err.err_packet())

    def _ready(self, ready: UpstreamReady) -> None:
        self._cancel_timer()
        if self.state == CLOSED:
            ready.protocol.transport.loseConnection()
            return
        try:
            relay = Relay(self.gateway, self.session, self, ready.protocol, self.caps)
        except Exception:
            log.failure("session {session}: a plugin failed while the session opened", session=self.session.id)
            ready.protocol.transport.loseConnection()
            self.fail(ERRPacket(1105, "HY000", "interceptor: a policy plugin failed; the session was refused"))
            return
        self.relay = relay
        ready.protocol.set_sink(relay)
        ready.protocol.transport.registerProducer(Gate(self, "backpressure"), True)
        self.transport.registerProducer(ready.protocol.transport, True)
        self.gateway.register(relay, None)
        ok = OKPacket(status=ready.status & 0xFFFF)
        self.transport.write(split_payload(ok.encode(self.caps), self.seq.next()))
        self.state = READY
        self.gateway.pipeline.session_opened(self.session)
        early, self._early = self._early, []
        self.resume("login")
        for data in early:
            relay.client_data(data)

    # -- endings -----------------------------------------------------------------------------------------------

    def _auth_timeout(self) -> None:
        self._timer = None
        if self.state in (HELLO, AUTH):
            self.fail(ERRPacket(1043, "08S01", "login timed out"))

    def _internal_error(self, failure: Failure) -> None:
        log.failure("login failed with an internal error", failure)
        self.fail(ERRPacket(1105, "HY000", "internal error during login"))

    def fail(self, err: ERRPacket) -> None:
        """Send the ERR (as the next packet of the login exchange) and hang up."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self._cancel_timer()
        if self.transport is not None:
            self.transport.write(split_payload(err.encode(self.caps or OFFERED), self.seq.next()))
            self.transport.loseConnection()


class ClientFactory(Factory):
    noisy = False

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._rsa = new_rsa_key()

    def buildProtocol(self, addr: Any) -> ClientProtocol:
        return ClientProtocol(self.gateway, self._rsa)
