"""Tests for interceptor.identity: tokens, bcrypt hashes and the caching Authenticator. bcrypt runs synchronously
through an injected ``run_blocking`` that counts the checks; time comes from a fake clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from interceptor import identity
from interceptor.config import IdentityConfig
from interceptor.identity import TOKEN_PREFIX, Authenticator, hash_token, new_token
from interceptor.model import Identity, IdentityKind

TOKEN_RE = re.compile(r"itk_[A-Za-z0-9_-]{43}")
TOKENS = {"bot": new_token(), "alice": new_token(), "carol": new_token()}
HASHES = {name: hash_token(token, 4) for name, token in TOKENS.items()}


def identities(*names: str) -> dict[str, IdentityConfig]:
    kinds = {"bot": IdentityKind.AGENT, "alice": IdentityKind.HUMAN, "carol": IdentityKind.SERVICE}
    return {n: IdentityConfig(n, kinds[n], frozenset({f"{n}-group"}), HASHES[n]) for n in names}


class Checks:
    """A synchronous run_blocking that counts the bcrypt checks it runs."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        self.count += 1
        return succeed(f(*args))


def fired(d: Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired"
    return out[0]


@pytest.fixture(autouse=True)
def cheap_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown names are checked against a cost-12 dummy hash (0.3 s); a cost-4 one keeps these tests fast."""
    monkeypatch.setattr(identity, "_DUMMY_HASH", bcrypt.hashpw(b"dummy", bcrypt.gensalt(4)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def checks() -> Checks:
    return Checks()


def make(clock: Clock, checks: Checks, *names: str, **kw: Any) -> Authenticator:
    return Authenticator(identities(*(names or ("bot", "alice"))), None, clock=clock.seconds, run_blocking=checks, **kw)


# -- tokens and hashes ---------------------------------------------------------------------------------------------


def test_new_token_format_and_uniqueness() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert TOKEN_RE.fullmatch(token), token
        assert len(token.encode()) <= 72, "bcrypt only looks at 72 bytes"


def test_hash_token_verifies_with_bcrypt() -> None:
    token = new_token()
    hashed = hash_token(token, 4)
    assert hashed.startswith("$2b$04$") and len(hashed) == 60
    assert token not in hashed
    assert bcrypt.checkpw(token.encode(), hashed.encode())
    assert not bcrypt.checkpw(new_token().encode(), hashed.encode())
    assert hash_token(token, 4) != hashed, "salted"


# -- Authenticator -------------------------------------------------------------------------------------------------


def test_right_token_gives_the_identity(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    assert fired(auth.authenticate("bot", TOKENS["bot"])) == Identity(
        "bot", IdentityKind.AGENT, frozenset({"bot-group"})
    )
    assert fired(auth.authenticate("alice", TOKENS["alice"])).kind is IdentityKind.HUMAN
    assert checks.count == 2


def test_wrong_token_gives_none(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    assert fired(auth.authenticate("bot", TOKENS["alice"])) is None, "another identity's token"
    assert fired(auth.authenticate("bot", new_token())) is None
    assert fired(auth.authenticate("bot", TOKENS["bot"] + "x")) is None
    assert checks.count == 3
    assert auth.cached("bot", TOKENS["alice"]) is None


def test_unknown_name_gives_none_after_a_bcrypt_check(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    assert fired(auth.authenticate("mallory", TOKENS["bot"])) is None
    assert checks.count == 1, "unknown names pay a bcrypt check too, so timing does not tell them apart"


def test_empty_token_is_refused(clock: Clock, checks: Checks) -> None:
    assert fired(make(clock, checks).authenticate("bot", "")) is None


def test_cache_hit_skips_bcrypt_until_the_ttl_expires(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks, ttl=60)
    bot = fired(auth.authenticate("bot", TOKENS["bot"]))
    assert checks.count == 1
    clock.advance(59)
    assert auth.cached("bot", TOKENS["bot"]) == bot
    assert fired(auth.authenticate("bot", TOKENS["bot"])) == bot
    assert checks.count == 1
    assert auth.cached("bot", TOKENS["bot"] + "x") is None
    assert auth.cached("alice", TOKENS["bot"]) is None, "the cache is keyed by the name too"
    clock.advance(2)
    assert auth.cached("bot", TOKENS["bot"]) is None
    assert fired(auth.authenticate("bot", TOKENS["bot"])) == bot
    assert checks.count == 2
    assert fired(auth.authenticate("bot", TOKENS["bot"])) == bot
    assert checks.count == 2, "re-verified pairs are cached again"


def test_the_cache_never_holds_a_token(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    fired(auth.authenticate("bot", TOKENS["bot"]))
    assert TOKENS["bot"] not in repr(vars(auth))
    assert all(TOKENS["bot"].encode() not in key for key in auth._cache)


def test_update_clears_the_cache_and_a_removed_identity_fails(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    fired(auth.authenticate("bot", TOKENS["bot"]))
    fired(auth.authenticate("alice", TOKENS["alice"]))
    assert checks.count == 2
    auth.update(identities("alice"))
    assert auth.cached("bot", TOKENS["bot"]) is None
    assert auth.cached("alice", TOKENS["alice"]) is None
    assert fired(auth.authenticate("bot", TOKENS["bot"])) is None
    assert fired(auth.authenticate("alice", TOKENS["alice"])) is not None
    assert checks.count == 4, "both were checked again after update()"


def test_a_rotated_hash_takes_effect_at_once(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks)
    fired(auth.authenticate("bot", TOKENS["bot"]))
    rotated = new_token()
    auth.update({"bot": IdentityConfig("bot", IdentityKind.AGENT, frozenset(), hash_token(rotated, 4))})
    assert fired(auth.authenticate("bot", TOKENS["bot"])) is None
    assert fired(auth.authenticate("bot", rotated)) is not None


def test_an_update_during_a_check_wins(clock: Clock) -> None:
    held: list[tuple[Deferred[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def later(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        held.append((d, f, args))
        return d

    auth = Authenticator(identities("bot"), None, clock=clock.seconds, run_blocking=later)
    out: list[Any] = []
    auth.authenticate("bot", TOKENS["bot"]).addBoth(out.append)
    assert out == []
    auth.update({})  # bot removed while its check was running
    d, f, args = held.pop()
    d.callback(f(*args))
    assert out == [None]
    assert auth.cached("bot", TOKENS["bot"]) is None


def test_tokens_longer_than_72_bytes_are_refused(clock: Clock, checks: Checks) -> None:
    long72 = "t" * 72
    auth = Authenticator(
        {"bot": IdentityConfig("bot", IdentityKind.AGENT, frozenset(), hash_token(long72, 4))},
        None,
        clock=clock.seconds,
        run_blocking=checks,
    )
    assert fired(auth.authenticate("bot", long72)) is not None
    # bcrypt would only look at the first 72 bytes; the gateway refuses rather than truncate
    assert fired(auth.authenticate("bot", long72 + "extra")) is None
    assert fired(auth.authenticate("bot", "é" * 37)) is None  # 74 bytes in UTF-8
    assert checks.count == 3, "a refused long token still costs a check"


def test_max_entries_evicts_the_oldest(clock: Clock, checks: Checks) -> None:
    auth = make(clock, checks, "bot", "alice", "carol", max_entries=2)
    for name in ("bot", "alice", "carol"):
        fired(auth.authenticate(name, TOKENS[name]))
    assert checks.count == 3
    assert len(auth._cache) == 2
    assert auth.cached("bot", TOKENS["bot"]) is None, "the oldest entry went"
    assert auth.cached("alice", TOKENS["alice"]) is not None
    assert auth.cached("carol", TOKENS["carol"]) is not None
    fired(auth.authenticate("carol", TOKENS["carol"]))
    assert checks.count == 3
    fired(auth.authenticate("bot", TOKENS["bot"]))
    assert checks.count == 4
    assert len(auth._cache) == 2


def test_checks_are_limited_to_max_parallel(clock: Clock) -> None:
    held: list[Deferred[Any]] = []
    results: list[Any] = []

    def later(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        d.addCallback(lambda _: f(*args))
        held.append(d)
        return d

    auth = Authenticator(identities("bot"), None, clock=clock.seconds, run_blocking=later, max_parallel=2)
    for _ in range(5):
        auth.authenticate("bot", new_token()).addCallback(results.append)
    assert len(held) == 2, "only max_parallel checks run at once"
    while held:
        held.pop(0).callback(None)
    assert results == [None] * 5
