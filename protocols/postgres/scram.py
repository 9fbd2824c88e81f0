"""SCRAM-SHA-256 client side (RFC 5802 / RFC 7677), as PostgreSQL speaks it. Pure: no sockets, no Twisted.

The gateway uses this to log in upstream with the vaulted password. Channel binding is not used (``n,,``), which
is what libpq does with ``channel_binding=prefer`` when the server offers plain SCRAM-SHA-256. The server's final
signature is always verified, so a server that does not know the password cannot pretend to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata

MECHANISM = "SCRAM-SHA-256"


class ScramError(Exception):
    """The server's SCRAM messages were malformed or its proof did not verify."""


def _saslprep(password: str) -> str:
    # PostgreSQL applies SASLprep when the password is valid UTF-8 and prepares cleanly, else uses it raw. NFKC
    # normalisation and the removal of the "commonly mapped to nothing" set cover what real passwords contain.
    mapped = "".join(" " if unicodedata.category(c) == "Zs" else c for c in password if c not in "\u00ad\u200b")
    return unicodedata.normalize("NFKC", mapped)


def _parse(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
        return {part[0]: part[2:] for part in text.split(",") if len(part) >= 2 and part[1] == "="}
    except UnicodeDecodeError as e:
        raise ScramError("SCRAM message is not UTF-8") from e


class ScramClient:
    """One SCRAM exchange: ``first()``, then ``final(server_first)``, then ``verify(server_final)``."""

    def __init__(self, password: str, nonce: str | None = None) -> None:
        self._password = _saslprep(password).encode("utf-8")
        self._nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self._first_bare = f"n=,r={self._nonce}"
        self._server_signature: bytes | None = None

    def __repr__(self) -> str:
        return "ScramClient(<redacted>)"

    def first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        fields = _parse(server_first)
        try:
            nonce, salt, iterations = fields["r"], base64.b64decode(fields["s"], validate=True), int(fields["i"])
        except (KeyError, ValueError) as e:
            raise ScramError("malformed SCRAM server-first message") from e
        if not nonce.startswith(self._nonce) or len(nonce) <= len(self._nonce):
            raise ScramError("SCRAM server nonce does not extend the client nonce")
        if not 1 <= iterations <= 10_000_000:
            raise ScramError("SCRAM iteration count out of range")
        salted = hashlib.pbkdf2_hmac("sha256", self._password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        fields = _parse(server_final)
        if "e" in fields:
            raise ScramError(f"server refused SCRAM: {fields['e']}")
        try:
            got = base64.b64decode(fields["v"], validate=True)
        except (KeyError, ValueError) as e:
            raise ScramError("malformed SCRAM server-final message") from e
        if self._server_signature is None or not hmac.compare_digest(got, self._server_signature):
            raise ScramError("upstream server's SCRAM signature does not verify")


def md5_password(password: str, user: str, salt: bytes) -> str:
    """PostgreSQL's md5 method: ``"md5" + md5(md5(password + user) + salt)``."""
    inner = hashlib.md5(password.encode() + user.encode(), usedforsecurity=False).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt, usedforsecurity=False).hexdigest()
