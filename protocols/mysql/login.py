"""The gateway's side of a MySQL login, sans-IO: the greeting it sends, and how it gets the client's token.

The client logs in with its identity name as the user, its gateway token as the password and the connection's
name as the database. The gateway stores tokens only as bcrypt hashes, so it cannot check a scramble: it needs the
token itself, and gets it the ways MySQL servers get a password they must see:

* ``mysql_clear_password`` (the client sent it with its login): the token in the auth data;
* ``caching_sha2_password``: the gateway always asks for *full authentication* (AuthMoreData 0x04). Inside TLS
  the client then sends the token and a NUL; on a plaintext connection it asks for the gateway's RSA public key
  (0x02) and sends the token XOR the nonce, encrypted with it (OAEP), which the gateway decrypts, or it sends
  the token in clear (mysql-connector-python does; the client leg allowed plaintext, see below);
* any other plugin (``mysql_native_password``, ...): an AuthSwitchRequest to ``caching_sha2_password``.

Plaintext connections (no TLS) may log in only from loopback unless ``client_tls: optional`` (the client side
checks that before it calls :meth:`Login.hello`). The token never reaches a log or an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .auth import CACHING_SHA2_PASSWORD, MYSQL_CLEAR_PASSWORD, read_clear_password, read_full_auth_password
from .handshake import AuthMoreData, AuthSwitchRequest, HandshakeResponse41, HandshakeV10
from .wire import Capability, ProtocolError, to_text

C = Capability
#: What the gateway offers a client. The upstream leg asks the server for the same format-changing bits, so the
#: relay can forward result packets byte for byte. Not offered: compression, query attributes (MySQL 8 only),
#: optional result-set metadata and MariaDB's extended capabilities (bit 0 is set: the gateway speaks as MySQL).
OFFERED = int(
    C.LONG_PASSWORD | C.FOUND_ROWS | C.LONG_FLAG | C.CONNECT_WITH_DB | C.ODBC | C.LOCAL_FILES | C.IGNORE_SPACE
    | C.PROTOCOL_41 | C.INTERACTIVE | C.IGNORE_SIGPIPE | C.TRANSACTIONS | C.SECURE_CONNECTION
    | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.PS_MULTI_RESULTS | C.PLUGIN_AUTH | C.CONNECT_ATTRS
    | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.SESSION_TRACK | C.DEPRECATE_EOF
)  # fmt: skip
#: MariaDB's form ("5.5.5-" and the real version): MySQL 8 clients then neither assume MySQL 8 collations
#: (utf8mb4_0900_ai_ci, unknown to MariaDB) nor other MySQL-8-only behaviour the upstream may not have.
SERVER_VERSION = "5.5.5-10.11.99-interceptor"
CHARSET = 45  # utf8mb4_general_ci
_FULL_AUTH = b"\x04"
_PUBLIC_KEY_REQUEST = b"\x02"
ER_ACCESS_DENIED = 1045
ER_HANDSHAKE = 1043  # ER_HANDSHAKE_ERROR, 08S01


class LoginError(ProtocolError):
    """The login cannot go on; ``errno``/``sqlstate``/message go to the client in an ERR packet."""


@dataclass(frozen=True, slots=True)
class Token:
    """The client's token, read from its auth data."""

    value: str


class Login:
    """One client's login. :meth:`greeting` gives the first packet's payload; :meth:`hello` takes the
    HandshakeResponse41 and :meth:`reply` each later auth packet. Each returns the payload to send next, or a
    :class:`Token` when the token is known."""

    def __init__(self, connection_id: int, tls: bool, rsa_key: Any) -> None:
        self.nonce = _nonce()
        self.connection_id = connection_id
        self.tls = tls  # the session is inside TLS by the time the login packet comes
        self._rsa = rsa_key  # a cryptography RSAPrivateKey, for clients that encrypt the token with it
        self.response: HandshakeResponse41 | None = None
        self._state = "hello"

    def greeting(self, offered: int) -> bytes:
        return HandshakeV10(
            SERVER_VERSION, self.connection_id, self.nonce, offered, CHARSET, 0x0002, CACHING_SHA2_PASSWORD
        ).encode()

    def hello(self, response: HandshakeResponse41) -> bytes | Token:
        self.response = response
        plugin = response.auth_plugin_name or CACHING_SHA2_PASSWORD
        if plugin == MYSQL_CLEAR_PASSWORD and response.auth_response:
            return Token(read_clear_password(response.auth_response))
        if plugin == CACHING_SHA2_PASSWORD:
            self._state = "full"
            return AuthMoreData(_FULL_AUTH).encode()
        self._state = "switched"
        self.nonce = _nonce()
        return AuthSwitchRequest(CACHING_SHA2_PASSWORD, self.nonce + b"\0").encode()

    def reply(self, payload: bytes) -> bytes | Token:
        state = self._state
        if state == "switched":  # the client's caching_sha2 scramble after the switch: ask for full auth
            self._state = "full"
            return AuthMoreData(_FULL_AUTH).encode()
        if state == "full":
            if payload == _PUBLIC_KEY_REQUEST and not self.tls:
                self._state = "encrypted"
                return AuthMoreData(_public_pem(self._rsa)).encode()
            # the token in clear: inside TLS, or on a plaintext connection the client leg allowed (loopback, or
            # client_tls: optional); it refuses every other plaintext login before the login packet is read
            return Token(read_full_auth_password(payload))
        if state == "encrypted":
            return _decrypt(self._rsa, payload, self.nonce)
        raise LoginError("unexpected packet during login", ER_HANDSHAKE, "08S01")


def _nonce() -> bytes:
    # 20 bytes with no NUL (clients read part 2 of the scramble as a NUL-terminated string)
    return bytes((b % 255) + 1 for b in os.urandom(20))


def _public_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _decrypt(key: Any, payload: bytes, nonce: bytes) -> Token:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    try:
        plain = key.decrypt(payload, oaep)
    except ValueError:
        raise LoginError("the encrypted token could not be read", ER_ACCESS_DENIED, "28000") from None
    secret = bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(plain))  # undo the client's XOR with the nonce
    if not secret.endswith(b"\0"):
        raise LoginError("the encrypted token could not be read", ER_ACCESS_DENIED, "28000")
    return Token(to_text(secret[:-1]))


def new_rsa_key() -> Any:
    """The gateway's key pair for caching_sha2_password's RSA exchange (made once per process)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
