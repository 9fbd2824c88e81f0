"""MySQL/MariaDB statement text -> tokens, by the server's own lexing rules (default ``sql_mode``).

This is where text-based guardrails usually fail, so every rule follows the server's lexer (``sql_lex.cc``):

* ``/*! ... */``, ``/*!NNNNN ... */``, ``/*M! ... */`` and ``/*M!NNNNNN ... */`` are **code**: their content is
  lexed as SQL whatever the version gate says (the gateway cannot know the server's version, so it assumes they
  run). The version is 5 digits (MySQL), or 6 when a sixth digit follows (MariaDB's reading, which can only show
  more keywords than MySQL's); a shorter digit run is content.
* ``/* ... */`` is a comment and does not nest. ``/*+ ... */`` (an optimizer hint) is a comment too.
* ``#`` starts a comment to the end of the line. ``--`` does only when a space or a control character (or the end
  of the text) follows it: ``SELECT 1--1`` is ``1 - -1``.
* ``'...'`` and ``"..."`` are strings (``"`` is a string unless ``ANSI_QUOTES``); a backslash escapes the next
  character (unless ``NO_BACKSLASH_ESCAPES``) and a doubled quote is one quote. Backticks quote identifiers.
  The two modes, and client character sets whose multibyte characters may contain a backslash byte, are refused
  separately (``detail["parser_state"]``, see :mod:`interceptor.sql.mysql_settings`).

Where two servers, or a skipped and an executed version comment, could end a construct at different places, the
text is reported as a *problem* (the classifier makes it ``unknown``) instead of guessing:

* a string, quoted identifier or line comment inside an executable comment that contains ``*/`` (skipped, the
  comment ends there; executed, it does not), and any ``/*`` inside an executable comment (MySQL nests one level
  in a skipped version comment, MariaDB's ``/*M!`` is a plain comment to MySQL);
* ``*/*`` inside an executable comment (read as ``*`` and a comment, which is then inside the executable one);
* a hint comment with a backslash or an unbalanced quote (MySQL's hint scanner reads quotes);
* ``--`` followed by a non-ASCII character (whether it is a space depends on the connection character set);
* an unterminated string, identifier or comment, and a NUL character anywhere.

Non-ASCII whitespace separates tokens (MySQL treats it as part of an identifier in multibyte character sets, where
the split reading only shows more keywords, never fewer).
"""

from __future__ import annotations

import re
from typing import NamedTuple

WORD, QID, STR, NUM, VAR, OP = range(6)
KIND_TAGS = "wqsnvo"


class Token(NamedTuple):
    """``value``: WORD lower case (ASCII folding only, as MySQL folds keywords); QID the identifier unquoted; STR the
    literal as written, quotes included (see :func:`string_value`); NUM the digits; VAR ``@name`` / ``@@name``
    (lower case); OP the character(s)."""

    kind: int
    value: str


class Lexed(NamedTuple):
    tokens: list[Token]
    problems: list[str]


# One match: the whitespace before a token, then the token (or the end of the text). Comments are matched whole
# (without nesting, as MySQL reads them); an executable comment's opening, version included, is one token.
_TOKEN = re.compile(
    r"""
     (?:[ \t\n\r\f\v]|[^\x00-\x7f\S])*+
     (?:
     (?P<num>[0-9]++(?![0-9A-Za-z_$]|[^\x00-\x7f\s]))
    |(?P<word>(?:[0-9A-Za-z_$]|[^\x00-\x7f\s])++)
    |(?P<str>'(?:[^'\\]++|\\.|'')*+'|"(?:[^"\\]++|\\.|"")*+")
    |(?P<line>\#[^\n]*+|--(?:[\x00-\x20\x7f][^\n]*+|\Z))
    |(?P<code>/\*[Mm]?!(?:[0-9]{6}|[0-9]{5}(?![0-9]))?)
    |(?P<hint>/\*\+(?:[^*]++|\*(?!/))*+\*/)
    |(?P<comment>/\*(?:[^*]++|\*(?!/))*+\*/)
    |(?P<end>\*/(?!\*))
    |(?P<qid>`(?:[^`]++|``)*+`)
    |(?P<qvar>@(?:'(?:[^'\\]++|\\.|'')*+'|"(?:[^"\\]++|\\.|"")*+"|`(?:[^`]++|``)*+`))
    |(?P<var>@@?(?:[0-9A-Za-z_$.]|[^\x00-\x7f\s])*+)
    |(?P<assign>:=)
    |(?P<dashx>--(?=[^\x00-\x7f]))
    |(?P<open>['"`]|/\*)
    |(?P<op>.)
    |(?P<eof>\Z)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_HINT_QUOTES = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|['\"`]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ESCAPES = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}
_ESCAPE = {"'": re.compile(r"\\(.)|''", re.DOTALL), '"': re.compile(r'\\(.)|""', re.DOTALL)}
MAX_TOKENS = 1_000_000


def fold(word: str) -> str:
    """Lower case the way MySQL matches keywords: ASCII letters only."""
    return word.lower() if word.isascii() else word.translate(_ASCII_LOWER)


def string_value(raw: str) -> str:
    """The value of a string literal as written (``'it''s'``, ``"a\\nb"``), with MySQL's escapes."""
    inner = raw[1:-1]
    if "\\" not in inner and raw[0] * 2 not in inner:
        return inner
    return _ESCAPE[raw[0]].sub(
        lambda m: m.group()[0] if m.group(1) is None else _ESCAPES.get(m.group(1), m.group(1)), inner
    )


def lex(text: str) -> Lexed:
    """Tokens of ``text`` (comments dropped, executable comments unwrapped) and the problems found."""
    tokens: list[Token] = []
    problems: list[str] = []
    if "\x00" in text:
        return Lexed(tokens, ["the text contains a NUL character, which MySQL and the gateway may read differently"])
    append = tokens.append
    in_code = False  # inside /*! ... */ or /*M! ... */
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "eof"
        if kind == "word":
            v = m.group(kind)
            append(Token(WORD, v.lower() if v.isascii() else v.translate(_ASCII_LOWER)))
        elif kind == "op" or kind == "num":
            append(Token(OP if kind == "op" else NUM, m.group(kind)))
        elif kind == "eof":
            if in_code:
                problems.append("unterminated executable comment /*! ... */")
            break
        elif kind == "str" or kind == "qid" or kind == "line" or kind == "qvar":
            raw = m.group(kind)
            if in_code and "*/" in raw:
                problems.append(_AMBIGUOUS_END)
            if kind == "str":
                append(Token(STR, raw))
            elif kind == "qid":
                append(Token(QID, raw[1:-1].replace("``", "`")))
            elif kind == "qvar":
                name = raw[2:-1].replace("``", "`") if raw[1] == "`" else string_value(raw[1:])
                append(Token(VAR, "@" + name.lower()))
        elif kind == "end":
            if in_code:
                in_code = False
            else:  # "*/" outside an executable comment: two operators
                tokens += (Token(OP, "*"), Token(OP, "/"))
        elif kind == "var":
            append(Token(VAR, fold(m.group(kind))))
        elif kind == "assign":
            append(Token(OP, ":="))
        elif kind in ("code", "hint", "comment"):
            if in_code:
                problems.append("a comment inside an executable comment: MySQL and MariaDB end them differently")
            if kind == "code":
                in_code = True
            elif kind == "hint" and _unbalanced_hint(m.group(kind)):
                problems.append(
                    f"an optimizer hint with an unbalanced quote or a backslash at character {m.start(kind) + 1}: "
                    "MySQL's hint scanner may end it elsewhere"
                )
        elif kind == "dashx":
            problems.append(
                f"'--' followed by a non-ASCII character at character {m.start(kind) + 1}: whether it starts a "
                "comment depends on the connection character set"
            )
            break
        else:  # "open": a quote or comment that is never closed
            opened = m.group(kind)
            what = {"`": "quoted identifier", "/*": "comment"}.get(opened, "string")
            problems.append(f"unterminated {what} at character {m.start(kind) + 1}")
            break
        if len(tokens) > MAX_TOKENS:
            problems.append("the text has too many tokens to classify")
            break
    return Lexed(tokens, problems)


_AMBIGUOUS_END = (
    "'*/' inside a string, identifier or comment within an executable comment: the server ends the comment "
    "there when it skips it, and not when it runs it"
)


def _unbalanced_hint(hint: str) -> bool:
    body = hint[3:-2]
    return "\\" in body or any(len(q) == 1 for q in _HINT_QUOTES.findall(body))
