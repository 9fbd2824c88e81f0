"""Strategies: what a sensitive value becomes. Pure functions of the value (and the deployment's key).

=========  ==========================================  ==============================================
strategy   a detected span                              a whole value (column rule)
=========  ==========================================  ==============================================
redact     a marker naming the kind: ``[card]``,        ``[redacted]``
           ``[ssn]``, ``[email]``, ``[iban]``,
           ``[phone]``
partial    every letter and digit but the last 4        every character but the last 4 becomes ``*``
           becomes ``*``, separators stay               (fewer are kept for short values: at most
           (``**** **** **** 1111``, ``***-**-6789``);  ``len - 4``, so a value of 4 or fewer
           an email keeps its first character and        characters becomes all ``*``)
           its domain (``a***@example.com``)
hash       ``h:`` and the first 16 hex digits of        the same, over the whole value
           HMAC-SHA256(key, value); a span is
           normalised first (digits and letters only,
           upper case; an email in lower case), so one
           card number hashes alike however written
=========  ==========================================  ==============================================

Every strategy is idempotent on its own output: a marker stays a marker, a partial value keeps its shape, a value
that already is a hash marker is left as it is, and ``[redacted]`` (also the engine's fail-closed replacement) is
left as it is by every whole-value strategy. No output triggers a detector (see :mod:`.detectors`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from interceptor.policy import STRATEGIES

__all__ = [
    "MARKERS",
    "REDACTED",
    "hash_text",
    "is_hash",
    "partial_span",
    "partial_value",
    "redact_span",
    "span_masker",
    "value_masker",
]

#: The ``redact`` marker for each detector kind.
MARKERS = {
    "credit_card": "[card]",
    "us_ssn": "[ssn]",
    "email": "[email]",
    "iban": "[iban]",
    "phone": "[phone]",
}
#: The ``redact`` marker for a whole value, and the fail-closed replacement for text the engine cannot read.
REDACTED = "[redacted]"
_HASH = re.compile(r"h:[0-9a-f]{16}")
_NOT_ALNUM = re.compile(r"[\W_]+")

#: A span masker takes the detector kind and the sensitive text and returns its replacement.
SpanMasker = Callable[[str, str], str]
#: A value masker takes a whole value (a column rule) and returns its replacement.
ValueMasker = Callable[[str], str]


def hash_text(key: bytes, text: str) -> str:
    """``h:`` and the first 16 hex digits of HMAC-SHA256(key, text): stable for one key, useless without it."""
    return "h:" + hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


def is_hash(text: str) -> bool:
    """True if ``text`` is exactly a hash marker."""
    return _HASH.fullmatch(text) is not None


def redact_span(kind: str, text: str) -> str:
    return MARKERS.get(kind, REDACTED)


def partial_span(kind: str, text: str) -> str:
    """Keep an email's first character and domain; of anything else keep only the last 4 letters or digits."""
    if kind == "email":
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    keep = 4
    out = []
    for ch in reversed(text):
        if ch.isalnum():
            if keep:
                keep -= 1
            else:
                ch = "*"
        out.append(ch)
    return "".join(reversed(out))


def partial_value(text: str) -> str:
    """Every character but the last 4 (at most ``len - 4``) becomes ``*``."""
    keep = min(4, max(0, len(text) - 4))
    return "*" * (len(text) - keep) + (text[-keep:] if keep else "")


def _normalise(kind: str, text: str) -> str:
    return text.lower() if kind == "email" else _NOT_ALNUM.sub("", text).upper()


def span_masker(strategy: str, key: bytes) -> SpanMasker:
    """The span masker for ``strategy`` (``redact``, ``partial`` or ``hash``)."""
    if strategy == "redact":
        return redact_span
    if strategy == "partial":
        return partial_span
    if strategy == "hash":
        return lambda kind, text: hash_text(key, _normalise(kind, text))
    raise ValueError(f"unknown masking strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def value_masker(strategy: str, key: bytes) -> ValueMasker:
    """The whole-value masker for ``strategy``; each is idempotent on its own output."""
    if strategy == "redact":
        return lambda text: REDACTED
    if strategy == "partial":
        return lambda text: text if text == REDACTED else partial_value(text)
    if strategy == "hash":
        return lambda text: text if text == REDACTED or is_hash(text) else hash_text(key, text)
    raise ValueError(f"unknown masking strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
