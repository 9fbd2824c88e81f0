"""The masking plugin through the policy harness: column rules by resolved table and real name, detectors,
compiled rewriters reused per result shape, and fail-closed when the session's policy disappeared."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interceptor.config import loads
from interceptor.model import Column
from interceptor.plugins.masking import MaskingPlugin
from interceptor.testing import PolicyHarness
from tests.conftest import ROOT

POLICIES = yaml.safe_load((ROOT / "contrib" / "policies" / "readonly-agents.yaml").read_text())


def _harness(tmp_path: Path) -> tuple[PolicyHarness, MaskingPlugin]:
    plugin = MaskingPlugin()
    text = f"listen: {{postgres: 127.0.0.1:0}}\ndata_dir: {tmp_path}\n" + yaml.safe_dump({"policies": POLICIES})
    return PolicyHarness([plugin], config=loads(text)), plugin


def test_column_rule_follows_an_alias_and_detectors_catch_the_rest(tmp_path: Path) -> None:
    h, _ = _harness(tmp_path)
    columns = [Column("alias", 0, "25", "public.customers", 4, False, "card"), Column("note", 1, "25")]
    rw = h.rewriter(columns, policy="readonly")
    assert rw is not None
    # "not-a-card-42" trips no detector: only the column rule (through the alias) can mask it
    out = rw([b"not-a-card-42", b"mail ada@example.com"])
    assert out is not None and b"not-a-card" not in out[0] and b"ada@example.com" not in out[1]
    assert h.rewriter(columns, policy="readonly") is rw  # compiled once per result shape
    assert (tmp_path / "masking.key").stat().st_mode & 0o777 == 0o600


def test_policy_without_mask_section_rewrites_nothing(tmp_path: Path) -> None:
    h, _ = _harness(tmp_path)
    assert h.rewriter([Column("card", 0, "25")], policy="reviewed") is None


def test_policy_removed_by_reload_withholds(tmp_path: Path) -> None:
    h, _ = _harness(tmp_path)
    with pytest.raises(LookupError, match="no longer configured"):
        h.rewriter([Column("card", 0, "25")], policy="gone_after_reload")
