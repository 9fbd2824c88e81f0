"""Policies: the ``policies:`` section of the config, validated into typed rules that every built-in plugin reads.

One module owns the policy vocabulary and its parsing, so the blocking, approval, masking and recording plugins
agree on what a policy says, and every mistake is reported with the config file's line and key.

```yaml
policies:
  readonly:
    unknown: deny                       # or allow / review, or per kind: {agent: deny, human: review}
    allow_effects: [select, show, explain, set, transaction]   # anything else is denied
    block:
      - {id: no-ddl, effect: [drop, truncate, alter], reason: "destructive DDL is never allowed here"}
      - {functions: ["pg_read_file", "dblink*"], reason: "server-side file and network access"}
      - {tables: ["secrets.*"], who: ["kind:agent"], reason: "agents never touch secrets"}
      - {regex: "(?i)\\\\bpg_sleep\\\\b", reason: "no sleeping on the primary"}
    review:
      - {effect: [delete, update], approvers: ["group:dba"], timeout: 5m}
    mask:
      columns: ["*.ssn", "customers.card"]
      detect: [credit_card, us_ssn, email]
      strategy: partial                 # redact (default) | partial | hash
    record: {rows: 100}                 # rows kept per result in the recording
```
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interceptor.config import Config, ConfigError
from interceptor.config_schema import parse_duration
from interceptor.model import Action, Classification, Identity, IdentityKind

EFFECTS = frozenset(
    {
        # reads
        "select", "copy_to", "show", "explain",
        # writes
        "insert", "update", "delete", "merge", "copy_from",
        # DDL
        "create", "alter", "drop", "truncate", "grant", "revoke",
        # code
        "call", "do", "prepare", "execute",
        # server side effects
        "program", "file_read", "file_write", "admin",
        # session
        "set", "transaction", "listen", "notify",
        "unknown",
    }
)  # fmt: skip
READS = frozenset({"select", "copy_to", "show", "explain"})
DETECTORS = frozenset({"credit_card", "us_ssn", "email", "iban", "phone"})
STRATEGIES = ("redact", "partial", "hash")
_ACTIONS = {"allow": Action.ALLOW, "deny": Action.DENY, "review": Action.REVIEW}
_RULE_KEYS = frozenset({"id", "effect", "tables", "functions", "who", "regex", "reason", "approvers", "timeout"})


@dataclass(frozen=True)
class Rule:
    """One block or review rule. Every condition given must match (effects: any of them; tables and functions:
    any glob against any name); a rule with no conditions matches every command."""

    id: str
    reason: str
    effects: frozenset[str] = frozenset()
    tables: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    who: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    approvers: tuple[str, ...] = ()
    timeout: float = 300.0

    def matches(self, identity: Identity, info: Classification, text: str) -> bool:
        if self.who and not any(identity.matches(w) for w in self.who):
            return False
        if self.effects and not (self.effects & info.effects):
            return False
        if self.tables and not _any_glob(self.tables, info.tables):
            return False
        if self.functions and not _any_glob(self.functions, info.functions):
            return False
        return not (self.regex is not None and not self.regex.search(text))


def _any_glob(patterns: Iterable[str], names: Iterable[str]) -> bool:
    """``orders`` matches ``orders`` and ``public.orders``; ``public.*`` matches qualified names only."""
    for name in names:
        bare = name.rsplit(".", 1)[-1]
        for p in patterns:
            if fnmatch.fnmatchcase(name, p) or ("." not in p and fnmatch.fnmatchcase(bare, p)):
                return True
    return False


@dataclass(frozen=True)
class MaskSpec:
    columns: tuple[str, ...] = ()
    detect: frozenset[str] = frozenset()
    strategy: str = "redact"

    @property
    def active(self) -> bool:
        return bool(self.columns or self.detect)


@dataclass(frozen=True)
class RecordSpec:
    enabled: bool = True
    rows: int = 100  # rows kept per result set in the recording (the row count is always exact)


@dataclass(frozen=True)
class Policy:
    name: str
    unknown: Mapping[IdentityKind, Action]
    allow_effects: frozenset[str] | None = None
    block: tuple[Rule, ...] = ()
    review: tuple[Rule, ...] = ()
    mask: MaskSpec = field(default_factory=MaskSpec)
    record: RecordSpec = field(default_factory=RecordSpec)

    def unknown_action(self, identity: Identity) -> Action:
        return self.unknown[identity.kind]


def load_policies(config: Config) -> dict[str, Policy]:
    """Every policy in the config, validated. Raises :class:`ConfigError` naming the line and key."""
    return {name: _policy(config, name, raw) for name, raw in config.policies.items()}


def _policy(config: Config, name: str, raw: Mapping[str, Any]) -> Policy:
    where = f"policies.{name}"
    known = {"unknown", "allow_effects", "block", "review", "mask", "record"}
    for key in raw:
        if key not in known:
            raise config.error(f"{where}.{key}", f"unknown key (expected one of {', '.join(sorted(known))})")
    return Policy(
        name=name,
        unknown=_unknown(config, where, raw.get("unknown", "deny")),
        allow_effects=_effects(config, f"{where}.allow_effects", raw["allow_effects"])
        if "allow_effects" in raw
        else None,
        block=tuple(_rules(config, f"{where}.block", raw.get("block") or [], review=False)),
        review=tuple(_rules(config, f"{where}.review", raw.get("review") or [], review=True)),
        mask=_mask(config, f"{where}.mask", raw.get("mask") or {}),
        record=_record(config, f"{where}.record", raw.get("record") or {}),
    )


def _unknown(config: Config, key: str, value: Any) -> Mapping[IdentityKind, Action]:
    if isinstance(value, str):
        value = dict.fromkeys([k.value for k in IdentityKind], value)
    if not isinstance(value, Mapping):
        raise config.error(key, "must be allow, deny or review, or a mapping of identity kind to one of them")
    out: dict[IdentityKind, Action] = dict.fromkeys(IdentityKind, Action.DENY)
    for kind, action in value.items():
        if kind not in {k.value for k in IdentityKind}:
            raise config.error(f"{key}.{kind}", "must be agent, human or service")
        if action not in _ACTIONS:
            raise config.error(
                f"{key}.{kind}" if len(value) < 3 else key, f"must be allow, deny or review (got {action!r})"
            )
        out[IdentityKind(kind)] = _ACTIONS[action]
    return out


def _strings(config: Config, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise config.error(key, "must be a list of non-empty strings")
    return tuple(value)


def _effects(config: Config, key: str, value: Any) -> frozenset[str]:
    effects = _strings(config, key, value)
    for i, e in enumerate(effects):
        if e not in EFFECTS:
            raise config.error(f"{key}[{i}]", f"unknown effect {e!r} (known: {', '.join(sorted(EFFECTS))})")
    return frozenset(effects)


def _rules(config: Config, key: str, raw: Any, review: bool) -> Iterable[Rule]:
    if not isinstance(raw, list):
        raise config.error(key, "must be a list of rules")
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise config.error(where, "a rule is a mapping (effect, tables, functions, who, regex, reason)")
        for k in item:
            if k not in _RULE_KEYS or (not review and k in ("approvers", "timeout")):
                raise config.error(f"{where}.{k}", "unknown rule key")
        regex = None
        if "regex" in item:
            try:
                regex = re.compile(str(item["regex"]))
            except re.error as e:
                raise config.error(f"{where}.regex", f"not a valid regular expression: {e}") from None
        approvers = _strings(config, f"{where}.approvers", item["approvers"]) if "approvers" in item else ()
        if review and not approvers:
            raise config.error(where, "a review rule needs approvers (identity names or group:NAME)")
        timeout = 300.0
        if "timeout" in item:
            try:
                timeout = parse_duration(item["timeout"])
            except ValueError as e:
                raise config.error(f"{where}.timeout", str(e)) from None
        rule_id = str(item.get("id") or key.rsplit(".", 1)[-1] + f"[{i}]")
        yield Rule(
            id=rule_id,
            reason=str(item.get("reason") or ("needs approval" if review else f"blocked by rule {rule_id}")),
            effects=_effects(config, f"{where}.effect", item["effect"]) if "effect" in item else frozenset(),
            tables=tuple(t.lower() for t in _strings(config, f"{where}.tables", item["tables"]))
            if "tables" in item
            else (),
            functions=tuple(f.lower() for f in _strings(config, f"{where}.functions", item["functions"]))
            if "functions" in item
            else (),
            who=_strings(config, f"{where}.who", item["who"]) if "who" in item else (),
            regex=regex,
            approvers=approvers,
            timeout=timeout,
        )


def _mask(config: Config, key: str, raw: Any) -> MaskSpec:
    if not isinstance(raw, Mapping):
        raise config.error(key, "must be a mapping (columns, detect, strategy)")
    for k in raw:
        if k not in ("columns", "detect", "strategy"):
            raise config.error(f"{key}.{k}", "unknown key (expected columns, detect or strategy)")
    detect = _strings(config, f"{key}.detect", raw["detect"]) if "detect" in raw else ()
    for i, d in enumerate(detect):
        if d not in DETECTORS:
            raise config.error(f"{key}.detect[{i}]", f"unknown detector {d!r} (known: {', '.join(sorted(DETECTORS))})")
    strategy = raw.get("strategy", "redact")
    if strategy not in STRATEGIES:
        raise config.error(f"{key}.strategy", f"must be one of {', '.join(STRATEGIES)}")
    columns = _strings(config, f"{key}.columns", raw["columns"]) if "columns" in raw else ()
    return MaskSpec(tuple(c.lower() for c in columns), frozenset(detect), strategy)


def _record(config: Config, key: str, raw: Any) -> RecordSpec:
    if not isinstance(raw, Mapping):
        raise config.error(key, "must be a mapping (enabled, rows)")
    for k in raw:
        if k not in ("enabled", "rows"):
            raise config.error(f"{key}.{k}", "unknown key (expected enabled or rows)")
    rows = raw.get("rows", 100)
    if not isinstance(rows, int) or rows < 0:
        raise config.error(f"{key}.rows", "must be a whole number, 0 or more")
    return RecordSpec(bool(raw.get("enabled", True)), rows)


__all__ = ["DETECTORS", "EFFECTS", "READS", "ConfigError", "MaskSpec", "Policy", "RecordSpec", "Rule", "load_policies"]
