"""Strategies: markers, partial shapes, keyed hashes, and idempotence on their own output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.masking.detectors import KINDS, compile_detector
from interceptor.masking.strategies import (
    MARKERS,
    REDACTED,
    hash_text,
    is_hash,
    partial_span,
    partial_value,
    span_masker,
    value_masker,
)

KEY = b"k" * 32
ALL = compile_detector(frozenset(KINDS))


def test_redact_markers_keep_the_kind() -> None:
    mask = span_masker("redact", KEY)
    assert [mask(k, "x") for k in KINDS] == ["[card]", "[ssn]", "[email]", "[iban]", "[phone]"]
    assert value_masker("redact", KEY)("anything") == REDACTED
    assert all(ALL.find(m) == [] for m in [*MARKERS.values(), REDACTED])


@pytest.mark.parametrize(
    ("kind", "text", "out"),
    [
        ("credit_card", "4111111111111111", "************1111"),
        ("credit_card", "4111 1111 1111 1111", "**** **** **** 1111"),
        ("us_ssn", "123-45-6789", "***-**-6789"),
        ("phone", "(555) 555-1234", "(***) ***-1234"),
        ("phone", "+14155552671", "+*******2671"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "**** **** **** **** **54 32"),
        ("email", "alice@example.com", "a***@example.com"),
    ],
)
def test_partial_spans(kind: str, text: str, out: str) -> None:
    assert partial_span(kind, text) == out
    assert ALL.find(out) == []


@pytest.mark.parametrize(
    ("text", "out"), [("123-45-6789", "*******6789"), ("12345678", "****5678"), ("12345", "****5"), ("abcd", "****")]
)
def test_partial_values(text: str, out: str) -> None:
    assert partial_value(text) == out
    assert partial_value(out) == out


def test_hash_is_keyed_stable_and_normalised() -> None:
    h = span_masker("hash", KEY)
    a = h("credit_card", "4111 1111 1111 1111")
    assert a == h("credit_card", "4111-1111-1111-1111") == h("credit_card", "4111111111111111")
    assert a != span_masker("hash", b"other key")("credit_card", "4111111111111111")
    assert h("email", "Alice@Example.com") == h("email", "alice@example.com")
    assert is_hash(a) and len(a) == 18
    assert hash_text(KEY, "x") == hash_text(KEY, "x")


def test_whole_value_hash_is_idempotent() -> None:
    v = value_masker("hash", KEY)
    once = v("123-45-6789")
    assert v(once) == once


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown masking strategy"):
        span_masker("rot13", KEY)
    with pytest.raises(ValueError, match="unknown masking strategy"):
        value_masker("rot13", KEY)


@given(st.sampled_from(["redact", "partial", "hash"]), st.text())
def test_value_maskers_are_idempotent(strategy: str, text: str) -> None:
    mask = value_masker(strategy, KEY)
    once = mask(text)
    assert mask(once) == once
