"""The replacing step of the literal keys (``postgres.literal_key``, ``mysql.literal_key``), shared by both dialects.

Each dialect decides which texts may have a key and how its numbers look; once a text passed its dialect's check,
string contents become ``''``, numbers ``0``, and quoted names stay as written. See ``interceptor.sql``, "Caching".
"""

from __future__ import annotations

import re

#: A string literal, ``''`` for a quote inside (the dialects' checks have already refused backslashes).
STRINGS = re.compile(r"'[^']*+(?:''[^']*+)*+'")


class Blanker:
    """Replaces the literals of a text that passed its dialect's check. ``quote`` is the dialect's identifier
    quote; ``after_first_digit`` the rest of its number pattern after the first digit (look-behinds included)."""

    __slots__ = ("_both", "_numbers", "quote")

    def __init__(self, quote: str, after_first_digit: str) -> None:
        self.quote = quote
        q = re.escape(quote)
        self._numbers = re.compile("[0-9]" + after_first_digit)
        # With quoted names: strings, quoted names and numbers in one scan, so that no digit inside a quoted name is
        # taken for a number. The leading class lets the scan skip quickly to the next candidate.
        self._both = re.compile(
            rf"['{q}0-9](?:(?<=')[^']*+(?:''[^']*+)*+'|(?<={q})[^{q}]*+(?:{q}{q}[^{q}]*+)*+{q}"
            rf"|(?<=[0-9]){after_first_digit})"
        )

    def __call__(self, text: str) -> str:
        if self.quote in text:
            return self._both.sub(self._placeholder, text)
        if "'" in text:
            text = STRINGS.sub("''", text)  # the digits of a string's contents are gone before numbers are replaced
        return self._numbers.sub("0", text)

    def _placeholder(self, match: re.Match[str]) -> str:
        found = match.group()
        first = found[0]
        return "''" if first == "'" else found if first == self.quote else "0"
