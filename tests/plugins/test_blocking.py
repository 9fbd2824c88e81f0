"""The blocking plugin through the policy harness: the example read-only policy, rule order, and hypothesis
variants of blocked statements (case, whitespace and comments never get a statement through)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from interceptor.config import loads
from interceptor.model import Action, CommandKind
from interceptor.plugins.blocking import BlockingPlugin
from interceptor.testing import PolicyHarness
from tests.conftest import ROOT

POLICIES = (ROOT / "contrib" / "policies" / "readonly-agents.yaml").read_text()
CONFIG = loads(
    "listen: {postgres: 127.0.0.1:0}\ndata_dir: /nonexistent\n"
    + yaml.safe_dump({"policies": yaml.safe_load(POLICIES)})
    + "\n"
)


def harness() -> PolicyHarness:
    return PolicyHarness([BlockingPlugin()], config=CONFIG)


def verdict(text: str, policy: str = "readonly", kind: str = "agent", **kw: object):  # type: ignore[no-untyped-def]
    return harness().check(text, policy=policy, kind=kind, **kw)


def test_reads_pass_and_writes_do_not() -> None:
    assert verdict("select * from customers").action is Action.ALLOW
    assert verdict("select 'DROP TABLE t'").action is Action.ALLOW
    assert verdict("explain delete from t").action is Action.ALLOW
    v = verdict("drop table t")
    assert v.action is Action.DENY and v.rule == "no-ddl"
    assert verdict("insert into t values (1)").rule == "allow_effects"


def test_unknown_is_denied_for_agents() -> None:
    v = verdict("selec 1")
    assert v.action is Action.DENY and v.rule == "unknown"
    call = harness().check("<function call oid=2619>", policy="readonly", command_kind=CommandKind.CALL)
    assert call.action is Action.DENY and call.rule == "unknown"


def test_parser_state_refused_regardless_of_policy() -> None:
    v = verdict("set standard_conforming_strings = off", policy="reviewed")
    assert v.action is Action.DENY and v.rule == "parser-state"
    assert verdict("set standard_conforming_strings = on").action is Action.ALLOW


def test_review_rule_holds_deletes() -> None:
    h = harness()
    session = h.session(kind="agent", policy="reviewed")
    result = h.pipeline.check(session, h.command(session, "delete from t where id = 1"))
    # no approval plugin in this harness: a review with nobody to hold it fails closed
    assert not hasattr(result, "addCallback") and result.action is Action.DENY
    assert "no approval plugin" in result.reason


def test_no_policy_no_opinion() -> None:
    assert verdict("drop table t", policy=None).action is Action.ALLOW  # type: ignore[arg-type]


def _variant(draw: st.DrawFn, words: list[str]) -> str:
    out = []
    for w in words:
        out.append("".join(c.upper() if draw(st.booleans()) else c.lower() for c in w))
        out.append(draw(st.sampled_from([" ", "  ", "\n", "\t", " /* x */ ", "/**/", " -- c\n", "\n\t "])))
    return "".join(out)


@st.composite
def drop_variants(draw: st.DrawFn) -> str:
    stmt = draw(st.sampled_from([["drop", "table", "victim"], ["truncate", "victim"], ["truncate", "table", "victim"],
                                 ["delete", "from", "victim"], ["select", "pg_read_file('/etc/passwd')"]]))  # fmt: skip
    prefix = draw(st.sampled_from(["", "select 1; ", "/* hi */ ", "\n"]))
    return prefix + _variant(draw, stmt)


@settings(max_examples=200, deadline=None)
@given(drop_variants())
def test_variants_of_blocked_statements_are_blocked(text: str) -> None:
    assert verdict(text).action is Action.DENY, text


def test_policy_removed_by_reload_fails_closed() -> None:
    """An open session keeps its policy name; if a reload removed that policy, it is denied, never let through."""
    assert verdict("select 1", policy="gone_after_reload").action is Action.DENY
    assert verdict("select 1", policy="gone_after_reload").rule == "policy-gone"
