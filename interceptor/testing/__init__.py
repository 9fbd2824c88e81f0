"""Helpers for plugin and policy authors: a socket-free policy harness, hypothesis strategies, and a pytest
plugin (loaded automatically) with an ``interceptor_harness`` fixture."""

from interceptor.testing.harness import PolicyHarness

__all__ = ["PolicyHarness"]
