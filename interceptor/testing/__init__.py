"""Helpers for plugin and policy authors."""
