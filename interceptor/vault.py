"""Upstream secrets: references in the config, values only at connect time.

A :class:`Secret` holds where a secret lives (``${ENV_VAR}`` or ``file:/path``), never its value. The value is
read by :meth:`Secret.resolve` on the upstream leg, just before authenticating, and is not kept. Errors name the
reference, never a value, so they are safe to log and to show.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class VaultError(Exception):
    """A secret could not be resolved. The message names the reference only."""


class Secret:
    """A reference to an upstream secret. Safe to print, log and pickle: it holds no value."""

    __slots__ = ("_base_dir", "reference")

    def __init__(self, reference: str, base_dir: Path | None = None) -> None:
        if not (_ENV.match(reference) or reference.startswith("file:")):
            raise ValueError("write secrets as ${ENV_VAR} or file:/path, never inline")
        self.reference = reference
        self._base_dir = base_dir

    def resolve(self) -> str:
        """Read the secret now. Raises :class:`VaultError` if it is missing or empty."""
        m = _ENV.match(self.reference)
        if m:
            value = os.environ.get(m.group(1))
            if not value:
                raise VaultError(f"secret {self.reference}: environment variable {m.group(1)} is not set")
            return value
        path = Path(self.reference[5:])
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise VaultError(f"secret {self.reference}: cannot read {path}: {e.strerror}") from None
        if not value:
            raise VaultError(f"secret {self.reference}: {path} is empty")
        return value

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(self.reference)


def parse_secret(text: str, base_dir: Path | None = None) -> Secret:
    """Build a :class:`Secret` from config text; ``ValueError`` for anything but ``${ENV}`` or ``file:``."""
    return Secret(text.strip(), base_dir)
