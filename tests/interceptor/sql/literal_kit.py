"""What the literal key tests of each dialect share (test_literal_key.py for PostgreSQL, test_mysql_literal_key.py
for MySQL): texts made of a skeleton whose literal slots are filled in different ways, and the checks that texts
with one key are one statement but for their literals, and that a cached result equals a cold classification.

A :class:`Dialect` holds what differs: the key, the classifier, the lexer, the templates and the values tried.
pytest does not rewrite the asserts of this module, so their messages carry the values compared.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from interceptor.model import Classification
from interceptor.sql import cache_clear, classify

# The properties over siblings (fewer examples where a test is slow: settings(SIBLINGS, max_examples=...)).
SIBLINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A text is a skeleton of fixed pieces and literal slots: STRING (a string's contents) or DIGITS (a run of digits).
# A template writes the slots as {s} and {n}.
STRING, DIGITS = object(), object()
Skeleton = list[object]

SEPARATOR = st.sampled_from(["", "", " ", " ", "\n", "\t"])


def string_values(common: list[str], pieces: list[str]) -> st.SearchStrategy[str]:
    """A string literal's contents: a ``common`` value, up to five ``pieces`` in a row (twice as likely), or up to
    three of a, a quote, a backslash, NUL and a lone surrogate."""
    plain = st.lists(st.sampled_from(pieces), max_size=5).map("".join)
    return st.one_of(st.sampled_from(common), plain, plain, st.text(alphabet="a'\\\x00\udc80", max_size=3))


def digits_values(common: list[str]) -> st.SearchStrategy[str]:
    """A run of digits: a ``common`` one, or any number up to 999 or up to 10**12."""
    return st.one_of(st.sampled_from(common), st.integers(0, 999).map(str), st.integers(0, 10**12).map(str))


@dataclass(frozen=True)
class Dialect:
    name: str  # the dialect, for interceptor.sql.classify
    key: Callable[[str], str | None]  # the literal key
    classifier: Callable[[str], tuple[Classification, bool]]  # the dialect's own (uncached) classifier
    tokens: Callable[[str], object]  # the lexer's tokens, the values of literals left out
    templates: list[str]  # skeletons of ordinary texts
    tricky: list[str]  # skeletons the key must refuse or tell apart
    fixed: list[str]  # the pieces of a soup() between its slots
    string_value: st.SearchStrategy[str]  # a STRING slot's contents in the properties
    digits_value: st.SearchStrategy[str]  # a DIGITS slot's run in the properties
    string_values: list[str]  # every STRING slot's contents tried by check_exhaustively
    digits_values: list[str]  # every DIGITS slot's run tried by check_exhaustively

    def cold(self, text: str) -> Classification:
        return self.classifier(text)[0]

    def by_key(self, texts: list[str]) -> list[list[str]]:
        """The texts that have a literal key, grouped by it."""
        groups: dict[str, list[str]] = {}
        for text in texts:
            key = self.key(text)
            if key is not None:
                again = self.key(key)
                assert again == key, (text, key, again)
                groups.setdefault(key, []).append(text)
        return list(groups.values())

    def check_one_token_sequence(self, group: list[str]) -> None:
        """The safety argument itself, checked with the dialect's lexer: texts with one key differ only in the
        values of their literals."""
        first = self.tokens(group[0])
        for text in group[1:]:
            found = self.tokens(text)
            assert found == first, (group[0], text, first, found)

    def check_one_shareable_result(self, group: list[str]) -> None:
        """Texts with one key classify alike (uncached, by the classifier itself) whenever one may be shared."""
        results = [self.classifier(text) for text in group]
        if any(shareable for _, shareable in results):
            assert all(shareable for _, shareable in results), (group, results)
            assert all(result == results[0][0] for result, _ in results), (group, results)

    def check_cached_equals_cold(self, texts: list[str]) -> None:
        """Whatever its siblings left in the caches, a text classifies exactly as a cold read of its own text
        does."""
        cache_clear()
        for text in texts + texts[::-1]:
            cached, cold = classify(text, self.name), self.cold(text)
            assert cached == cold, (texts, text, cached, cold)

    def check_exhaustively(self, template: str) -> None:
        """All three checks on the texts of ``template`` with every combination of the values tried."""
        skeleton = parts(template)
        slots = [p for p in skeleton if p is STRING or p is DIGITS]
        choices = [self.string_values if p is STRING else self.digits_values for p in slots]
        texts = [fill(skeleton, list(values)) for values in itertools.product(*choices)]
        assert len(texts) <= 600, "keep these small"
        for group in self.by_key(texts):
            self.check_one_token_sequence(group)
            self.check_one_shareable_result(group)
        self.check_cached_equals_cold(texts)


def parts(template: str) -> Skeleton:
    """The skeleton a template writes, its {s} and {n} made slots."""
    pieces = re.split(r"(\{[sn]\})", template)
    return [STRING if p == "{s}" else DIGITS if p == "{n}" else p for p in pieces if p]


def fill(skeleton: Skeleton, values: list[str]) -> str:
    """The text of ``skeleton`` with its slots filled by ``values`` in order (a string's quotes doubled)."""
    filled = iter(values)
    return "".join(
        "'" + next(filled).replace("'", "''") + "'" if p is STRING else next(filled) if p is DIGITS else str(p)
        for p in skeleton
    )


@st.composite
def soup(draw: st.DrawFn, fixed: list[str]) -> Skeleton:
    """Up to 12 pieces, each a ``fixed`` piece or a slot, after separators."""
    tokens = draw(st.lists(st.one_of(st.sampled_from(fixed), st.just(STRING), st.just(DIGITS)), max_size=12))
    out: Skeleton = []
    for token in tokens:
        out.append(draw(SEPARATOR))
        out.append(token)
    return out


@st.composite
def siblings(draw: st.DrawFn, dialect: Dialect) -> list[str]:
    """Texts of one skeleton: the same fixed pieces, each literal slot filled independently."""
    template = st.sampled_from(dialect.templates + dialect.tricky).map(parts)
    skeleton = draw(st.one_of(template, template, soup(dialect.fixed)))
    slots = [p for p in skeleton if p is STRING or p is DIGITS]
    values = [dialect.string_value if p is STRING else dialect.digits_value for p in slots]
    return [fill(skeleton, [draw(value) for value in values]) for _ in range(4)]
