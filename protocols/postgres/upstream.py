"""The upstream leg: connect to the real PostgreSQL, negotiate TLS, log in with the vaulted credential.

The password is resolved from the vault only when the server asks for it, used for the one exchange, and never
stored on the protocol object, logged or shown to the client. When the server sends its first ReadyForQuery the
connection is handed to the relay with its parameter statuses and cancel key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

from OpenSSL import SSL
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.config import ConnectionConfig
from interceptor.protocols.postgres import codec
from interceptor.protocols.postgres.scram import MECHANISM, ScramClient, ScramError, md5_password
from interceptor.tls import upstream_options
from interceptor.vault import VaultError

from ..flow import UpstreamAttempt

log = Logger(namespace="interceptor.postgres.upstream")

SSL_REQUEST = codec.SSLRequest().encode()


class UpstreamError(Exception):
    """The upstream could not be reached or refused us. ``public`` is safe to show the client; ``sqlstate`` is
    the code to show with it."""

    def __init__(self, public: str, sqlstate: str = "08001", detail: str = "") -> None:
        super().__init__(f"{public}: {detail}" if detail else public)
        self.public = public
        self.sqlstate = sqlstate


@dataclass
class UpstreamReady:
    protocol: UpstreamProtocol
    parameters: list[tuple[str, str]] = field(default_factory=list)
    key: tuple[int, int] | None = None
    status: bytes = b"I"


class UpstreamSink(TypingProtocol):
    """What the upstream leg hands frames to once the login is done (the relay)."""

    def upstream_frames(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None: ...
    def upstream_broken(self, why: str) -> None: ...
    def upstream_lost(self, reason: Failure) -> None: ...


class UpstreamProtocol(Protocol):
    """Speaks to the server until it is ready, then forwards every chunk to ``on_data``."""

    transport: Any

    def __init__(self, factory: UpstreamFactory) -> None:
        self.f = factory
        self.reader = codec.FrameReader(factory.max_size)
        self.ready = UpstreamReady(self)
        self.sink: UpstreamSink | None = None
        self._tls_wait = False
        self._scram: ScramClient | None = None
        self._done = False

    # -- set-up ------------------------------------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        if self.f.conn.tls == "disable":
            self._send_startup()
        else:
            self._tls_wait = True
            self.transport.write(SSL_REQUEST)

    def _send_startup(self) -> None:
        self.transport.write(codec.StartupMessage(parameters=tuple(self.f.parameters.items())).encode())

    def dataReceived(self, data: bytes) -> None:
        sink = self.sink
        if sink is not None:
            try:
                buf, frames = self.reader.feed(data)
            except codec.ProtocolError as err:
                sink.upstream_broken(str(err))
                return
            sink.upstream_frames(buf, frames)
            return
        if self._done:
            return
        try:
            if self._tls_wait:
                data = self._tls_answer(data)
                if not data:
                    return
            buf, frames = self.reader.feed(data)
            for i, (t, s, e) in enumerate(frames):
                self._setup_message(t, buf[s + 5 : e])
                if self.sink is not None:
                    # handed over at the first ReadyForQuery: the relay takes whatever followed it
                    if i + 1 < len(frames):
                        self.sink.upstream_frames(buf, frames[i + 1 :])
                    return
        except UpstreamError as err:
            self._fail(err)
        except (codec.ProtocolError, ScramError) as err:
            self._fail(UpstreamError("upstream protocol error during login", "08P01", str(err)))

    def _tls_answer(self, data: bytes) -> bytes:
        self._tls_wait = False
        answer, rest = data[:1], data[1:]
        if answer == b"S":
            if rest:
                raise UpstreamError("upstream sent data before the TLS handshake", "08P01")
            self.transport.startTLS(upstream_options(self.f.conn.tls, self.f.conn.upstream.host, self.f.conn.ca))
            self._send_startup()
            return b""
        if answer == b"N" and self.f.conn.tls == "prefer":
            self._send_startup()
            return rest
        if answer == b"N":
            raise UpstreamError("upstream does not offer TLS, but the connection requires it", "08001")
        raise UpstreamError("upstream answered the TLS request with garbage", "08P01")

    def _password(self) -> str:
        if self.f.conn.password is None:
            raise UpstreamError("upstream asks for a password, but the connection has none configured", "28000")
        try:
            return self.f.conn.password.resolve()
        except VaultError as e:
            raise UpstreamError("upstream credential is unavailable", "28000", str(e)) from None

    def _setup_message(self, t: int, body: bytes) -> None:
        msg = codec.decode_backend(t, body)
        if isinstance(msg, codec.AuthenticationOk):
            return
        if isinstance(msg, codec.AuthenticationSASL):
            if MECHANISM not in msg.mechanisms:
                raise UpstreamError("upstream offers no SASL mechanism the gateway supports", "28000")
            self._scram = ScramClient(self._password())
            self.transport.write(codec.SASLInitialResponse(MECHANISM, self._scram.first()).encode())
        elif isinstance(msg, codec.AuthenticationSASLContinue) and self._scram:
            self.transport.write(codec.SASLResponse(self._scram.final(msg.data)).encode())
        elif isinstance(msg, codec.AuthenticationSASLFinal) and self._scram:
            self._scram.verify(msg.data)
            self._scram = None
        elif isinstance(msg, codec.AuthenticationMD5Password):
            user = self.f.parameters.get("user", "")
            self.transport.write(_password_message(md5_password(self._password(), user, msg.salt)))
        elif isinstance(msg, codec.AuthenticationCleartextPassword):
            self.transport.write(_password_message(self._password()))
        elif isinstance(msg, codec.BackendKeyData):
            self.ready.key = (msg.pid, msg.secret)
        elif isinstance(msg, codec.ParameterStatus):
            self.ready.parameters.append((msg.name, msg.value))
        elif isinstance(msg, codec.ReadyForQuery):
            self._done = True
            self.ready.status = msg.status
            self.f.succeeded(self.ready)
        elif isinstance(msg, codec.ErrorResponse):
            raise UpstreamError(
                f"upstream refused the login (SQLSTATE {msg.sqlstate})", _login_code(msg.sqlstate), msg.message
            )
        elif isinstance(msg, codec.NoticeResponse | codec.NegotiateProtocolVersion):
            return
        else:
            raise UpstreamError("upstream sent an unexpected message during login", "08P01", type(msg).__name__)

    def _fail(self, err: UpstreamError) -> None:
        self._done = True
        self.f.failed(err)
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self.sink is not None:
            self.sink.upstream_lost(reason)
        elif not self._done:
            self._done = True
            name = self.f.conn.name
            if reason.check(SSL.Error):
                err = UpstreamError(f"TLS with the upstream of connection {name!r} failed (tls: {self.f.conn.tls})",
                                    "08001", reason.getErrorMessage())  # fmt: skip
            else:
                err = UpstreamError(f"the upstream of connection {name!r} closed during login", "08006")
            self.f.failed(err)


def _password_message(password: str) -> bytes:
    message: bytes = codec.PasswordMessage.from_password(password).encode()
    return message


def _login_code(sqlstate: str) -> str:
    # Authentication problems upstream are the gateway's configuration, not the client's token: say so with a
    # connection-class code rather than 28P01, which clients read as "your password is wrong".
    return "08004" if sqlstate.startswith("28") else sqlstate


class UpstreamFactory(UpstreamAttempt):
    """One upstream connection attempt. Fires ``on_ready`` or ``on_error`` exactly once."""

    protocol = UpstreamProtocol  # type: ignore[assignment]
    error = UpstreamError
    instance: UpstreamProtocol | None
    conn: ConnectionConfig

    def __init__(
        self,
        conn: ConnectionConfig,
        parameters: dict[str, str],
        max_size: int,
        on_ready: Callable[[UpstreamReady], None],
        on_error: Callable[[UpstreamError], None],
    ) -> None:
        super().__init__(conn, on_ready, on_error)
        self.parameters = parameters
        self.max_size = max_size

    def buildProtocol(self, addr: Any) -> UpstreamProtocol:
        self.instance = UpstreamProtocol(self)
        return self.instance


class _CancelProtocol(Protocol):
    """Sends one CancelRequest (after an SSLRequest when the connection uses TLS) and hangs up."""

    transport: Any

    def __init__(self, conn: ConnectionConfig, key: tuple[int, int]) -> None:
        self.conn, self.key = conn, key
        self._tls_wait = conn.tls != "disable"

    def connectionMade(self) -> None:
        self.transport.write(SSL_REQUEST if self._tls_wait else self._packet())
        if not self._tls_wait:
            self.transport.loseConnection()

    def _packet(self) -> bytes:
        packet: bytes = codec.CancelRequest(*self.key).encode()
        return packet

    def dataReceived(self, data: bytes) -> None:
        if not self._tls_wait:
            return
        self._tls_wait = False
        if data[:1] == b"S" and len(data) == 1:
            self.transport.startTLS(upstream_options(self.conn.tls, self.conn.upstream.host, self.conn.ca))
        elif not (data[:1] == b"N" and self.conn.tls == "prefer"):
            self.transport.loseConnection()
            return
        self.transport.write(self._packet())
        self.transport.loseConnection()


class CancelFactory(ClientFactory):
    noisy = False  # no log line per connection

    def __init__(self, conn: ConnectionConfig, key: tuple[int, int]) -> None:
        self.conn, self.key = conn, key

    def buildProtocol(self, addr: Any) -> Protocol:
        return _CancelProtocol(self.conn, self.key)


def send_cancel(reactor: Any, conn: ConnectionConfig, key: tuple[int, int], timeout: float) -> None:
    """Ask the upstream to cancel whatever the backend with ``key`` is running. Fire and forget, like libpq."""
    reactor.connectTCP(conn.upstream.host, conn.upstream.port, CancelFactory(conn, key), timeout=timeout)
