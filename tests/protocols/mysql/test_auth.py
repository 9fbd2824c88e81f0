"""Tests for the pure authentication helpers, against values computed here with hashlib and cryptography."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from interceptor.protocols.mysql.auth import (
    caching_sha2_scramble,
    clear_password,
    native_password_hash,
    native_scramble,
    read_clear_password,
    read_full_auth_password,
    rsa_encrypt_password,
    sha2_password_hash,
    verify_caching_sha2_scramble,
    verify_native_scramble,
    xor_password,
)
from interceptor.protocols.mysql.codec import ProtocolError
from tests.protocols.mysql.strategies import FAST

NONCE = bytes(range(1, 21))
passwords = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20)


def test_native_scramble_known_answer() -> None:
    # computed independently: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))
    stage1 = hashlib.sha1(b"secret").digest()
    mix = hashlib.sha1(NONCE + hashlib.sha1(stage1).digest()).digest()
    expected = bytes(a ^ b for a, b in zip(stage1, mix, strict=True))
    assert native_scramble("secret", NONCE) == expected
    assert expected.hex() == "b32bb3a583e1340c0a1108d58b1be49781ad8c2f"
    assert native_scramble("", NONCE) == b""
    assert native_password_hash("secret").hex() == "14e65567abdb5135d0cfd9a70b3032c179a49ee7"  # mysql PASSWORD()


def test_caching_sha2_scramble_known_answer() -> None:
    stage1 = hashlib.sha256(b"secret").digest()
    mix = hashlib.sha256(hashlib.sha256(stage1).digest() + NONCE).digest()
    assert caching_sha2_scramble(b"secret", NONCE) == bytes(a ^ b for a, b in zip(stage1, mix, strict=True))
    assert caching_sha2_scramble("", NONCE) == b""


@FAST
@given(passwords, passwords, st.binary(min_size=20, max_size=20))
def test_verifiers_accept_the_right_password_only(password: str, other: str, nonce: bytes) -> None:
    assert verify_native_scramble(native_scramble(password, nonce), nonce, native_password_hash(password))
    assert verify_caching_sha2_scramble(caching_sha2_scramble(password, nonce), nonce, sha2_password_hash(password))
    if other != password:
        assert not verify_native_scramble(native_scramble(other, nonce), nonce, native_password_hash(password))
        assert not verify_caching_sha2_scramble(
            caching_sha2_scramble(other, nonce), nonce, sha2_password_hash(password)
        )
    assert not verify_native_scramble(b"", nonce, native_password_hash(password))
    assert not verify_caching_sha2_scramble(b"x" * 31, nonce, sha2_password_hash(password))


def test_rsa_path() -> None:
    assert xor_password("ab", b"\x01\x02") == bytes((ord("a") ^ 1, ord("b") ^ 2, 0 ^ 1))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    encrypted = rsa_encrypt_password("s3cret", NONCE, pem)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    plain = key.decrypt(encrypted, oaep)
    assert bytes(b ^ NONCE[i % 20] for i, b in enumerate(plain)) == b"s3cret\0"
    with pytest.raises(ValueError):
        xor_password("x", b"")


@FAST
@given(passwords)
def test_clear_passwords(password: str) -> None:
    assert read_clear_password(clear_password(password)) == password
    assert read_full_auth_password(clear_password(password)) == password


def test_clear_password_framing_is_strict() -> None:
    for bad in (b"", b"token", b"tok\0en\0", b"\0\0"):
        with pytest.raises(ProtocolError) as info:
            read_clear_password(bad)
        assert info.value.errno == 1045
    assert read_clear_password(b"\0") == ""
    with pytest.raises(ValueError):
        clear_password("a\0b")
