"""Gateway tokens: generation, bcrypt hashes, and verification with a bounded in-memory cache.

bcrypt costs about 0.2 s per check by design. Connection set-up must not pay that every time, so a verified
(name, token) pair is remembered for ``ttl`` seconds under a keyed BLAKE2b digest (the cache never holds a token).
Checks run in a thread pool, never on the reactor thread, and at most ``max_parallel`` at once so that a flood of
bad tokens cannot take every core. Unknown names are checked against a dummy hash, so a caller cannot tell
"no such identity" from "wrong token" by timing.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import bcrypt
from twisted.internet.defer import Deferred, DeferredSemaphore, succeed
from twisted.internet.threads import deferToThreadPool

from interceptor.model import Identity

if TYPE_CHECKING:
    from interceptor.config import IdentityConfig

TOKEN_PREFIX = "itk_"
_MAX_TOKEN = 72  # bcrypt looks at 72 bytes at most; longer tokens are refused, never truncated
_DUMMY_HASH = bcrypt.hashpw(b"interceptor-dummy", bcrypt.gensalt(12))


def new_token() -> str:
    """A fresh random token: ``itk_`` and 256 bits of URL-safe randomness."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str, rounds: int = 12) -> str:
    """The bcrypt hash to paste into the config as ``token_hash``."""
    return bcrypt.hashpw(token.encode(), bcrypt.gensalt(rounds)).decode()


def _check(token: bytes, token_hash: bytes) -> bool:
    try:
        return bcrypt.checkpw(token, token_hash)
    except ValueError:
        return False


class Authenticator:
    """Verifies (identity name, token) pairs against the configured bcrypt hashes."""

    def __init__(
        self,
        identities: Mapping[str, IdentityConfig],
        reactor: Any,
        ttl: float = 300.0,
        max_entries: int = 10_000,
        max_parallel: int = 2,
        clock: Callable[[], float] = time.monotonic,
        run_blocking: Callable[..., Deferred[Any]] | None = None,
    ) -> None:
        self._reactor = reactor
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[Identity, float]] = OrderedDict()
        self._limit = DeferredSemaphore(max_parallel)
        self._run = run_blocking or self._in_thread
        self.update(identities)

    def update(self, identities: Mapping[str, IdentityConfig]) -> None:
        """Swap in a new set of identities (SIGHUP). Cached verifications are dropped, so a removed identity or a
        rotated hash takes effect at once for new connections."""
        self._identities = dict(identities)
        self._cache.clear()

    def _in_thread(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), f, *args)

    def _digest(self, name: str, token: str) -> bytes:
        return hashlib.blake2b(f"{name}\0{token}".encode(), key=self._key, digest_size=32).digest()

    def cached(self, name: str, token: str) -> Identity | None:
        """The identity if this pair was verified less than ``ttl`` seconds ago, else None. Cheap."""
        key = self._digest(name, token)
        hit = self._cache.get(key)
        if hit is None:
            return None
        identity, expires = hit
        if expires < self._clock():
            del self._cache[key]
            return None
        return identity

    def authenticate(self, name: str, token: str) -> Deferred[Identity | None]:
        """Fires with the Identity, or None for an unknown name or a wrong token (never says which)."""
        hit = self.cached(name, token)
        if hit is not None:
            return succeed(hit)
        raw = token.encode()
        config = self._identities.get(name)
        if len(raw) > _MAX_TOKEN or not raw:
            config = None
        expected = config.token_hash.encode() if config else _DUMMY_HASH

        def done(ok: bool) -> Identity | None:
            current = self._identities.get(name)
            if not ok or config is None or current is not config:
                return None
            identity: Identity = current.identity()
            self._remember(self._digest(name, token), identity)
            return identity

        d: Deferred[Any] = self._limit.run(self._run, _check, raw[:_MAX_TOKEN], expected)
        d.addCallback(done)
        return d

    def _remember(self, key: bytes, identity: Identity) -> None:
        self._cache[key] = (identity, self._clock() + self._ttl)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
