"""Pure helpers for the authentication plugins: computing what a client sends (mysql_native_password and
caching_sha2_password scrambles, the RSA-encrypted password of caching_sha2_password's full authentication)
and checking or reading what a client sent (the gateway side of mysql_clear_password and of
caching_sha2_password's full authentication over TLS).

Nonces are the 20 bytes of scramble, without the NUL that ends them on the wire. This module depends on the
standard library; :func:`rsa_encrypt_password` imports ``cryptography`` when it is called.
"""

from __future__ import annotations

import hashlib
import hmac

from .wire import ProtocolError, to_text

__all__ = [
    "CACHING_SHA2_PASSWORD",
    "MYSQL_CLEAR_PASSWORD",
    "MYSQL_NATIVE_PASSWORD",
    "SHA256_PASSWORD",
    "caching_sha2_scramble",
    "clear_password",
    "native_password_hash",
    "native_scramble",
    "read_clear_password",
    "read_full_auth_password",
    "rsa_encrypt_password",
    "sha2_password_hash",
    "verify_caching_sha2_scramble",
    "verify_native_scramble",
    "xor_password",
]

MYSQL_NATIVE_PASSWORD = "mysql_native_password"
CACHING_SHA2_PASSWORD = "caching_sha2_password"
MYSQL_CLEAR_PASSWORD = "mysql_clear_password"
SHA256_PASSWORD = "sha256_password"  # over TLS the client sends the password like mysql_clear_password


def _secret(password: str | bytes) -> bytes:
    return password.encode() if isinstance(password, str) else password


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def native_scramble(password: str | bytes, nonce: bytes) -> bytes:
    """mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty for no password."""
    secret = _secret(password)
    if not secret:
        return b""
    stage1 = hashlib.sha1(secret).digest()  # noqa: S324  (the protocol's hash)
    stage2 = hashlib.sha1(stage1).digest()  # noqa: S324
    return _xor(stage1, hashlib.sha1(nonce + stage2).digest())  # noqa: S324


def native_password_hash(password: str | bytes) -> bytes:
    """SHA1(SHA1(password)): what a server stores for mysql_native_password (20 bytes)."""
    return hashlib.sha1(hashlib.sha1(_secret(password)).digest()).digest()  # noqa: S324


def verify_native_scramble(scramble: bytes, nonce: bytes, password_hash: bytes) -> bool:
    """Check a mysql_native_password scramble against the stored SHA1(SHA1(password))."""
    if len(scramble) != 20 or len(password_hash) != 20:
        return False
    stage1 = _xor(scramble, hashlib.sha1(nonce + password_hash).digest())  # noqa: S324
    return hmac.compare_digest(hashlib.sha1(stage1).digest(), password_hash)  # noqa: S324


def caching_sha2_scramble(password: str | bytes, nonce: bytes) -> bytes:
    """caching_sha2_password's fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce); empty for none."""
    secret = _secret(password)
    if not secret:
        return b""
    stage1 = hashlib.sha256(secret).digest()
    stage2 = hashlib.sha256(stage1).digest()
    return _xor(stage1, hashlib.sha256(stage2 + nonce).digest())


def sha2_password_hash(password: str | bytes) -> bytes:
    """SHA256(SHA256(password)): what caching_sha2_password keeps in its cache (32 bytes)."""
    return hashlib.sha256(hashlib.sha256(_secret(password)).digest()).digest()


def verify_caching_sha2_scramble(scramble: bytes, nonce: bytes, password_hash: bytes) -> bool:
    """Check a caching_sha2_password fast-path scramble against the cached SHA256(SHA256(password))."""
    if len(scramble) != 32 or len(password_hash) != 32:
        return False
    stage1 = _xor(scramble, hashlib.sha256(password_hash + nonce).digest())
    return hmac.compare_digest(hashlib.sha256(stage1).digest(), password_hash)


def xor_password(password: str | bytes, nonce: bytes) -> bytes:
    """The password and a NUL, XORed with the nonce (repeated): what caching_sha2_password encrypts."""
    if not nonce:
        raise ValueError("the nonce must not be empty")
    data = _secret(password) + b"\0"
    return bytes(byte ^ nonce[index % len(nonce)] for index, byte in enumerate(data))


def rsa_encrypt_password(password: str | bytes, nonce: bytes, pem: bytes) -> bytes:
    """caching_sha2_password full authentication without TLS: :func:`xor_password` encrypted with the
    server's RSA public key (PEM, as sent in AuthMoreData) using OAEP with SHA-1."""
    from cryptography.hazmat.primitives import hashes, serialization  # imported here: the codec stays stdlib-only
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the server's public key is not an RSA key")
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    return key.encrypt(xor_password(password, nonce), oaep)


def clear_password(password: str | bytes) -> bytes:
    """What a client sends for mysql_clear_password, or for caching_sha2_password's full authentication
    over TLS: the password and a NUL."""
    secret = _secret(password)
    if b"\0" in secret:
        raise ValueError("the password contains a NUL")
    return secret + b"\0"


def read_clear_password(data: bytes) -> str:
    """The gateway side of mysql_clear_password: the password (a gateway token) from the client's
    NUL-terminated auth data. ProtocolError if the terminator is missing or the data holds another NUL."""
    if not data.endswith(b"\0") or b"\0" in data[:-1]:
        raise ProtocolError("a clear-text password must be one NUL-terminated string", 1045, "28000")
    return to_text(data[:-1])


def read_full_auth_password(data: bytes) -> str:
    """The gateway side of caching_sha2_password's full authentication over TLS (after AuthMoreData 0x04):
    the client sends the password and a NUL in clear, inside the TLS session."""
    return read_clear_password(data)
