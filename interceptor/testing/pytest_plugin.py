"""pytest plugin (entry point ``pytest11``): fixtures for testing interceptor plugins and policies."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from interceptor.testing.harness import PolicyHarness


@pytest.fixture
def interceptor_harness() -> Callable[..., PolicyHarness]:
    """Build a :class:`PolicyHarness`: ``harness = interceptor_harness([MyPlugin()])``."""

    def build(plugins: Iterable[Any], config: Any = None, protocol: str = "postgres") -> PolicyHarness:
        return PolicyHarness(plugins, config, protocol)

    return build
