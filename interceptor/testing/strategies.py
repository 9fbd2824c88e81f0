"""hypothesis strategies for fuzzing policies: identities, sessions, commands and SQL-ish text."""

from __future__ import annotations

import time

from hypothesis import strategies as st

from interceptor.model import Command, CommandKind, Identity, IdentityKind, Session

names = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)


@st.composite
def identities(draw: st.DrawFn, kinds: tuple[IdentityKind, ...] = tuple(IdentityKind)) -> Identity:
    return Identity(draw(names), draw(st.sampled_from(kinds)), frozenset(draw(st.lists(names, max_size=3))))


@st.composite
def sessions(draw: st.DrawFn, protocol: str = "postgres") -> Session:
    return Session(draw(names), draw(identities()), draw(names), protocol, "127.0.0.1:1", time.time())


KEYWORDS = ["select", "insert", "update", "delete", "drop", "truncate", "alter", "grant", "copy", "do", "with"]


@st.composite
def sql_like(draw: st.DrawFn) -> str:
    """Statement-shaped text: keywords, identifiers, comments, quotes and separators in any mix."""
    parts = st.one_of(
        st.sampled_from(KEYWORDS),
        st.sampled_from([k.upper() for k in KEYWORDS]),
        names,
        st.sampled_from([";", "/*", "*/", "--", "'", '"', "$$", "(", ")", ",", "\n", " ", "e'\\''"]),
        st.text(max_size=8),
    )
    return " ".join(draw(st.lists(parts, min_size=1, max_size=12)))


@st.composite
def commands(draw: st.DrawFn, protocol: str = "postgres") -> Command:
    kind = draw(st.sampled_from([CommandKind.QUERY, CommandKind.PREPARE]))
    return Command(draw(names), draw(st.integers(1, 10**6)), kind, draw(sql_like()), protocol)
