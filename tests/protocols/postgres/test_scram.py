"""Tests for protocols/postgres/scram.py: the SCRAM-SHA-256 client, checked against RFC 7677's test vector (with
the empty user name PostgreSQL sends), against a small server-side verifier written here, and by fuzzing."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interceptor.protocols.postgres.scram import MECHANISM, ScramClient, ScramError, md5_password

# RFC 7677, section 3
PASSWORD = "pencil"
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def hmac256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def fields(message: bytes) -> dict[str, str]:
    return dict(part.split("=", 1) for part in message.decode().split(","))


class Server:
    """The server side of SCRAM-SHA-256, from RFC 5802 section 3, knowing only StoredKey and ServerKey."""

    def __init__(self, password: str, salt: bytes, iterations: int, nonce_tail: str = "%server-nonce") -> None:
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        self.stored_key = hashlib.sha256(hmac256(salted, b"Client Key")).digest()
        self.server_key = hmac256(salted, b"Server Key")
        self.salt, self.iterations, self.nonce_tail = salt, iterations, nonce_tail

    def first(self, client_first: bytes) -> bytes:
        assert client_first.startswith(b"n,,"), "no channel binding"
        self.client_first_bare = client_first[3:]
        nonce = fields(self.client_first_bare)["r"]
        salt = base64.b64encode(self.salt).decode()
        self.server_first = f"r={nonce}{self.nonce_tail},s={salt},i={self.iterations}".encode()
        return self.server_first

    def final(self, client_final: bytes) -> bytes | None:
        """The server-final message, or None when the client's proof does not verify."""
        without_proof, _, proof = client_final.rpartition(b",p=")
        f = fields(without_proof)
        if f["c"] != "biws" or f["r"] != fields(self.server_first)["r"]:
            return None
        auth_message = b",".join([self.client_first_bare, self.server_first, without_proof])
        client_key = xor(base64.b64decode(proof), hmac256(self.stored_key, auth_message))
        if hashlib.sha256(client_key).digest() != self.stored_key:
            return None
        return b"v=" + base64.b64encode(hmac256(self.server_key, auth_message))


def expected(user: str, password: str, client_nonce: str, server_first: bytes) -> tuple[bytes, bytes]:
    """(client-final, server-final) computed straight from RFC 5802's formulas."""
    f = fields(server_first)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(f["s"]), int(f["i"]))
    client_key = hmac256(salted, b"Client Key")
    without_proof = f"c=biws,r={f['r']}".encode()
    auth_message = b",".join([f"n={user},r={client_nonce}".encode(), server_first, without_proof])
    proof = xor(client_key, hmac256(hashlib.sha256(client_key).digest(), auth_message))
    server_signature = hmac256(hmac256(salted, b"Server Key"), auth_message)
    return without_proof + b",p=" + base64.b64encode(proof), b"v=" + base64.b64encode(server_signature)


def test_the_formulas_here_reproduce_rfc_7677() -> None:
    assert expected("user", PASSWORD, CLIENT_NONCE, SERVER_FIRST) == (RFC_CLIENT_FINAL, RFC_SERVER_FINAL)


def test_client_messages_for_the_rfc_exchange_with_postgres_empty_user() -> None:
    client = ScramClient(PASSWORD, nonce=CLIENT_NONCE)
    assert MECHANISM == "SCRAM-SHA-256"
    assert client.first() == b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
    client_final, server_final = expected("", PASSWORD, CLIENT_NONCE, SERVER_FIRST)
    assert client.final(SERVER_FIRST) == client_final
    assert client_final != RFC_CLIENT_FINAL, "the empty user name changes the proof"
    client.verify(server_final)
    with pytest.raises(ScramError):
        client.verify(RFC_SERVER_FINAL)  # the RFC's signature is for "n=user", not for what was sent


def test_a_server_that_knows_the_password_accepts_the_proof_and_is_accepted() -> None:
    server = Server(PASSWORD, base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    client = ScramClient(PASSWORD)
    server_final = server.final(client.final(server.first(client.first())))
    assert server_final is not None
    client.verify(server_final)


@settings(max_examples=30, deadline=None)
@given(
    password=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    other=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    salt=st.binary(min_size=0, max_size=32),
    iterations=st.integers(1, 8),
)
def test_proofs_verify_only_with_the_right_password(password: str, other: str, salt: bytes, iterations: int) -> None:
    client = ScramClient(password)
    server = Server(password, salt, iterations)
    server_final = server.final(client.final(server.first(client.first())))
    assert server_final is not None
    client.verify(server_final)
    if other != password:
        client = ScramClient(other)
        impostor = Server(password, salt, iterations)
        assert impostor.final(client.final(impostor.first(client.first()))) is None


def test_a_fresh_nonce_each_time() -> None:
    nonces = {fields(ScramClient("x").first()[3:])["r"] for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(base64.b64decode(n)) == 18 for n in nonces)


def test_wrong_server_signature_is_refused() -> None:
    server = Server(PASSWORD, b"salt", 2)
    client = ScramClient(PASSWORD)
    good = server.final(client.final(server.first(client.first())))
    assert good is not None
    forged = b"v=" + base64.b64encode(xor(base64.b64decode(good[2:]), b"\x01" + b"\x00" * 31))
    with pytest.raises(ScramError, match="does not verify"):
        client.verify(forged)
    # a server that does not know the password cannot produce the signature either
    other = Server("not-the-password", b"salt", 2)
    client = ScramClient(PASSWORD)
    client.final(other.first(client.first()))
    signature = base64.b64encode(hmac256(other.server_key, b"anything"))
    with pytest.raises(ScramError):
        client.verify(b"v=" + signature)


def test_verify_before_final_is_refused() -> None:
    with pytest.raises(ScramError):
        ScramClient(PASSWORD).verify(RFC_SERVER_FINAL)


def test_server_error_is_reported() -> None:
    client = ScramClient(PASSWORD, nonce=CLIENT_NONCE)
    client.final(SERVER_FIRST)
    with pytest.raises(ScramError, match="invalid-proof"):
        client.verify(b"e=invalid-proof")


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # the nonce is not extended
        b"r=XXprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # a different nonce
        b"r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # shorter than the client's
        b"r=%hvYDrOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # client nonce not at the start
    ],
)
def test_server_nonce_must_extend_the_client_nonce(server_first: bytes) -> None:
    with pytest.raises(ScramError, match="nonce"):
        ScramClient(PASSWORD, nonce=CLIENT_NONCE).final(server_first)


@pytest.mark.parametrize(
    "server_first",
    [
        b"",
        b"garbage",
        b"r=rOprNGfwEbeRWgbNEkqO%x,i=4096",  # no salt
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=W22ZaJ0SNY7soEsUEjb6gQ==",  # no iterations
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # no nonce
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=not base64!,i=4096",
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=many",
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
        b"r=rOprNGfwEbeRWgbNEkqO%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001",
        b"r=rOprNGfwEbeRWgbNEkqO%x\xff,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  # not UTF-8
    ],
)
def test_malformed_server_first_is_a_scram_error(server_first: bytes) -> None:
    with pytest.raises(ScramError):
        ScramClient(PASSWORD, nonce=CLIENT_NONCE).final(server_first)


@pytest.mark.parametrize("server_final", [b"", b"v", b"v=not base64!", b"x=abc", b"v=\xff\xfe", b"e"])
def test_malformed_server_final_is_a_scram_error(server_final: bytes) -> None:
    client = ScramClient(PASSWORD, nonce=CLIENT_NONCE)
    client.final(SERVER_FIRST)
    with pytest.raises(ScramError):
        client.verify(server_final)


@given(st.binary(max_size=200))
def test_fuzzed_server_first_raises_only_scram_error(data: bytes) -> None:
    try:
        ScramClient(PASSWORD, nonce=CLIENT_NONCE).final(data)
    except ScramError:
        pass


def usable_count(text: str) -> bool:
    try:
        return 1 <= int(text) <= 10_000_000
    except ValueError:
        return False


_B64 = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())


@given(
    tail=st.text(max_size=10),
    salt=st.one_of(_B64, st.text(max_size=10)),
    iterations=st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=10_000_001),
        st.text(max_size=5).filter(lambda t: not usable_count(t)),
    ),
    extra=st.lists(st.text(max_size=8).filter(lambda t: t[:2] not in ("r=", "s=", "i=")), max_size=3),
)
def test_fuzzed_structured_server_first_raises_only_scram_error(
    tail: str, salt: str, iterations: int | str, extra: list[str]
) -> None:
    message = ",".join([f"r={CLIENT_NONCE}{tail}", f"s={salt}", f"i={iterations}", *extra])
    with pytest.raises(ScramError):
        ScramClient(PASSWORD, nonce=CLIENT_NONCE).final(message.encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=200))
def test_fuzzed_server_final_raises_scram_error(data: bytes) -> None:
    client = ScramClient(PASSWORD, nonce=CLIENT_NONCE)
    client.final(SERVER_FIRST)
    with pytest.raises(ScramError):
        client.verify(data)


def test_password_is_saslprepped() -> None:
    # RFC 4013 examples: the soft hyphen maps to nothing; NFKC maps the Roman numeral nine to "IX"
    finals = {ScramClient(p, nonce=CLIENT_NONCE).final(SERVER_FIRST) for p in ("IX", "I\u00adX", "\u2168")}
    assert len(finals) == 1
    assert ScramClient("IX", nonce=CLIENT_NONCE).final(SERVER_FIRST) != ScramClient("ix", nonce=CLIENT_NONCE).final(
        SERVER_FIRST
    )


def test_repr_hides_the_password() -> None:
    client = ScramClient("s3cret-canary", nonce=CLIENT_NONCE)
    client.final(SERVER_FIRST)
    for text in (repr(client), str(client), f"{client!r} {client}"):
        assert "s3cret-canary" not in text
        assert "pencil" not in text


def test_md5_password_follows_the_postgres_formula() -> None:
    salt = b"\x01\x02\x03\x04"
    inner = hashlib.md5(b"secret" + b"alice").hexdigest()
    want = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
    assert md5_password("secret", "alice", salt) == want
    assert len(want) == 35 and want.startswith("md5")
    assert md5_password("secret", "alice", b"\x01\x02\x03\x05") != want, "the salt matters"
    assert md5_password("secret", "bob", salt) != want, "the user name is part of the hash"
    assert md5_password("secreT", "alice", salt) != want
