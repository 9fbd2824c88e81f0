"""Built-in blocking plugin: the connection's policy decides each command, from what the statement *does*.

Statements are classified by :mod:`interceptor.sql` (PostgreSQL's own parser, cached by fingerprint), so rules
match effects, tables and functions rather than text. Per command, in this order:

1. a statement that changes how the server parses later text (``standard_conforming_strings = off``, a
   client-only encoding...) is refused whatever the policy says: it would let a later statement mean something
   other than what the gateway checked;
2. ``block`` rules: the first that matches denies, with its reason and id;
3. ``allow_effects``: an effect outside the list is denied;
4. ``unknown``: what the classifier cannot tell (a parse error, a FunctionCall message) gets the policy's
   ``unknown`` action for the identity's kind (deny unless the policy says otherwise);
5. ``review`` rules: the first that matches holds the command for approval (see the approval plugin).

A connection without a policy gets no opinion from this plugin. A session whose policy a reload removed gets
every command denied (it must reconnect under the connection's current policy).
"""

from __future__ import annotations

from typing import Any

from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.model import Action, Classification, Command, CommandKind, Session, Verdict
from interceptor.policy import Policy, load_policies
from interceptor.sql import classify_command

_OPAQUE_CALL = Classification(
    frozenset({"unknown"}), reason="a FunctionCall message runs a function by number; what it does cannot be read"
)


def classify(command: Command) -> Classification:
    if command.kind is CommandKind.CALL:
        return _OPAQUE_CALL
    return classify_command(command)


class BlockingPlugin:
    def __init__(self) -> None:
        self.policies: dict[str, Policy] = {}

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any) -> None:
        self.policies = load_policies(config)

    @hookimpl
    def interceptor_check_command(self, session: Session, command: Command) -> Verdict | None:
        if not session.policy:
            return None
        policy = self.policies.get(session.policy)
        if policy is None:  # removed by a reload while this session was open: fail closed, never open
            return Verdict.deny(f"policy {session.policy!r} is no longer configured; reconnect", rule="policy-gone")
        return decide(policy, session, command, classify(command))


def decide(policy: Policy, session: Session, command: Command, info: Classification) -> Verdict | None:
    """The policy's verdict for one classified command (None: no objection)."""
    identity = session.identity
    parser_state = info.detail.get("parser_state")
    if parser_state:
        return Verdict.deny(f"{parser_state}; settings that change how statements are read are refused",
                            rule="parser-state")  # fmt: skip
    for rule in policy.block:
        if rule.matches(identity, info, command.text):
            return Verdict.deny(rule.reason, rule=rule.id)
    if policy.allow_effects is not None:
        extra = info.effects - policy.allow_effects - {"unknown"}
        if extra:
            return Verdict.deny(f"{', '.join(sorted(extra))} is not allowed by policy {policy.name}",
                                rule="allow_effects")  # fmt: skip
    if "unknown" in info.effects:
        action = policy.unknown_action(identity)
        why = f"the statement could not be classified ({info.reason or 'unknown effect'})"
        if action is Action.DENY:
            return Verdict.deny(why, rule="unknown")
        if action is Action.REVIEW:
            return Verdict.review(why, rule="unknown", approvers=_unknown_approvers(policy))
    for rule in policy.review:
        if rule.matches(identity, info, command.text):
            return Verdict.review(rule.reason, rule=rule.id, approvers=rule.approvers, timeout=rule.timeout)
    return None


def _unknown_approvers(policy: Policy) -> tuple[str, ...]:
    approvers: list[str] = []
    for rule in policy.review:
        approvers += [a for a in rule.approvers if a not in approvers]
    return tuple(approvers)
