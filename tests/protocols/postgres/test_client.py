"""The client-facing leg without sockets: TLS rules by peer address, and no upstream before a good token."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport

from interceptor.config import loads
from interceptor.identity import Authenticator, hash_token
from interceptor.pipeline import Pipeline, new_plugin_manager
from interceptor.protocols.postgres import codec
from interceptor.protocols.postgres.client import ClientFactory, ClientProtocol
from interceptor.service import Gateway

TOKEN = "itk_unit-test-token"
CONFIG = f"""
listen: {{postgres: 127.0.0.1:0}}
data_dir: /nonexistent/unused
client_tls: {{client_tls}}
identities:
  - {{name: bot, kind: agent, token_hash: "{hash_token(TOKEN, 4)}"}}
connections:
  - {{name: app, protocol: postgres, upstream: 127.0.0.1:5432, username: app, password: "${{X}}"}}
"""


def _gateway(client_tls: str = "required") -> tuple[Gateway, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    config = loads(CONFIG.replace("{client_tls}", client_tls))
    gw = Gateway(config, reactor, Pipeline(new_plugin_manager()))
    gw.auth = Authenticator(config.identities, reactor, run_blocking=lambda f, *a: succeed(f(*a)))
    return gw, reactor


def _connect(gw: Gateway, host: str) -> tuple[ClientProtocol, StringTransport]:
    proto = ClientFactory(gw).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
    transport.setTcpNoDelay = lambda on: None  # type: ignore[attr-defined]
    proto.makeConnection(transport)
    return proto, transport


def _messages(data: bytes) -> list[Any]:
    reader = codec.FrameReader(1 << 20)
    buf, frames = reader.feed(data)
    return [codec.decode_backend(t, buf[s + 5 : e]) for t, s, e in frames]


STARTUP = codec.StartupMessage(parameters=(("user", "bot"), ("database", "app"))).encode()


@pytest.mark.parametrize("host", ["203.0.113.9", "10.1.2.3"])
def test_plaintext_token_login_refused_from_remote_peer(host: str) -> None:
    gw, reactor = _gateway()
    proto, transport = _connect(gw, host)
    proto.dataReceived(STARTUP)
    (err,) = _messages(transport.value())
    assert isinstance(err, codec.ErrorResponse)
    assert err.sqlstate == "28000" and "TLS is required" in err.message
    assert transport.disconnecting
    assert reactor.tcpClients == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10"])
def test_plaintext_allowed_from_loopback(host: str) -> None:
    gw, _ = _gateway()
    proto, transport = _connect(gw, host)
    proto.dataReceived(STARTUP)
    assert _messages(transport.value()) == [codec.AuthenticationCleartextPassword()]


def test_client_tls_optional_allows_remote_plaintext() -> None:
    gw, _ = _gateway("optional")
    proto, transport = _connect(gw, "203.0.113.9")
    proto.dataReceived(STARTUP)
    assert _messages(transport.value()) == [codec.AuthenticationCleartextPassword()]


def test_wrong_token_never_opens_an_upstream_connection() -> None:
    gw, reactor = _gateway()
    proto, transport = _connect(gw, "127.0.0.1")
    proto.dataReceived(STARTUP)
    transport.clear()
    proto.dataReceived(codec.PasswordMessage.from_password("itk_wrong").encode())
    (err,) = _messages(transport.value())
    assert err.sqlstate == "28P01"
    assert reactor.tcpClients == []


def test_good_token_opens_exactly_one_upstream_connection() -> None:
    gw, reactor = _gateway()
    proto, transport = _connect(gw, "127.0.0.1")
    proto.dataReceived(STARTUP)
    proto.dataReceived(codec.PasswordMessage.from_password(TOKEN).encode())
    assert [(host, port) for host, port, *_ in reactor.tcpClients] == [("127.0.0.1", 5432)]
    # the client has heard nothing yet: AuthenticationOk waits for the upstream login
    assert _messages(transport.value()) == [codec.AuthenticationCleartextPassword()]


def test_login_timeout() -> None:
    gw, reactor = _gateway()
    _, transport = _connect(gw, "127.0.0.1")
    reactor.advance(gw.config.timeouts.auth + 0.1)
    (err,) = _messages(transport.value())
    assert err.sqlstate == "08006" and transport.disconnecting
