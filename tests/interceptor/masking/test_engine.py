"""The engine: mask_text, column rules, detection per column and per format, and the fail-closed paths."""

from __future__ import annotations

import json
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.masking.detectors import KINDS, compile_detector, luhn_valid
from interceptor.masking.engine import column_rule_matches, compile_rewriter, mask_text
from interceptor.model import Column
from interceptor.policy import MaskSpec

KEY = b"k" * 32
DETECT = MaskSpec((), frozenset(KINDS), "redact")
ALL = compile_detector(frozenset(KINDS))


def col(name: str, i: int = 0, oid: int | None = 25, table: str | None = None, source: str | None = None,
        binary: bool = False) -> Column:  # fmt: skip
    return Column(name, i, "" if oid is None else str(oid), table, 1 if table else 0, binary, source)


# --- mask_text ----------------------------------------------------------------------------------------------------


def test_mask_text() -> None:
    text = "ERROR: duplicate key (email)=(alice@example.com), card 4111 1111 1111 1111, ssn 123-45-6789"
    assert mask_text(text, DETECT, KEY) == "ERROR: duplicate key (email)=([email]), card [card], ssn [ssn]"
    partial = MaskSpec((), frozenset(KINDS), "partial")
    assert mask_text(text, partial, KEY).endswith("(a***@example.com), card **** **** **** 1111, ssn ***-**-6789")
    assert mask_text(text, MaskSpec(("*.ssn",)), KEY) == text  # no detectors: text passes
    assert mask_text("nothing here", DETECT, KEY) == "nothing here"


def test_partial_tail_joining_the_next_digits_is_masked_again() -> None:
    # the kept 1111 and the digits after it form a new Luhn-valid run: masking goes on until nothing is found
    spec = MaskSpec((), frozenset(KINDS), "partial")
    for tail in range(10):
        text = f"4111 1111 1111 1111 2222 3333 4444 {tail}"
        once = mask_text(text, spec, KEY)
        assert ALL.find(once) == []
        assert mask_text(once, spec, KEY) == once


# --- column rules -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "column", "hit"),
    [
        ("customers.card", col("c", table="public.customers", source="card"), True),
        ("public.customers.card", col("c", table="public.customers", source="card"), True),
        ("sales.customers.card", col("c", table="public.customers", source="card"), False),
        ("customers.card", col("card"), False),  # unresolved: the table is unknown
        ("customers.card", col("card", table="public.orders", source="card"), False),
        ("*.ssn", col("x", table="hr.people", source="ssn"), True),
        ("*.ssn", col("ssn"), True),  # name fallback
        ("*.ssn", col("SSN", table="hr.people", source="id"), True),  # the output name counts too
        ("ssn", col("ssn"), True),
        ("ssn", col("alias", table="hr.people", source="ssn"), True),
        ("ssn", col("ssn_hash"), False),
        ("ssn*", col("ssn_hash"), True),
        ("customers.*", col("anything", table="public.customers", source="zip"), True),
        ("cust*.card", col("c", table="public.customers", source="card"), True),
    ],
)
def test_column_rule_globs(pattern: str, column: Column, hit: bool) -> None:
    assert column_rule_matches([pattern], column) is hit


def test_column_rule_by_resolved_table_and_source() -> None:
    spec = MaskSpec(("customers.card",), frozenset(), "redact")
    cols = [col("id", 0, 23), col("number", 1, 25, "public.customers", "card")]
    rw = compile_rewriter(spec, cols, KEY)
    assert rw is not None
    assert rw([b"1", b"4111111111111111"]) == [b"1", b"[redacted]"]
    assert rw([b"1", None]) is None
    assert rw([b"1", b"[redacted]"]) is None  # already masked: unchanged


def test_column_rule_partial_and_hash() -> None:
    cols = [col("ssn", 0)]
    partial = compile_rewriter(MaskSpec(("*.ssn",), frozenset(), "partial"), cols, KEY)
    assert partial is not None and partial([b"123-45-6789"]) == [b"*******6789"]
    assert partial([b"*******6789"]) is None
    hashed = compile_rewriter(MaskSpec(("*.ssn",), frozenset(), "hash"), cols, KEY)
    assert hashed is not None
    out = hashed([b"123-45-6789"])
    assert out is not None and re.fullmatch(rb"h:[0-9a-f]{16}", out[0] or b"")
    assert hashed(out) is None


def test_column_rule_on_types_that_cannot_carry_text() -> None:
    spec = MaskSpec(("*.card",), frozenset(), "redact")
    text_int = compile_rewriter(spec, [col("card", 0, 20)], KEY)
    assert text_int is not None and text_int([b"4111111111111111"]) == [None]
    binary_int = compile_rewriter(spec, [col("card", 0, 20, binary=True)], KEY)
    assert binary_int is not None and binary_int([struct.pack("!q", 4111111111111111)]) == [None]
    binary_text = compile_rewriter(spec, [col("card", 0, 25, binary=True)], KEY)
    assert binary_text is not None and binary_text([b"4111111111111111"]) == [b"[redacted]"]


def test_column_rule_on_json_stays_json() -> None:
    spec = MaskSpec(("*.doc",), frozenset(), "redact")
    for oid, binary, prefix in ((114, False, b""), (3802, False, b""), (3802, True, b"\x01")):
        rw = compile_rewriter(spec, [col("doc", 0, oid, binary=binary)], KEY)
        assert rw is not None
        out = rw([prefix + b'{"ssn": "123-45-6789"}'])
        assert out is not None and out[0] is not None
        assert json.loads(out[0][len(prefix) :]) == "[redacted]"
        assert rw(out) is None


# --- detection ----------------------------------------------------------------------------------------------------


def test_nothing_to_do_returns_none() -> None:
    assert compile_rewriter(MaskSpec(), [col("a")], KEY) is None
    assert compile_rewriter(MaskSpec(("*.ssn",)), [col("a"), col("b", 1)], KEY) is None
    # detectors, but only columns that cannot hold text
    assert compile_rewriter(DETECT, [col("t", 0, 1184), col("b", 1, 16, binary=True), col("f", 2, 701, binary=True)],
                            KEY) is None  # fmt: skip


def test_text_detection_and_unchanged_rows() -> None:
    cols = [col("id", 0, 23), col("note", 1), col("flag", 2, 16)]
    rw = compile_rewriter(DETECT, cols, KEY)
    assert rw is not None
    row = [b"1", b"plain words", b"t"]
    assert rw(row) is None
    assert rw([b"2", b"card 4111-1111-1111-1111", b"f"]) == [b"2", b"card [card]", b"f"]
    assert rw([b"3", "café 123-45-6789".encode(), b"t"]) == [b"3", "café [ssn]".encode(), b"t"]
    assert rw([b"123456789", None, b"t"]) == [None, None, b"t"]  # an int that reads as an SSN: NULL, not text


def test_invalid_utf8_is_redacted() -> None:
    rw = compile_rewriter(DETECT, [col("note")], KEY)
    assert rw is not None and rw([b"\xff\xfe 1"]) == [b"[redacted]"]
    # but a value with nothing the detectors could find is never decoded
    assert rw([b"no digits"]) is None


def test_text_json_stays_valid_json() -> None:
    rw = compile_rewriter(DETECT, [col("doc", 0, 114)], KEY)
    assert rw is not None
    out = rw([b'{"card": "4111111111111111"}'])
    assert out == [b'{"card": "[card]"}']
    out = rw([b'{"card": 4111111111111111, "a@example.com": [1, "ssn 123-45-6789"]}'])  # a number becomes a string
    assert out is not None and out[0] is not None
    assert json.loads(out[0]) == {"card": "[card]", "[email]": [1, "ssn [ssn]"]}
    assert rw(out) is None
    assert rw([b"not json 4111111111111111"]) == [b"not json [card]"]
    # JSON escapes hide nothing: the text is read as JSON
    assert rw([b'{"e": "alice\\u0040example.com", "c": "\\u0034111111111111111"}']) == [
        b'{"e": "[email]", "c": "[card]"}'
    ]
    assert rw([b'{"plain": "\\u00e9t\\u00e9"}']) is None


def test_binary_int8_holding_a_card_is_nulled() -> None:
    rw = compile_rewriter(DETECT, [col("n", 0, 20, binary=True), col("m", 1, 23, binary=True)], KEY)
    assert rw is not None
    assert rw([struct.pack("!q", 4111111111111111), struct.pack("!i", 7)]) == [None, struct.pack("!i", 7)]
    assert rw([struct.pack("!q", 4111111111111112), struct.pack("!i", 7)]) is None
    assert rw([b"\x00\x01\x02", struct.pack("!i", 7)]) == [None, struct.pack("!i", 7)]  # malformed: NULL


def test_binary_text_and_jsonb() -> None:
    rw = compile_rewriter(DETECT, [col("t", 0, 25, binary=True), col("j", 1, 3802, binary=True)], KEY)
    assert rw is not None
    assert rw([b"mail bob@example.org", b'\x01{"a": "x"}']) == [b"mail [email]", b'\x01{"a": "x"}']
    assert rw([b"x", b'\x01{"a": "+14155552671"}']) == [b"x", b'\x01{"a": "[phone]"}']
    assert rw([b"x", b'\x02{"a": "+14155552671"}']) == [b"x", None]  # unknown jsonb version: fail closed


NUMERIC_CARD = b"\x00\x04\x00\x03\x00\x00\x00\x00\x10\x0f\x04W\x04W\x04W"  # 4111111111111111::numeric
INT8_ARRAY = (  # array[4111111111111111::int8, 2]
    b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x14\x00\x00\x00\x02\x00\x00\x00\x01"
    b"\x00\x00\x00\x08\x00\x0e\x9b\x08\xa5h\xf1\xc7\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x02"
)
RECORD = (  # row(1, 'alice@example.com')
    b"\x00\x00\x00\x02\x00\x00\x00\x17\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x02\xc1\x00\x00\x00\x11alice@example.com"
)


@pytest.mark.parametrize(
    ("oid", "value"),
    [
        (1700, NUMERIC_CARD),
        (1016, INT8_ARRAY),
        (2249, RECORD),
        (17, b"\x00\x01card=4111111111111111\xff"),
        (99999, b"enum label alice@example.com"),  # an unknown type: scanned as raw bytes
    ],
)
def test_binary_structured_values_are_nulled_on_a_match(oid: int, value: bytes) -> None:
    rw = compile_rewriter(DETECT, [col("v", 0, oid, binary=True)], KEY)
    assert rw is not None and rw([value]) == [None]


def test_binary_structured_values_without_a_match_pass() -> None:
    rw = compile_rewriter(DETECT, [col("n", 0, 1700, binary=True), col("a", 1, 1009, binary=True)], KEY)
    assert rw is not None
    twelve_and_a_half = b"\x00\x02\x00\x00\x00\x00\x00\x01\x00\x0c\x13\x88"
    text_array = b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x19\x00\x00\x00\x02\x00\x00\x00\x01" + (
        b"\x00\x00\x00\x03abc\xff\xff\xff\xff"
    )
    assert rw([twelve_and_a_half, text_array]) is None
    assert rw([b"\x00\x02", text_array[:-2]]) == [None, None]  # malformed: NULL


def test_bytea_text_format() -> None:
    rw = compile_rewriter(DETECT, [col("b", 0, 17)], KEY)
    assert rw is not None
    assert rw([b"\\x" + b"ssn 123-45-6789".hex().encode()]) == [None]
    assert rw([b"\\x" + b"harmless 12".hex().encode()]) is None
    assert rw([b"\\xZZ"]) == [None]


def test_text_arrays_carry_masked_text_number_arrays_do_not() -> None:
    rw = compile_rewriter(DETECT, [col("t", 0, 1009), col("n", 1, 1016)], KEY)
    assert rw is not None
    assert rw([b"{a@example.com,x}", b"{4111111111111111,2}"]) == [b"{[email],x}", None]


def test_unresolved_type_names_are_text() -> None:
    rw = compile_rewriter(DETECT, [col("v", 0, None)], KEY)
    assert rw is not None and rw([b"4111111111111111"]) == [b"[card]"]


def test_row_width_mismatch_raises() -> None:
    rw = compile_rewriter(DETECT, [col("v", 0)], KEY)
    assert rw is not None
    with pytest.raises(ValueError, match="values for 1 columns"):
        rw([b"a", b"b"])


def test_other_encodings() -> None:
    rw = compile_rewriter(DETECT, [col("v", 0)], KEY, encoding="latin-1")
    assert rw is not None and rw(["Müller 123-45-6789".encode("latin-1")]) == ["Müller [ssn]".encode("latin-1")]


# --- properties ---------------------------------------------------------------------------------------------------


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=12, max_size=18))
    check = next(c for c in "0123456789" if luhn_valid(body + c))
    digits = body + check
    sep = draw(st.sampled_from(["", " ", "-"]))
    if not sep:
        return digits
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


ssns = st.builds(
    lambda a, g, s: f"{a:03d}-{g:02d}-{s:04d}",
    st.integers(1, 899).filter(lambda a: a != 666),
    st.integers(1, 99),
    st.integers(1, 9999),
)
emails = st.from_regex(r"[a-z0-9._%+-]{1,12}@[a-z0-9]{1,10}\.(com|org|example)", fullmatch=True)
secrets = st.one_of(card_numbers(), ssns, emails)
BREAK = st.sampled_from([", ", "; ", " | ", "\n", " / ", "\t"])


@st.composite
def texts_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts, planted = [], []
    for _ in range(draw(st.integers(1, 4))):
        secret = draw(secrets)
        planted.append(secret)
        parts += [draw(st.text(max_size=12)), draw(BREAK), secret, draw(BREAK)]
    parts.append(draw(st.text(max_size=12)))
    return "".join(parts), planted


STRATEGY = st.sampled_from(["redact", "partial", "hash"])


def luhn_runs(text: str) -> list[str]:
    """Luhn-valid runs of 13 to 19 digits, outside hash markers (16 hex digits can hold a long digit run by chance,
    which is no card number; the detectors treat the markers as opaque)."""
    text = re.sub(r"h:[0-9a-f]{16}", "h:", text)
    return [r for r in re.findall(r"\d+", text) if 13 <= len(r) <= 19 and luhn_valid(r)]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(texts_with_secrets(), STRATEGY)
def test_masking_is_idempotent_and_leaves_nothing_detectable(sample: tuple[str, list[str]], strategy: str) -> None:
    text, _ = sample
    spec = MaskSpec((), frozenset(KINDS), strategy)
    once = mask_text(text, spec, KEY)
    assert mask_text(once, spec, KEY) == once
    assert ALL.find(once) == []


@given(st.text("0123456789 -+()@.ab:hXY", max_size=60) | st.text(max_size=40), STRATEGY)
def test_masking_dense_digit_text_is_idempotent(text: str, strategy: str) -> None:
    spec = MaskSpec((), frozenset(KINDS), strategy)
    once = mask_text(text, spec, KEY)
    assert mask_text(once, spec, KEY) == once
    assert ALL.find(once) == []


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(texts_with_secrets(), STRATEGY)
def test_no_full_card_number_survives(sample: tuple[str, list[str]], strategy: str) -> None:
    text, planted = sample
    out = mask_text(text, MaskSpec((), frozenset({"credit_card"}), strategy), KEY)
    assert luhn_runs(out) == []
    for secret in planted:
        if "@" not in secret and len(re.sub(r"\D", "", secret)) >= 13:  # a planted card
            assert secret not in out


TYPES = [*"25 1043 114 3802 20 23 21 26 1700 17 16 701 1009 1016 2249 2287 99999 text".split(), ""]
columns = st.lists(
    st.builds(
        lambda name, oid, binary, table: Column(name, 0, oid, table, 1 if table else 0, binary, table and name),
        st.sampled_from(["ssn", "card", "note", "id"]),
        st.sampled_from(TYPES),
        st.booleans(),
        st.sampled_from([None, "public.customers", "hr.people"]),
    ),
    min_size=1,
    max_size=5,
)
specs = st.builds(
    MaskSpec,
    st.lists(st.sampled_from(["*.ssn", "customers.card", "note", "hr.*"]), max_size=2).map(tuple),
    st.frozensets(st.sampled_from(KINDS)),
    STRATEGY,
)
values = st.one_of(st.none(), st.binary(max_size=40), secrets.map(str.encode), st.text(max_size=20).map(str.encode))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(specs, columns, st.data())
def test_rewriter_never_raises_and_is_idempotent(spec: MaskSpec, cols: list[Column], data: st.DataObject) -> None:
    rw = compile_rewriter(spec, cols, KEY)
    if rw is None:
        return
    row = data.draw(st.lists(values, min_size=len(cols), max_size=len(cols)))
    out = rw(row)
    assert out is None or (len(out) == len(row) and all(v is None or isinstance(v, bytes) for v in out))
    if out is not None:
        assert rw(out) is None
