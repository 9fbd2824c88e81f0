"""Detectors: find card numbers, US SSNs, emails, IBANs and phone numbers in free text.

:func:`compile_detector` builds (and caches) one :class:`Detector` per set of kinds. Most values hold nothing a
detector could find, so cheap gates come first: the number of digits (a card needs 13, an SSN 9 and a dash, a
phone number 8 and a ``+``, or 10 and a dash), an ``@`` for emails, ``[A-Z]{2}[0-9]{2}`` for IBANs. Only a kind
whose gate passes runs its compiled regular expression (one pass each; separate patterns measured faster than one
combined alternation, 8 against 13 µs on a 50-character value, and no kind can hide inside another's failed
candidate). Candidates are then validated in Python:

``credit_card``
    13 to 19 digits, in groups joined by single spaces or dashes, passing the Luhn check, never part of a longer
    digit run. A longer sequence of groups is searched for the longest valid run of whole groups.
``us_ssn``
    ``AAA-GG-SSSS`` (or 9 bare digits when they are the whole value), without area 000, 666 or 900-999, group 00
    or serial 0000.
``email``
    a pragmatic ``local@domain.tld`` (``*`` is not a local-part character here, so a masked ``a***@x.org`` is not
    an email again).
``iban``
    a country code, 2 check digits and 11 to 30 letters or digits (upper case; spaces allowed between groups of
    4), valid mod 97. For a country of the IBAN registry, the first characters of the country's IBAN length
    are checked (so trailing text does not hide an IBAN); for any other country, the whole candidate.
``phone``
    E.164 (``+`` and 8 to 15 digits, single spaces or dashes allowed) and the NANP forms ``(555) 555-5555``,
    ``(555)555-5555`` and ``555-555-5555``.

Digits are Unicode decimal digits (``\\d``), so full-width digits are no way around a detector. A hash marker
written by the ``hash`` strategy (``h:`` and 16 lower-case hex digits) is opaque: nothing is detected inside it.

Every kind scans the whole text, so ``123-45-6789 4111 1111 1111 1111`` yields an SSN and a card. Overlapping
spans are merged (the longest at the earliest start names the kind), so found spans never overlap.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

__all__ = ["KINDS", "Detector", "Span", "compile_detector", "iban_valid", "luhn_valid", "ssn_valid"]

KINDS = ("credit_card", "us_ssn", "email", "iban", "phone")


class Span(NamedTuple):
    """A sensitive substring: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str


# One pattern per kind; each starts with a look-behind (or a rare character) so that a failed attempt costs O(1)
# inside a token, and every pattern is linear in the length of the text.
_PATTERNS = {
    "email": r"(?<![\w.%+-])[\w.%+-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}",
    "iban": r"(?<![A-Z0-9])[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)",
    "phone": r"(?:\+\d(?:[ -]?\d){7,14}|(?<!\d)(?:\(\d{3}\) ?|\d{3}-)\d{3}-\d{4})(?!\d)",
    "us_ssn": r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)",
    "credit_card": r"(?<!\d)\d(?:[ -]?\d){12,}(?!\d)",
}
_DIGIT_RUN = re.compile(r"\d+")
_HASH_MARKER = re.compile(r"h:[0-9a-f]{16}(?![0-9A-Za-z])")
_OPAQUE = "h:" + "x" * 16
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_SSN_BARE = re.compile(r"[0-9]{9}")
_LETTER_VALUES = {chr(c): str(c - 55) for c in range(65, 91)}
# IBAN length by country (the ISO 13616 registry); a candidate from another country must be valid as a whole.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over decimal digits (any Unicode decimal digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """False for the numbers the SSA never issues: area 000, 666 or 900-999, group 00, serial 0000."""
    a = int(area)
    return a != 0 and a != 666 and a < 900 and int(group) != 0 and int(serial) != 0


def iban_valid(compact: str) -> bool:
    """The ISO 13616 mod-97 check over an upper-case IBAN without spaces (15 to 34 characters)."""
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(_LETTER_VALUES.get(c, c) for c in moved)) % 97 == 1
    except ValueError:
        return False


_Checker = Callable[[str, int, int], list[Span]]


def _check_plain(kind: str) -> _Checker:
    def check(text: str, start: int, end: int) -> list[Span]:
        return [Span(start, end, kind)]

    return check


def _check_ssn(text: str, start: int, end: int) -> list[Span]:
    area, group, serial = text[start:end].split("-")
    return [Span(start, end, "us_ssn")] if ssn_valid(area, group, serial) else []


def _check_iban(text: str, start: int, end: int) -> list[Span]:
    positions = [i for i in range(start, end) if text[i] != " "]
    compact = "".join(text[i] for i in positions)
    length = _IBAN_LENGTHS.get(compact[:2], len(compact))
    if length <= len(compact) and iban_valid(compact[:length]):
        return [Span(start, positions[length - 1] + 1, "iban")]
    return []


def _check_card(
    text: str, start: int, end: int, taken: Sequence[Span] = (), taken_ends: Sequence[int] = ()
) -> list[Span]:
    """The longest Luhn-valid run of whole groups with 13 to 19 digits, leftmost first, then the rest. A group
    inside a span another kind already took splits the sequence there (so an SSN and a card side by side are
    both found, whatever Luhn says about the digits across them).

    Luhn sums are kept incrementally for both parities, so a long run of groups costs O(19) per group."""
    groups = [(m.start(), m.end(), [int(c) for c in m.group()]) for m in _DIGIT_RUN.finditer(text, start, end)]
    blocked: list[bool] = []
    if taken:  # sorted and disjoint: one sweep
        k = bisect_right(taken_ends, start)
        for g_start, g_end, _ in groups:
            while k < len(taken) and taken[k].end <= g_start:
                k += 1
            blocked.append(k < len(taken) and taken[k].start < g_end)
    found: list[Span] = []
    i, n = 0, len(groups)
    while i < n:
        best = -1
        length = even = odd = 0  # Luhn sums doubling the digits at even / odd positions from the left
        for j in range(i, n):
            digits = groups[j][2]
            if length + len(digits) > 19 or (blocked and blocked[j]):
                break
            for d in digits:
                if length & 1:
                    even, odd = even + d, odd + _DOUBLED[d]
                else:
                    even, odd = even + _DOUBLED[d], odd + d
                length += 1
            if length >= 13 and (even if length % 2 == 0 else odd) % 10 == 0:
                best = j
        if best < 0:
            i += 1
            continue
        found.append(Span(groups[i][0], groups[best][1], "credit_card"))
        i = best + 1
    return found


_CHECKERS: dict[str, _Checker] = {
    "email": _check_plain("email"),
    "phone": _check_plain("phone"),
    "iban": _check_iban,
    "us_ssn": _check_ssn,
    "credit_card": _check_card,
}


_IBAN_GATE = re.compile(r"[A-Z]{2}[0-9]{2}")
_IBAN_GATE_BYTES = re.compile(rb"[A-Z]{2}[0-9]{2}")
# Cheap gates, checked before a kind's regular expression runs: (kind, fewest digits, test of text and digits).
_GATES: tuple[tuple[str, int, Callable[[str, int], bool]], ...] = (
    ("email", 0, lambda t, d: "@" in t),
    ("iban", 2, lambda t, d: _IBAN_GATE.search(t) is not None),
    ("phone", 8, lambda t, d: "+" in t or (d >= 10 and "-" in t)),
    ("us_ssn", 9, lambda t, d: "-" in t),
    ("credit_card", 13, lambda t, d: True),
)
_ASCII_DIGITS = b"0123456789"
_ANY_DIGIT = re.compile(r"\d")


class Detector:
    """Finds sensitive spans of the given kinds. Built once per set of kinds (see :func:`compile_detector`)."""

    __slots__ = ("_bare_ssn", "_iban", "_min_digits", "_plan", "email", "kinds")

    def __init__(self, kinds: Iterable[str]) -> None:
        wanted = frozenset(kinds)
        unknown = wanted - set(KINDS)
        if unknown:
            raise ValueError(f"unknown detector(s): {', '.join(sorted(unknown))}")
        self.kinds = tuple(k for k in KINDS if k in wanted)
        self._plan = tuple((k, n, gate, re.compile(_PATTERNS[k])) for k, n, gate in _GATES if k in wanted)
        self._bare_ssn = "us_ssn" in wanted
        self.email = "email" in wanted
        self._iban = "iban" in wanted
        digit_kinds = [n for k, n, _ in _GATES if k in wanted and k not in ("email", "iban")]
        self._min_digits = min(digit_kinds) if digit_kinds else 1 << 30

    def may_match(self, value: bytes) -> bool:
        """False when encoded text ``value`` cannot hold anything this detector finds (too few digits, no ``@``);
        costs well under a microsecond. Any non-ASCII byte counts as a maybe (it may be a Unicode digit)."""
        if not value.isascii():
            return True
        digits = len(value) - len(value.translate(None, _ASCII_DIGITS))
        if digits >= self._min_digits or (self.email and b"@" in value):
            return True
        return self._iban and digits >= 2 and _IBAN_GATE_BYTES.search(value) is not None

    def find(self, text: str) -> list[Span]:
        """Every sensitive span in ``text``, sorted, never overlapping."""
        if text.isascii():
            raw = text.encode("ascii")
            digits = len(raw) - len(raw.translate(None, _ASCII_DIGITS))
        else:
            digits = len(_ANY_DIGIT.findall(text))
        scan: str | None = None
        spans: list[Span] = []
        for kind, fewest, gate, pattern in self._plan:
            if digits < fewest or not gate(text, digits):
                continue
            if scan is None:
                scan = _HASH_MARKER.sub(_OPAQUE, text) if "h:" in text else text
            if kind == "credit_card":  # last: it leaves the groups other kinds took alone
                taken = _merge(spans[:]) if spans else []
                ends = [t.end for t in taken]
                for m in pattern.finditer(scan):
                    spans += _check_card(scan, m.start(), m.end(), taken, ends)
                continue
            check = _CHECKERS[kind]
            for m in pattern.finditer(scan):
                spans += check(scan, m.start(), m.end())
        if self._bare_ssn and digits == 9 and len(text) == 9 and _SSN_BARE.fullmatch(text):
            if ssn_valid(text[:3], text[3:5], text[5:]):
                spans.append(Span(0, 9, "us_ssn"))
        return _merge(spans) if len(spans) > 1 else spans


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans become one, of the kind of the longest at the earliest start."""
    spans.sort(key=lambda s: (s.start, -s.end))
    out = [spans[0]]
    for s in spans[1:]:
        last = out[-1]
        if s.start < last.end:
            if s.end > last.end:
                out[-1] = Span(last.start, s.end, last.kind)
        else:
            out.append(s)
    return out


@lru_cache(maxsize=64)
def compile_detector(kinds: frozenset[str]) -> Detector:
    """The detector for ``kinds`` (names from :data:`KINDS`), compiled once and cached."""
    return Detector(kinds)
