"""The audit plugin through the policy harness: a chained line per command, and fail-closed when it cannot write."""

from __future__ import annotations

import json
from pathlib import Path

from interceptor.audit import verify
from interceptor.config import loads
from interceptor.model import Action
from interceptor.plugins.audit import AuditPlugin
from interceptor.testing import PolicyHarness


def _harness(audit_log: Path) -> tuple[PolicyHarness, AuditPlugin]:
    plugin = AuditPlugin()
    config = loads(f"listen: {{postgres: 127.0.0.1:0}}\naudit_log: {audit_log}\ndata_dir: {audit_log.parent}\n")
    return PolicyHarness([plugin], config=config), plugin


def test_each_command_is_one_chained_line(tmp_path: Path) -> None:
    h, plugin = _harness(tmp_path / "audit.jsonl")
    for text in ("select 1", "select 2"):
        assert h.check(text, identity="bob", kind="human", groups=["dba"]).action is Action.ALLOW
    assert plugin.writer is not None
    plugin.writer.flush()
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["text"], r["identity"], r["kind"], r["groups"], r["action"]) for r in lines] == [
        ("select 1", "bob", "human", ["dba"], "allow"),
        ("select 2", "bob", "human", ["dba"], "allow"),
    ]
    assert verify(tmp_path / "audit.jsonl") == (2, None)


def test_unwritable_log_denies_every_command(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").mkdir()  # a directory where the file should be
    h, _ = _harness(tmp_path / "audit.jsonl")
    verdict = h.check("select 1")
    assert verdict.action is Action.DENY and "audit log cannot be written" in verdict.reason


def test_corrupt_tail_is_not_silently_continued(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"seq": 1, "hash": "x", "prev": "y"}\nnot json\n')
    h, _ = _harness(log)
    assert h.check("select 1").action is Action.DENY
    assert log.read_text().endswith("not json\n")  # nothing was appended after the damage
