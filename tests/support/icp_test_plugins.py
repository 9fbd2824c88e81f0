"""Plugins the test gateways load (``plugins: [icp_test_plugins:TestPolicy]``). They prove the pipeline end to
end without the real policy plugins: statements with marker words are denied, held or masked."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from interceptor.hookspecs import hookimpl
from interceptor.model import Verdict


class TestPolicy:
    def __init__(self) -> None:
        self.reactor: Any = None

    @hookimpl
    def interceptor_configure(self, config: Any, reactor: Any) -> None:
        self.reactor = reactor

    @hookimpl
    def interceptor_check_command(self, session: Any, command: Any) -> Any:
        text = command.text.lower()
        if "forbidden_marker" in text:
            return Verdict.deny("statements with forbidden_marker are blocked", rule="test-deny")
        if "explode_marker" in text:
            raise RuntimeError("plugin bug")
        if "hold_marker" in text:
            return Verdict.review("held for a moment", rule="test-hold")
        return None

    @hookimpl
    def interceptor_review(self, session: Any, command: Any, verdict: Verdict) -> Deferred[Verdict]:
        d: Deferred[Verdict] = Deferred()
        approve = "approve" in command.text.lower()
        result = Verdict.allow("approved", approved_by="tester") if approve else Verdict.deny("reviewer said no")
        self.reactor.callLater(1.0, d.callback, result)
        return d

    @hookimpl
    def interceptor_result_rewriter(self, session: Any, command: Any, columns: Any) -> Any:
        if any(c.name == "boom_col" for c in columns):
            raise RuntimeError("masking bug")
        targets = [c.index for c in columns if c.name == "secret_col"]
        if not targets:
            return None

        def rewrite(values: Any) -> Any:
            out = list(values)
            for i in targets:
                if out[i] is not None:
                    out[i] = b"***"
            return out

        return rewrite
