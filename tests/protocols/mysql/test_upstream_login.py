"""The upstream login paths the MariaDB 10.11 on this machine cannot show, against the fake server of
fake_server.py over real sockets on a private reactor: caching_sha2_password (fast path; full authentication
with the server's RSA key, a pinned key, or inside TLS), auth switches, the clear-text plugins (TLS only: on
plaintext the password must never arrive), unsupported plugins, TLS modes, broken servers, and the hand-off of
packets that arrive before the relay sets its sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from interceptor.protocols.mysql.auth import (
    CACHING_SHA2_PASSWORD,
    MYSQL_CLEAR_PASSWORD,
    MYSQL_NATIVE_PASSWORD,
    SHA256_PASSWORD,
    caching_sha2_scramble,
    xor_password,
)
from interceptor.protocols.mysql.codec import ComQuery, ComQuit, OKPacket, split_payload
from interceptor.tls import ensure_certificate, server_options
from tests.protocols.mysql.fake_server import SERVER_CAPS, FakeServerFactory, Record, Script, rsa_pem
from tests.protocols.mysql.loop import Loop, private_loop
from tests.protocols.mysql.upstream_kit import (
    ATTRS,
    CHARSET,
    PASSWORD_ENV,
    C,
    Outcome,
    Sink,
    config,
    error_of,
    login,
    ready_of,
)

PASSWORD = "canary-Pw-7f3a9c"
SHA2 = CACHING_SHA2_PASSWORD
NATIVE = MYSQL_NATIVE_PASSWORD


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with private_loop() as lp:
        yield lp


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(certificate, key, another self-signed certificate that did not sign it), for 127.0.0.1."""
    base = tmp_path_factory.mktemp("fake-mysql-tls")
    ensure_certificate(base / "server.crt", base / "server.key")
    ensure_certificate(base / "other.crt", base / "other.key")
    return base / "server.crt", base / "server.key", base / "other.crt"


def tls_script(certs: tuple[Path, Path, Path], **kw: Any) -> Script:
    return Script(PASSWORD, tls=server_options(certs[0], certs[1]), **kw)


def run(loop: Loop, script: Script, tls: str = "disable", ca: Path | None = None, **kw: Any) -> tuple[Outcome, Record]:
    factory = FakeServerFactory(script)
    port = loop.reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port
    out = login(loop, config(port, tls=tls, ca=ca, password=kw.pop("password", True)), **kw)
    loop.spin(0.05)  # give anything that should not happen its chance (a second callback, more bytes)
    assert len(out.calls) == 1, out.calls
    return out, factory.record


def password_never_arrived(record: Record) -> None:
    assert PASSWORD.encode() not in bytes(record.received)
    assert not record.logged_in


# -- caching_sha2_password ---------------------------------------------------------------------------------------


def test_caching_sha2_fast_path_and_what_the_response_carries(loop: Loop) -> None:
    out, record = run(loop, Script(PASSWORD, greeting_plugin=SHA2, account_plugin=SHA2), database="orders_db")
    ready = ready_of(out)
    assert record.logged_in and record.answers == [] and not record.key_requested
    response = record.response
    assert response is not None
    assert response.username == "app" and response.database == "orders_db" and response.charset == CHARSET
    assert response.auth_plugin_name == SHA2 and response.attrs == ATTRS
    assert response.auth_response == caching_sha2_scramble(PASSWORD, record.nonce)
    assert response.capabilities == ready.caps
    assert not ready.caps & C.COMPRESS and not ready.caps & C.SSL and not ready.tls
    assert ready.caps & C.DEPRECATE_EOF and ready.caps & C.MULTI_STATEMENTS and ready.caps & C.CONNECT_WITH_DB
    assert ready.greeting.server_version == "8.0.99-fake" and ready.status == 2
    assert PASSWORD.encode() not in bytes(record.received)


def test_the_password_is_kept_nowhere(loop: Loop, rsa_key: rsa.RSAPrivateKey) -> None:
    # the canary: after a full authentication (which needs the password twice), no object of the leg holds it
    out, record = run(loop, Script(PASSWORD, SHA2, SHA2, sha2="full", rsa_key=rsa_key))
    ready = ready_of(out)
    assert record.logged_in
    for obj in (ready.protocol, ready.protocol.login, out.factory, ready):
        assert PASSWORD not in repr(vars(obj)) and PASSWORD not in repr(obj)


def test_caching_sha2_wrong_password_fails(loop: Loop) -> None:
    out, record = run(loop, Script("another password", greeting_plugin=SHA2, account_plugin=SHA2))
    err = error_of(out)
    assert err.public == "upstream login failed for connection 'orders' (server error 1045)"
    assert PASSWORD not in str(err) and not record.logged_in


def test_caching_sha2_full_auth_with_the_servers_rsa_key(loop: Loop, rsa_key: rsa.RSAPrivateKey) -> None:
    out, record = run(loop, Script(PASSWORD, SHA2, SHA2, sha2="full", rsa_key=rsa_key))
    assert not ready_of(out).tls
    assert record.key_requested and record.answers[0] == b"\x02"
    assert record.rsa_plain == xor_password(PASSWORD, record.nonce)  # decrypted with the server's private key
    assert record.logged_in
    assert PASSWORD.encode() not in bytes(record.received)  # a plaintext connection: only ciphertext travelled


def test_caching_sha2_full_auth_with_a_pinned_key(loop: Loop, rsa_key: rsa.RSAPrivateKey) -> None:
    script = Script(PASSWORD, SHA2, SHA2, sha2="full", rsa_key=rsa_key)
    out, record = run(loop, script, rsa_public_key=rsa_pem(rsa_key))
    ready_of(out)
    assert not record.key_requested and len(record.answers) == 1  # never asked the server for its key
    assert record.rsa_plain == xor_password(PASSWORD, record.nonce)


def test_caching_sha2_key_sent_unasked(loop: Loop, rsa_key: rsa.RSAPrivateKey) -> None:
    out, record = run(loop, Script(PASSWORD, SHA2, SHA2, sha2="pem_first", rsa_key=rsa_key))
    ready_of(out)
    assert not record.key_requested and record.rsa_plain == xor_password(PASSWORD, record.nonce)


def test_caching_sha2_full_auth_inside_tls(loop: Loop, certs: tuple[Path, Path, Path]) -> None:
    out, record = run(loop, tls_script(certs, greeting_plugin=SHA2, account_plugin=SHA2, sha2="full"), "require")
    ready = ready_of(out)
    assert ready.tls and ready.caps & C.SSL
    assert record.ssl_request is not None and record.ssl_request.capabilities == ready.caps
    assert record.answers == [PASSWORD.encode() + b"\0"]  # in clear, but inside TLS
    assert record.logged_in and not record.key_requested


def test_auth_switch_from_native_to_caching_sha2(loop: Loop) -> None:
    out, record = run(loop, Script(PASSWORD, greeting_plugin=NATIVE, account_plugin=SHA2))
    ready_of(out)
    assert record.response is not None and record.response.auth_plugin_name == NATIVE
    assert record.answers == [caching_sha2_scramble(PASSWORD, record.nonce)]  # for the switch's own nonce
    assert record.logged_in


def test_no_password_sends_empty_auth_data(loop: Loop) -> None:
    out, record = run(loop, Script("", greeting_plugin=SHA2, account_plugin=SHA2), password=False)
    ready_of(out)
    assert record.response is not None and record.response.auth_response == b""


# -- the plugins that send the password itself -------------------------------------------------------------------


@pytest.mark.parametrize("greeting_plugin", [NATIVE, MYSQL_CLEAR_PASSWORD])
@pytest.mark.parametrize("plugin", [MYSQL_CLEAR_PASSWORD, SHA256_PASSWORD])
def test_clear_text_plugins_are_refused_without_tls(loop: Loop, greeting_plugin: str, plugin: str) -> None:
    for tls in ("disable", "prefer"):  # prefer: the server offers no TLS, so this connection is plaintext
        out, record = run(loop, Script(PASSWORD, greeting_plugin=greeting_plugin, account_plugin=plugin), tls)
        err = error_of(out)
        assert err.public == f"the upstream of connection 'orders' asks for the password in clear ({plugin}) " \
                             "without TLS; refused"  # fmt: skip
        assert record.response is not None and record.response.auth_plugin_name == NATIVE  # not the greeting's
        password_never_arrived(record)


@pytest.mark.parametrize("plugin", [MYSQL_CLEAR_PASSWORD, SHA256_PASSWORD])
def test_clear_text_plugins_over_tls(loop: Loop, certs: tuple[Path, Path, Path], plugin: str) -> None:
    out, record = run(loop, tls_script(certs, greeting_plugin=NATIVE, account_plugin=plugin), "prefer")
    assert ready_of(out).tls
    assert record.answers == [PASSWORD.encode() + b"\0"] and record.logged_in


def test_an_unsupported_plugin_is_named(loop: Loop) -> None:
    out, record = run(loop, Script(PASSWORD, greeting_plugin=NATIVE, account_plugin="client_ed25519"))
    err = error_of(out)
    assert "authentication plugin 'client_ed25519'" in err.public and err.sqlstate == "08004"
    password_never_arrived(record)


# -- TLS modes ---------------------------------------------------------------------------------------------------


def test_verify_full_checks_the_certificate(loop: Loop, certs: tuple[Path, Path, Path]) -> None:
    out, record = run(loop, tls_script(certs), "verify-full", ca=certs[0])
    assert ready_of(out).tls and record.logged_in
    out, record = run(loop, tls_script(certs), "verify-full", ca=certs[2])
    err = error_of(out)
    assert err.public == "TLS with the upstream of connection 'orders' failed (tls: verify-full)"
    assert record.response is None and PASSWORD.encode() not in bytes(record.received)


def test_tls_required_but_not_offered(loop: Loop) -> None:
    for mode in ("require", "verify-full"):
        out, record = run(loop, Script(PASSWORD), mode)
        assert error_of(out).public == ("the upstream of connection 'orders' does not offer TLS, but the "
                                        f"connection requires it (tls: {mode})")  # fmt: skip
        assert record.received == b""  # not a byte was sent


def test_tls_disable_never_asks(loop: Loop, certs: tuple[Path, Path, Path]) -> None:
    out, record = run(loop, tls_script(certs), "disable")
    assert not ready_of(out).tls and record.ssl_request is None and record.logged_in


# -- servers that misbehave ---------------------------------------------------------------------------------------


def test_a_capability_the_server_lacks(loop: Loop) -> None:
    out, record = run(loop, Script(PASSWORD, capabilities=SERVER_CAPS & ~C.DEPRECATE_EOF))
    err = error_of(out)
    assert err.public == "the upstream of connection 'orders' does not support DEPRECATE_EOF, which this session needs"
    assert record.received == b""


def test_a_wrong_sequence_id_fails_the_login(loop: Loop) -> None:
    out, record = run(loop, Script(PASSWORD, account_plugin=SHA2, bad_seq=True))
    err = error_of(out)
    assert err.public == "the upstream of connection 'orders' broke the protocol during login"
    assert err.sqlstate == "08S01" and "sequence id" in err.detail
    assert not record.logged_in


def test_a_second_auth_switch_fails_the_login(loop: Loop) -> None:
    out, _ = run(loop, Script(PASSWORD, account_plugin=SHA2, second_switch=True))
    assert "second authentication plugin switch" in error_of(out).detail


# -- after the login ---------------------------------------------------------------------------------------------


def test_packets_before_the_sink_are_kept_for_it(loop: Loop) -> None:
    early = split_payload(OKPacket(info="early").encode(C.PROTOCOL_41), 9)
    out, record = run(loop, Script(PASSWORD, after_ok=early))  # written together with the final OK
    ready = ready_of(out)
    ready.protocol.transport.write(split_payload(ComQuery("select 1").encode(ready.caps), 0))
    loop.run_until(lambda: record.queries)
    loop.spin(0.05)  # the answer arrives while there is no sink yet
    ready.protocol.transport.write(split_payload(ComQuit().encode(), 0))
    loop.spin(0.1)  # and the server hangs up
    sink = Sink()
    ready.protocol.set_sink(sink)
    assert [seq for seq, _ in sink.packets] == [9, 1] and sink.packets[0][1] == early
    assert OKPacket.decode(sink.payloads[1], ready.caps).info == "fake: select 1"
    assert len(sink.lost) == 1 and sink.broken == []
    assert out.calls == ["ready"]  # the loss after the OK is the sink's business, never on_error


def test_an_oversized_packet_after_the_login_breaks_the_session(loop: Loop) -> None:
    out, _ = run(loop, Script(PASSWORD), max_size=1024)
    ready = ready_of(out)
    sink = Sink()
    ready.protocol.set_sink(sink)
    ready.protocol.transport.write(split_payload(ComQuery("x" * 2000).encode(ready.caps), 0))
    loop.run_until(lambda: sink.broken)
    assert "exceeds the 1024-byte limit" in sink.broken[0] and sink.packets == []
