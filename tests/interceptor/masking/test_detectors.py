"""Detectors: valid and invalid samples per kind, overlaps, and the hash marker being opaque."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.masking.detectors import KINDS, Detector, compile_detector, iban_valid, luhn_valid, ssn_valid

ALL = compile_detector(frozenset(KINDS))


def found(text: str, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in compile_detector(frozenset(kinds)).find(text)]


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500005555555559", "340000000000009",
     "6011111111111117", "4222222222222", "3530111333300000"],
)  # fmt: skip
def test_valid_cards(card: str) -> None:
    assert found(f"pay with {card}, thanks", ("credit_card",)) == [("credit_card", card)]
    assert found(card) == [("credit_card", card)]


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn fails
        "4111 1111 1111 1110",
        "41111111111111110000",  # 20 digits: longer than any card
        "x94111111111111111",  # part of a longer digit run
        "4111  1111 1111 1111",  # a double space splits the groups: neither side is long enough
        "411111111111",  # 12 digits
        "order 2024-01-15",
    ],
)
def test_not_cards(text: str) -> None:
    assert found(text, ("credit_card",)) == []


def test_card_inside_a_longer_sequence_of_groups() -> None:
    assert found("ref 12 4111 1111 1111 1111", ("credit_card",)) == [("credit_card", "4111 1111 1111 1111")]
    # two cards in one run of groups
    text = "4111 1111 1111 1111 5500 0055 5555 5559"
    assert found(text) == [("credit_card", "4111 1111 1111 1111"), ("credit_card", "5500 0055 5555 5559")]


def test_full_width_digits_are_digits() -> None:
    card = "\uff14" + "\uff11" * 15  # 4111111111111111 in full-width digits
    assert found(card) == [("credit_card", card)]


@pytest.mark.parametrize("ssn", ["123-45-6789", "078-05-1120", "899-99-9999"])
def test_valid_ssn(ssn: str) -> None:
    assert found(f"ssn: {ssn}.", ("us_ssn",)) == [("us_ssn", ssn)]


@pytest.mark.parametrize(
    "text",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000", "1123-45-6789",
     "123-45-67890", "123 45 6789", "ssn 123456789 here"],
)  # fmt: skip
def test_not_ssn(text: str) -> None:
    assert found(text, ("us_ssn",)) == []


def test_bare_ssn_only_as_the_whole_value() -> None:
    assert found("123456789", ("us_ssn",)) == [("us_ssn", "123456789")]
    assert found("000456789", ("us_ssn",)) == []
    assert found("1234567890", ("us_ssn",)) == []


def test_ssn_validity() -> None:
    assert ssn_valid("123", "45", "6789")
    assert not ssn_valid("666", "45", "6789")


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("mail alice@example.com now", "alice@example.com"),
        ("<bob.smith+tag@mail.example.co.uk>", "bob.smith+tag@mail.example.co.uk"),
        ("x=jo_e%1@sub-domain.example.org;", "jo_e%1@sub-domain.example.org"),
        ("José: josé@exämple.de", "josé@exämple.de"),
    ],
)
def test_emails_in_text(text: str, email: str) -> None:
    assert found(text, ("email",)) == [("email", email)]


@pytest.mark.parametrize("text", ["alice@localhost", "@example.com", "a@b.c", "a***@example.com", "user@ex_ample"])
def test_not_emails(text: str) -> None:
    assert found(text, ("email",)) == []


@pytest.mark.parametrize(
    "iban",
    ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00", "NO9386011117947",
     "FR14 2004 1010 0505 0001 3M02 606"],
)  # fmt: skip
def test_valid_iban(iban: str) -> None:
    assert found(f"IBAN: {iban}.", ("iban",)) == [("iban", iban)]
    assert iban_valid(iban.replace(" ", ""))


@pytest.mark.parametrize(
    "text", ["GB82 WEST 1234 5698 7654 33", "GB83WEST12345698765432", "gb82 west 1234 5698 7654 32", "GB82 WEST"]
)
def test_not_iban(text: str) -> None:
    assert found(text, ("iban",)) == []


def test_iban_followed_by_more_text() -> None:
    assert found("GB82WEST12345698765432XYZ", ("iban",)) == [("iban", "GB82WEST12345698765432")]


@pytest.mark.parametrize(
    "phone", ["+14155552671", "+44 20 7946 0958", "+49-30-1234567", "(555) 555-5555", "(555)555-5555", "555-555-5555"]
)
def test_valid_phone(phone: str) -> None:
    assert found(f"call {phone} today", ("phone",)) == [("phone", phone)]


@pytest.mark.parametrize("text", ["+1234567", "+1234567890123456", "555-5555", "5555-555-5555", "555 555 5555"])
def test_not_phone(text: str) -> None:
    assert found(text, ("phone",)) == []


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_overlapping_kinds_are_all_found() -> None:
    text = "123-45-6789 4111 1111 1111 1111"
    assert found(text) == [("us_ssn", "123-45-6789"), ("credit_card", "4111 1111 1111 1111")]
    assert found("555-555-5555 4111 1111 1111 1111") == [
        ("phone", "555-555-5555"),
        ("credit_card", "4111 1111 1111 1111"),
    ]


def test_an_invalid_iban_is_still_searched_for_cards() -> None:
    assert found("AB12 4111 1111 1111 1111") == [("credit_card", "4111 1111 1111 1111")]


def test_hash_marker_is_opaque() -> None:
    assert found("h:4111111111111111") == []
    assert found("h:4111111111111111 and 4111111111111111") == [("credit_card", "4111111111111111")]


def test_prefilter_and_kinds() -> None:
    d = compile_detector(frozenset({"email"}))
    assert d.find("4111111111111111") == []
    assert not d.may_match(b"no at sign 4111111111111111")
    assert d.may_match(b"a@b")
    assert compile_detector(frozenset({"email"})) is d
    assert not ALL.may_match(b"plain words, order 7")  # an IBAN needs 2 digits at least
    assert ALL.find("2024-05-01 12:00") == []
    assert ALL.may_match(b"IBAN GB82")  # may_match is a cheap superset; find decides
    assert ALL.may_match("caf\u00e9".encode())
    assert compile_detector(frozenset({"credit_card"})).may_match(b"1234567890123")
    assert not compile_detector(frozenset({"credit_card"})).may_match(b"123456789012")
    with pytest.raises(ValueError, match="unknown detector"):
        Detector(["nope"])


@given(st.text())
def test_find_never_raises_and_spans_are_sorted_and_disjoint(text: str) -> None:
    spans = ALL.find(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert all(0 <= s.start < s.end <= len(text) for s in spans)


def test_no_quadratic_blowup_on_long_tokens() -> None:
    import time

    text = "a" * 100_000 + "@" + "b" * 100_000 + " " + "1" * 100_000 + " " + "1 " * 50_000 + " 123-45-6789" * 10_000
    start = time.perf_counter()
    ALL.find(text)
    assert time.perf_counter() - start < 3.0  # linear: about 0.5 s here
