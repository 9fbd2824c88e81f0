"""The gateway's own login to a MySQL/MariaDB server, sans-IO: capability negotiation and the client side of
the authentication plugins. :mod:`.upstream` drives it from a Twisted protocol.

:class:`UpstreamLogin` is fed the server's payloads and answers with the framed packets to send. It never holds
the password: it calls ``password()`` (which reads the vault) for the one packet that needs it, and it never
puts the password on the wire readable without TLS: mysql_clear_password and sha256_password are refused on a
plaintext connection before anything is written. RSA full authentication without TLS trusts the key the server
sends (as the mysql client's ``--get-server-public-key`` does), unless ``rsa_public_key`` pins one.

Errors: :class:`UpstreamError` when the server refuses us or wants something the gateway will not do, the
codec's :class:`~.wire.ProtocolError` when it breaks the protocol. ``errno`` is always 1429,
ER_CONNECT_TO_FOREIGN_DATA_SOURCE ("unable to connect to foreign data source"): a server-side code every
client shows as it is, and it says what happened. Never 1045 (nor 1044, 1698): a client reads those as "your
own credentials are wrong", while the fault is the gateway's credential or its upstream. The SQLSTATE tells the
kind: 08001 the connection could not be made (unreachable, timed out, TLS), 08004 the server refused the login
or asks for what the gateway will not do (plugin, capability, missing credential), 08S01 the link broke during
login (protocol error, closed). ``public`` never holds the password or the upstream user; ``detail`` (for the
log only) holds the server's own message.

This module depends on the codec and, for one exception type, ``cryptography`` (no I/O, no Twisted).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm

from .auth import (
    CACHING_SHA2_PASSWORD,
    MYSQL_CLEAR_PASSWORD,
    MYSQL_NATIVE_PASSWORD,
    SHA256_PASSWORD,
    caching_sha2_scramble,
    clear_password,
    native_scramble,
    rsa_encrypt_password,
)
from .generic import ERRPacket, OKPacket
from .handshake import (
    FAST_AUTH_OK,
    PERFORM_FULL_AUTHENTICATION,
    REQUEST_PUBLIC_KEY,
    AuthSwitchRequest,
    HandshakeResponse41,
    HandshakeV10,
    SSLRequest,
    decode_auth_reply,
    decode_greeting,
)
from .packets import SequenceTracker, split_payload
from .wire import Capability, ProtocolError

ER_CONNECT_TO_FOREIGN_DATA_SOURCE = 1429

C = Capability
# What the relay forwards byte for byte depends on these (or the client was promised them): the server must
# offer each one that the client negotiated, or the login fails naming it.
MUST_MATCH = int(
    C.PROTOCOL_41 | C.FOUND_ROWS | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.PS_MULTI_RESULTS | C.SESSION_TRACK
    | C.DEPRECATE_EOF | C.OPTIONAL_RESULTSET_METADATA | C.QUERY_ATTRIBUTES | C.MARIADB_CLIENT_PROGRESS
    | C.MARIADB_CLIENT_COM_MULTI | C.MARIADB_CLIENT_STMT_BULK_OPERATIONS | C.MARIADB_CLIENT_EXTENDED_TYPE_INFO
    | C.MARIADB_CLIENT_CACHE_METADATA | C.MARIADB_CLIENT_BULK_UNIT_RESULTS
)  # fmt: skip
# The upstream leg decides these itself, whatever the client negotiated with the gateway.
MANAGED = int(
    C.CLIENT_MYSQL | C.COMPRESS | C.ZSTD_COMPRESSION_ALGORITHM | C.SSL | C.SSL_VERIFY_SERVER_CERT
    | C.CONNECT_WITH_DB | C.CONNECT_ATTRS | C.PLUGIN_AUTH | C.SECURE_CONNECTION | C.PLUGIN_AUTH_LENENC_CLIENT_DATA
    | C.CAN_HANDLE_EXPIRED_PASSWORDS | C.MULTI_FACTOR_AUTHENTICATION | C.CAPABILITY_EXTENSION | C.REMEMBER_OPTIONS
)  # fmt: skip
_NEEDED = int(C.PROTOCOL_41 | C.SECURE_CONNECTION | C.PLUGIN_AUTH)
_IF_OFFERED = int(C.CLIENT_MYSQL | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA)  # bit 0 mirrors the server
_SCRAMBLED = (MYSQL_NATIVE_PASSWORD, CACHING_SHA2_PASSWORD)
_CLEAR = (MYSQL_CLEAR_PASSWORD, SHA256_PASSWORD)  # plugins whose answer is the password itself: TLS only
_FAST_AUTH_OK = bytes((FAST_AUTH_OK,))
_FULL_AUTH = bytes((PERFORM_FULL_AUTHENTICATION,))


class UpstreamError(Exception):
    """The upstream could not be reached or refused us. ``public``, ``errno`` and ``sqlstate`` are what to show
    the client (:meth:`err_packet`); ``detail`` is for the log only."""

    def __init__(
        self, public: str, errno: int = ER_CONNECT_TO_FOREIGN_DATA_SOURCE, sqlstate: str = "08001", detail: str = ""
    ) -> None:
        super().__init__(f"{public}: {detail}" if detail else public)
        self.public = public
        self.errno = errno
        self.sqlstate = sqlstate
        self.detail = detail

    def err_packet(self) -> ERRPacket:
        """The ERR packet that tells the client (without the detail)."""
        return ERRPacket.build(self.errno, self.sqlstate, self.public)


def negotiate(name: str, caps: int, server: int, *, database: bool, tls: bool) -> int:
    """The capabilities to request from a server that offers ``server``, for a client that negotiated ``caps``
    with the gateway: the client's, less those the upstream leg decides itself (:data:`MANAGED`), plus what the
    login needs. :class:`UpstreamError` naming what the server lacks, if that matters (:data:`MUST_MATCH`)."""
    needed = caps & MUST_MATCH | _NEEDED | (C.CONNECT_WITH_DB if database else 0)
    missing = needed & ~server
    if missing:
        names = ", ".join(str(flag.name) for flag in Capability(missing))
        raise UpstreamError(
            f"the upstream of connection {name!r} does not support {names}, which this session needs", sqlstate="08004"
        )
    wanted = caps & ~MANAGED | _NEEDED | _IF_OFFERED | (C.CONNECT_WITH_DB if database else 0) | (C.SSL if tls else 0)
    return int(wanted & server)


class UpstreamLogin:
    """One login, from the greeting to the OK. Call :meth:`greeting_received` with the first payload, then
    :meth:`reply_received` with each one after it; check every packet's sequence id with ``seq`` first."""

    def __init__(
        self,
        name: str,
        tls_mode: str,
        caps: int,
        username: str,
        database: str,
        attributes: dict[str, str],
        charset: int,
        max_packet_size: int,
        password: Callable[[], str],
        rsa_public_key: bytes | None = None,
    ) -> None:
        self.name, self.tls_mode, self.client_caps = name, tls_mode, caps
        self.username, self.database, self.attributes = username, database, attributes
        self.charset, self.max_packet_size = charset, max_packet_size
        self.password, self.rsa_public_key = password, rsa_public_key
        self.seq = SequenceTracker()
        self.greeting: HandshakeV10 | None = None
        self.caps = 0
        self.tls = False
        self.plugin = ""
        self._nonce = b""
        self._switched = False

    def greeting_received(self, payload: bytes) -> tuple[bytes | None, bytes]:
        """(an SSLRequest to send before starting TLS, or None; then the HandshakeResponse41 to send)."""
        greeting = decode_greeting(payload)
        if isinstance(greeting, ERRPacket):
            raise self._error(f"refused the connection (server error {greeting.errno})", "08004", _said(greeting))
        self.greeting = greeting
        if not self.username:
            raise UpstreamError(f"connection {self.name!r} has no upstream username configured", sqlstate="08004")
        offers_tls = bool(greeting.capabilities & C.SSL)
        if self.tls_mode in ("require", "verify-full") and not offers_tls:
            raise self._error(f"does not offer TLS, but the connection requires it (tls: {self.tls_mode})", "08001")
        self.tls = offers_tls and self.tls_mode != "disable"
        self.caps = negotiate(self.name, self.client_caps, greeting.capabilities, database=bool(self.database),
                              tls=self.tls)  # fmt: skip
        ssl_request = None
        if self.tls:
            ssl_request = self._packet(SSLRequest(self.caps, self.max_packet_size, self.charset).encode())
        plugin = greeting.auth_plugin_name or MYSQL_NATIVE_PASSWORD
        if not (plugin in _SCRAMBLED or (self.tls and plugin in _CLEAR)):
            plugin = MYSQL_NATIVE_PASSWORD  # the server switches us to the account's plugin if that differs
        self.plugin, self._nonce = plugin, greeting.auth_data
        attributes = tuple(self.attributes.items()) if self.caps & C.CONNECT_ATTRS else ()
        response = HandshakeResponse41(self.caps, self.max_packet_size, self.charset, self.username,
                                       self._first_answer(), self.database, plugin, attributes)  # fmt: skip
        return ssl_request, self._packet(response.encode())

    def reply_received(self, payload: bytes) -> OKPacket | bytes | None:
        """The server's OK (logged in), a packet to send, or None (wait for the next reply)."""
        reply = decode_auth_reply(payload, self.caps)
        if isinstance(reply, OKPacket):
            return reply
        if isinstance(reply, ERRPacket):
            raise UpstreamError(f"upstream login failed for connection {self.name!r} (server error {reply.errno})",
                                sqlstate="08004", detail=_said(reply))  # fmt: skip
        if isinstance(reply, AuthSwitchRequest):
            if self._switched:
                raise ProtocolError("the server asked for a second authentication plugin switch")
            self._switched = True
            self.plugin, self._nonce = reply.plugin_name, reply.nonce
            return self._packet(self._first_answer())
        if self.plugin != CACHING_SHA2_PASSWORD:
            raise ProtocolError(f"unexpected AuthMoreData for {self.plugin}")
        if reply.data == _FAST_AUTH_OK:
            return None
        if reply.data == _FULL_AUTH:
            if self.tls:
                return self._packet(self._clear())
            if self.rsa_public_key is not None:
                return self._packet(self._encrypted(self.rsa_public_key))
            return self._packet(REQUEST_PUBLIC_KEY)
        if reply.data.startswith(b"-----BEGIN"):
            return self._packet(self._encrypted(reply.data))
        raise ProtocolError("unexpected caching_sha2_password data")

    def _first_answer(self) -> bytes:
        """The answer for the current plugin and nonce (in the HandshakeResponse41 or after an auth switch)."""
        plugin = self.plugin
        if plugin == MYSQL_NATIVE_PASSWORD:
            return native_scramble(self.password(), self._nonce)
        if plugin == CACHING_SHA2_PASSWORD:
            return caching_sha2_scramble(self.password(), self._nonce)
        if plugin in _CLEAR:
            if not self.tls:
                raise self._error(f"asks for the password in clear ({plugin}) without TLS; refused", "08004")
            return self._clear()
        raise self._error(f"asks for authentication plugin {plugin!r}, which the gateway does not support", "08004")

    def _clear(self) -> bytes:
        try:
            return clear_password(self.password())
        except ValueError as err:
            raise self._error("cannot be sent the configured credential", "08004", str(err)) from None

    def _encrypted(self, pem: bytes) -> bytes:
        try:
            return rsa_encrypt_password(self.password(), self._nonce, pem)
        except (ValueError, UnsupportedAlgorithm) as err:
            raise self._error("sent an unusable RSA public key", "08S01", str(err)) from None

    def _packet(self, payload: bytes) -> bytes:
        return split_payload(payload, self.seq.next())

    def _error(self, what: str, sqlstate: str, detail: str = "") -> UpstreamError:
        return UpstreamError(f"the upstream of connection {self.name!r} {what}", sqlstate=sqlstate, detail=detail)


def _said(err: ERRPacket) -> str:
    return f"server error {err.errno} ({err.sqlstate}): {err.message}"
