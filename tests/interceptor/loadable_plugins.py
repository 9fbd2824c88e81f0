"""Plugins that tests/interceptor/test_pipeline.py loads by dotted path (``tests.interceptor.loadable_plugins:...``)
through :func:`interceptor.pipeline.load_plugins`. Not a test module itself."""

from __future__ import annotations

from typing import Any

from interceptor.hookspecs import hookimpl
from interceptor.model import Verdict


class DenyDrop:
    """Denies statements that mention DROP."""

    instances = 0

    def __init__(self) -> None:
        type(self).instances += 1

    @hookimpl
    def interceptor_check_command(self, command: Any) -> Verdict | None:
        return Verdict.deny("no DROP", rule="drop") if "drop" in command.text.lower() else None


class NeedsArgs:
    """A class that cannot be built with no arguments."""

    def __init__(self, required: int) -> None:
        self.required = required

    @hookimpl
    def interceptor_check_command(self, command: Any) -> None:
        return None


class BadSignature:
    """Implements a real hook with an argument its spec does not have."""

    @hookimpl
    def interceptor_check_command(self, command: Any, no_such_argument: Any) -> None:
        return None


class UnknownHook:
    """Implements a hook that does not exist (a typo in the name)."""

    @hookimpl
    def interceptor_check_comand(self, command: Any) -> None:
        return None


@hookimpl
def interceptor_session_closed(session: Any, reason: str) -> None:
    """A module-level hook, so the module itself can be loaded as a plugin."""
    CLOSED.append(reason)


CLOSED: list[str] = []
