"""Tests for interceptor.config: loading, defaults, and exact file:line: key: message errors."""

from __future__ import annotations

import dataclasses
import ipaddress
import pickle
import textwrap
from pathlib import Path

import bcrypt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.config import (
    Address,
    Config,
    ConfigError,
    ConnectionConfig,
    IdentityConfig,
    Limits,
    Timeouts,
    TlsConfig,
    default_path,
    load,
    loads,
)
from interceptor.config_schema import format_duration, format_size, parse_duration, parse_size
from interceptor.model import Identity, IdentityKind
from interceptor.vault import Secret

HASH = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"  # bcrypt-shaped, 60 chars

FULL = f"""\
listen: {{postgres: 127.0.0.1:15432, mysql: "[::1]:13306"}}
admin: 127.0.0.1:0
data_dir: /var/lib/interceptor
state: postgresql://gateway@db.internal/interceptor
recordings: rec
audit_log: /var/log/interceptor/audit.jsonl
tls: {{cert: gateway.crt, key: gateway.key}}
client_tls: optional
limits: {{max_message_size: 64MiB}}
timeouts: {{connect: 5s, auth: 1m, idle: 1h, drain: 500ms}}
identities:
  - {{name: autogen-bot, kind: agent, groups: [agents, ci], token_hash: "{HASH}"}}
  - name: alice@example.com
    kind: human
    token_hash: "{HASH}"
connections:
  - name: orders
    protocol: postgres
    upstream: 10.0.0.5:5432
    username: app
    password: ${{ORDERS_DB_PASSWORD}}
    tls: verify-full
    ca: certs/ca.pem
    policy: agents
    allow: [group:agents, kind:human, alice@example.com]
  - name: billing
    protocol: mysql
    upstream: "[2001:db8::1]:3306"
    database: billing_prod
    password: file:secrets/billing
policies:
  agents:
    unknown: deny
    block:
      - {{match: "DROP *", effect: deny}}
plugins: [mycompany.interceptor_rules]
disabled_plugins: [audit]
plugin_config:
  audit: {{path: /tmp/x, rotate: 3}}
log: {{level: debug, format: text}}
"""


def err(text: str, filename: str = "interceptor.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        loads(textwrap.dedent(text), filename, base_dir=Path("/etc/interceptor"))
    return str(info.value)


# -- a full, valid config ---------------------------------------------------------------------------------------


def test_full_config_loads_into_typed_objects() -> None:
    cfg = loads(FULL, "interceptor.yaml", base_dir=Path("/etc/interceptor"))
    assert cfg.path is None
    assert cfg.data_dir == Path("/var/lib/interceptor")
    assert dict(cfg.listen) == {"postgres": Address("127.0.0.1", 15432), "mysql": Address("::1", 13306)}
    assert cfg.admin == Address("127.0.0.1", 0)
    assert cfg.state == "postgresql://gateway@db.internal/interceptor"
    assert cfg.recordings == Path("/etc/interceptor/rec")
    assert cfg.audit_log == Path("/var/log/interceptor/audit.jsonl")
    assert cfg.tls == TlsConfig(Path("/etc/interceptor/gateway.crt"), Path("/etc/interceptor/gateway.key"))
    assert cfg.client_tls == "optional"
    assert cfg.limits == Limits(64 * 1024 * 1024)
    assert cfg.timeouts == Timeouts(connect=5.0, auth=60.0, idle=3600.0, drain=0.5)
    assert cfg.identities["autogen-bot"] == IdentityConfig(
        "autogen-bot", IdentityKind.AGENT, frozenset({"agents", "ci"}), HASH
    )
    assert cfg.identities["alice@example.com"].groups == frozenset()
    assert cfg.identities["autogen-bot"].identity() == Identity(
        "autogen-bot", IdentityKind.AGENT, frozenset({"agents", "ci"})
    )
    assert cfg.connections["orders"] == ConnectionConfig(
        name="orders",
        protocol="postgres",
        upstream=Address("10.0.0.5", 5432),
        database="orders",  # defaults to the connection name
        username="app",
        password=Secret("${ORDERS_DB_PASSWORD}"),
        tls="verify-full",
        ca=Path("/etc/interceptor/certs/ca.pem"),
        policy="agents",
        allow=("group:agents", "kind:human", "alice@example.com"),
    )
    billing = cfg.connections["billing"]
    assert billing.database == "billing_prod"
    assert billing.upstream == Address("2001:db8::1", 3306)
    assert billing.password is not None and billing.password.reference == "file:secrets/billing"
    assert (billing.tls, billing.ca, billing.policy, billing.allow, billing.username) == (
        "prefer",
        None,
        None,
        ("*",),
        None,
    )
    assert cfg.policies == {"agents": {"unknown": "deny", "block": [{"match": "DROP *", "effect": "deny"}]}}
    assert cfg.plugins == ("mycompany.interceptor_rules",)
    assert cfg.disabled_plugins == ("audit",)
    assert cfg.plugin_settings("audit") == {"path": "/tmp/x", "rotate": 3}
    assert cfg.plugin_settings("nope") == {}
    assert (cfg.log_level, cfg.log_format) == ("debug", "text")


def test_documented_example_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = loads(example, "interceptor.yaml", base_dir=tmp_path)
    assert set(cfg.connections) == {"orders"}


def test_config_is_frozen_and_read_only() -> None:
    cfg = loads(FULL, base_dir=Path("/etc"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.client_tls = "required"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.connections["x"] = cfg.connections["orders"]  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.policies["agents"]["unknown"] = "allow"  # type: ignore[index]


def test_real_bcrypt_hash_is_accepted() -> None:
    hashed = bcrypt.hashpw(b"s3cret-token", bcrypt.gensalt(rounds=4)).decode()
    cfg = loads(f"identities: [{{name: bot, kind: service, token_hash: '{hashed}'}}]")
    assert cfg.identities["bot"].token_hash == hashed
    assert hashed not in repr(cfg)


# -- defaults ---------------------------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    cfg = loads(
        "listen: {postgres: 127.0.0.1:0}\nconnections: [{name: db, protocol: postgres, upstream: h:5432}]\n",
        base_dir=tmp_path,
    )
    assert cfg.data_dir == tmp_path / "var"
    assert cfg.state == f"sqlite:///{tmp_path}/var/state.db"
    assert cfg.recordings == tmp_path / "var" / "recordings"
    assert cfg.audit_log == tmp_path / "var" / "audit.jsonl"
    assert cfg.admin is None
    assert cfg.tls == TlsConfig(None, None)
    assert cfg.client_tls == "required"
    assert cfg.limits.max_message_size == 16 * 1024 * 1024
    assert cfg.timeouts == Timeouts(connect=10.0, auth=30.0, idle=0.0, drain=30.0)
    assert (cfg.log_level, cfg.log_format) == ("info", "json")
    assert (cfg.plugins, cfg.disabled_plugins, dict(cfg.policies), dict(cfg.identities)) == ((), (), {}, {})
    conn = cfg.connections["db"]
    assert (conn.database, conn.tls, conn.allow, conn.password, conn.policy) == ("db", "prefer", ("*",), None, None)


def test_database_defaults_only_for_sql_protocols() -> None:
    cfg = loads(
        "listen: {ssh: 127.0.0.1:2222, http: 127.0.0.1:8080}\nconnections:\n"
        "  - {name: box, protocol: ssh, upstream: box:22}\n  - {name: api, protocol: http, upstream: api:443}\n"
    )
    assert cfg.connections["box"].database is None
    assert cfg.connections["api"].database is None


def test_empty_values_count_as_not_set() -> None:
    cfg = loads("listen:\nidentities:\nlimits:\ntimeouts: {idle: ~}\nplugin_config: {audit: }\n")
    assert dict(cfg.listen) == {}
    assert cfg.timeouts.idle == 0.0
    assert cfg.plugin_settings("audit") == {}


def test_state_urls(tmp_path: Path) -> None:
    assert loads("state: sqlite:///db/state.db", base_dir=tmp_path).state == f"sqlite:///{tmp_path}/db/state.db"
    assert loads("state: sqlite:////srv/state.db", base_dir=tmp_path).state == "sqlite:////srv/state.db"
    assert loads("state: 'sqlite:///:memory:'").state == "sqlite:///:memory:"
    assert loads("data_dir: /srv/ic").state == "sqlite:////srv/ic/state.db"


# -- relative paths, load() and default_path() -----------------------------------------------------------------


def test_load_resolves_relative_paths_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "interceptor.yaml").write_text(
        "data_dir: state\ntls: {cert: tls/gw.crt, key: /abs/gw.key}\naudit_log: ../logs/audit.jsonl\n"
    )
    monkeypatch.chdir(tmp_path)
    cfg = load("etc/interceptor.yaml")
    assert cfg.path == conf_dir / "interceptor.yaml"
    assert cfg.data_dir == conf_dir / "state"
    assert cfg.recordings == conf_dir / "state" / "recordings"
    assert cfg.tls == TlsConfig(conf_dir / "tls" / "gw.crt", Path("/abs/gw.key"))
    assert cfg.audit_log == conf_dir / "../logs/audit.jsonl"


def test_load_default_data_dir_is_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("log: {level: warn}\n")
    cfg = load(tmp_path / "c.yaml")
    assert cfg.data_dir == tmp_path / "var"
    assert cfg.log_level == "warn"


def test_load_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "missing.yaml")
    assert info.value.line is None
    assert str(info.value) == f"{tmp_path / 'missing.yaml'}: cannot read the config: No such file or directory"


def test_load_errors_name_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "interceptor.yaml").write_text("# gateway\n\nclient_tls: requird\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load("interceptor.yaml")
    assert str(info.value) == "interceptor.yaml:3: client_tls: must be one of required, optional (got 'requird')"


def test_default_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERCEPTOR_CONFIG", raising=False)
    assert default_path() == Path("interceptor.yaml")
    monkeypatch.setenv("INTERCEPTOR_CONFIG", "/etc/interceptor/gw.yaml")
    assert default_path() == Path("/etc/interceptor/gw.yaml")
    assert default_path("explicit.yaml") == Path("explicit.yaml")
    monkeypatch.setenv("INTERCEPTOR_CONFIG", "")
    assert default_path() == Path("interceptor.yaml")


# -- secrets ----------------------------------------------------------------------------------------------------


def test_secret_values_never_show(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORDERS_DB_PASSWORD", "hunter2-very-secret")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "billing").write_text("file-secret-value\n")
    cfg = loads(FULL, base_dir=tmp_path)
    orders, billing = cfg.connections["orders"].password, cfg.connections["billing"].password
    assert orders is not None and billing is not None
    assert orders.resolve() == "hunter2-very-secret"
    assert billing.resolve() == "file-secret-value"
    assert repr(orders) == "Secret('${ORDERS_DB_PASSWORD}')"
    for text in (repr(cfg), str(cfg), repr(cfg.connections["orders"]), repr(billing)):
        assert "hunter2" not in text and "file-secret-value" not in text


@pytest.mark.parametrize("value", ["hunter2", "'${lower-case}'", "12345", "'$PASSWORD'"])
def test_inline_password_error_never_echoes_the_value(value: str) -> None:
    text = (
        f"listen: {{postgres: 127.0.0.1:1}}\nconnections:\n  - name: a\n    protocol: postgres\n"
        f"    upstream: h:1\n    password: {value}\n"
    )
    message = err(text)
    assert message == (
        "interceptor.yaml:6: connections[0].password: write secrets as ${ENV_VAR} or file:/path, never inline"
    )
    assert value.strip("'") not in message


# -- errors: exact file, line, key and message ------------------------------------------------------------------

LISTEN = "listen: {postgres: 127.0.0.1:15432}\n"

ERRORS = [
    # unknown keys, with and without a suggestion
    (
        LISTEN + "connections:\n  - name: orders\n    protocol: postgres\n    upstrem: h:1\n",
        "interceptor.yaml:5: connections[0].upstrem: unknown key (did you mean 'upstream'?)",
    ),
    ("clinet_tls: required\n", "interceptor.yaml:1: clinet_tls: unknown key (did you mean 'client_tls'?)"),
    (
        "limits: {max_msg_size: 1MiB}\n",
        "interceptor.yaml:1: limits.max_msg_size: unknown key (did you mean 'max_message_size'?)",
    ),
    ("log: {colour: red}\n", "interceptor.yaml:1: log.colour: unknown key (expected one of: level, format)"),
    (
        "listen: {postgress: 127.0.0.1:1}\n",
        "interceptor.yaml:1: listen.postgress: unknown key (did you mean 'postgres'?)",
    ),
    # bad enums
    (
        LISTEN + "connections:\n  - {name: a, protocol: postgres, upstream: h:1}\n"
        "  - name: b\n    protocol: postgres\n    upstream: h:1\n    tls: requir\n",
        "interceptor.yaml:7: connections[1].tls: must be one of disable, prefer, require, verify-full (got 'requir')",
    ),
    (
        "log:\n  level: verbose\n",
        "interceptor.yaml:2: log.level: must be one of debug, info, warn, error (got 'verbose')",
    ),
    (
        "identities:\n  - {name: x, kind: robot, token_hash: h}\n",
        "interceptor.yaml:2: identities[0].kind: must be one of agent, human, service (got 'robot')",
    ),
    (
        LISTEN + "connections:\n  - {name: a, protocol: postgress, upstream: h:1}\n",
        "interceptor.yaml:3: connections[0].protocol: must be one of postgres, mysql, ssh, http (got 'postgress')",
    ),
    # bad addresses
    ("listen: {postgres: localhost}\n", "interceptor.yaml:1: listen.postgres: must be host:port (got 'localhost')"),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n    upstream: db:70000\n",
        "interceptor.yaml:5: connections[0].upstream: port must be a number from 1 to 65535 (got '70000')",
    ),
    (
        LISTEN + "connections:\n  - {name: a, protocol: postgres, upstream: 'db:0'}\n",
        "interceptor.yaml:3: connections[0].upstream: port must be a number from 1 to 65535 (got '0')",
    ),
    (
        "admin: '::1:8080'\n",
        "interceptor.yaml:1: admin: write IPv6 addresses in brackets, as in [::1]:5432 (got '::1:8080')",
    ),
    ("admin: '[fe80::zz]:1'\n", "interceptor.yaml:1: admin: 'fe80::zz' is not an IPv6 address"),
    ("admin: 'bad host:1'\n", "interceptor.yaml:1: admin: 'bad host' is not a host name or IP address"),
    (
        "listen:\n  postgres: 0.0.0.0:5000\n  mysql: 0.0.0.0:5000\n",
        "interceptor.yaml:3: listen.mysql: 0.0.0.0:5000 is already used by listen.postgres",
    ),
    # bad bcrypt hashes
    (
        "identities:\n  - name: bot\n    kind: agent\n    token_hash: my-plain-token\n",
        "interceptor.yaml:4: identities[0].token_hash: must be a bcrypt hash ($2b$, a cost from 04 to 31, $, then 53 "
        "characters), never a plain token",
    ),
    (
        f"identities:\n  - {{name: bot, kind: agent, token_hash: '{HASH.replace('$12$', '$03$')}'}}\n",
        "interceptor.yaml:2: identities[0].token_hash: must be a bcrypt hash ($2b$, a cost from 04 to 31, $, then 53 "
        "characters), never a plain token",
    ),
    (
        f"identities:\n  - {{name: bot, kind: agent, token_hash: '{HASH.replace('$2b$', '$2x$')}'}}\n",
        "interceptor.yaml:2: identities[0].token_hash: must be a bcrypt hash ($2b$, a cost from 04 to 31, $, then 53 "
        "characters), never a plain token",
    ),
    # duplicate names
    (
        f"identities:\n  - {{name: bot, kind: agent, token_hash: '{HASH}'}}\n\n"
        f"  - {{name: bot, kind: human, token_hash: '{HASH}'}}\n",
        "interceptor.yaml:4: identities[1].name: duplicate name 'bot' (first at line 2)",
    ),
    (
        LISTEN + "connections:\n  - name: orders\n    protocol: postgres\n    upstream: h:1\n"
        "  - name: orders\n    protocol: postgres\n    upstream: h:2\n",
        "interceptor.yaml:6: connections[1].name: duplicate name 'orders' (first at line 3)",
    ),
    ("log:\n  level: info\n  level: debug\n", "interceptor.yaml:3: log.level: duplicate key (first at line 2)"),
    ("plugins: [a.b, c, a.b]\n", "interceptor.yaml:1: plugins[2]: 'a.b' is listed twice"),
    # names
    (
        LISTEN + "connections:\n  - {name: 'my db', protocol: postgres, upstream: h:1}\n",
        "interceptor.yaml:3: connections[0].name: must match [A-Za-z0-9_.-]{1,63} (got 'my db')",
    ),
    (
        "plugins: [my-plugin]\n",
        "interceptor.yaml:1: plugins[0]: must be a dotted module path such as mypkg.rules"
        " (or mypkg.rules:Plugin for a class) (got 'my-plugin')",
    ),
    # cross-references
    (
        LISTEN + "policies: {agents: {}}\nconnections:\n  - name: a\n    protocol: postgres\n    upstream: h:1\n"
        "    policy: agnets\n",
        "interceptor.yaml:7: connections[0].policy: no policy named 'agnets' (did you mean 'agents'?)",
    ),
    (
        LISTEN + "connections:\n  - {name: a, protocol: postgres, upstream: h:1, policy: strict}\n",
        "interceptor.yaml:3: connections[0].policy: no policy named 'strict' (add it under policies)",
    ),
    (
        LISTEN + "connections:\n  - {name: a, protocol: postgres, upstream: h:1}\n"
        "  - {name: b, protocol: postgres, upstream: h:1}\n  - {name: c, protocol: mysql, upstream: h:1}\n",
        "interceptor.yaml:5: connections[2].protocol: no listener for 'mysql' (add listen.mysql)",
    ),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n    upstream: h:1\n    ca: ca.pem\n",
        "interceptor.yaml:6: connections[0].ca: is only used with tls: require or verify-full (tls is 'prefer')",
    ),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n    upstream: h:1\n    allow: ['group:']\n",
        "interceptor.yaml:6: connections[0].allow[0]: must be '*', an identity name, group:<name> or "
        "kind:agent|human|service (got 'group:')",
    ),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n    upstream: h:1\n    allow:\n",
        "interceptor.yaml:6: connections[0].allow: is empty (leave the key out for the default)",
    ),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n    upstream: h:1\n    allow: []\n",
        "interceptor.yaml:6: connections[0].allow: must list at least one selector ('*' allows every identity)",
    ),
    (
        LISTEN + "connections:\n  - name: a\n    protocol: postgres\n",
        "interceptor.yaml:3: connections[0].upstream: is required",
    ),
    ("tls:\n  cert: gw.crt\n", "interceptor.yaml:1: tls.key: is required when tls.cert is set"),
    # YAML syntax errors
    (
        "listen: {postgres: 127.0.0.1:1\nlog: {}\n",
        "interceptor.yaml:2: YAML syntax error: expected ',' or '}', but got ':' (while parsing a flow mapping)",
    ),
    (
        "log:\n  level: info\n format: json\n",
        "interceptor.yaml:3: YAML syntax error: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping)",
    ),
    (
        "a: 1\n---\nb: 2\n",
        "interceptor.yaml:2: YAML syntax error: but found another document (expected a single document in the stream)",
    ),
    (
        "policies: {p: !python/name:os.system x}\n",
        "interceptor.yaml:1: YAML error: could not determine a constructor for the tag '!python/name:os.system'",
    ),
    # wrong types
    ("listen: [postgres]\n", "interceptor.yaml:1: listen: must be a mapping (got a list)"),
    ("identities: {bot: {kind: agent}}\n", "interceptor.yaml:1: identities: must be a list (got a mapping)"),
    ("identities:\n  - bot\n", "interceptor.yaml:2: identities[0]: must be a mapping (got a string)"),
    (
        f"identities:\n  - {{name: bot, kind: agent, groups: agents, token_hash: '{HASH}'}}\n",
        "interceptor.yaml:2: identities[0].groups: must be a list (got a string)",
    ),
    (
        "client_tls: yes\n",
        "interceptor.yaml:1: client_tls: must be a string (got a boolean; quote it if you mean the text)",
    ),
    ("data_dir: [a]\n", "interceptor.yaml:1: data_dir: must be a string (got a list)"),
    ("policies:\n  agents: [deny]\n", "interceptor.yaml:2: policies.agents: must be a mapping (got a list)"),
    ("plugin_config: {audit: 3}\n", "interceptor.yaml:1: plugin_config.audit: must be a mapping (got an integer)"),
    ("state: mysql://x\n", "interceptor.yaml:1: state: must start with sqlite:/// or postgresql://"),
    (
        "state: postgresql://u:pw@h/db\n",
        "interceptor.yaml:1: state: must not contain a password; use PGPASSWORD or a .pgpass file",
    ),
    # sizes and durations
    (
        "limits: {max_message_size: 12mib}\n",
        "interceptor.yaml:1: limits.max_message_size: unknown size unit 'mib' (did you mean MiB?)",
    ),
    (
        "limits: {max_message_size: 512}\n",
        "interceptor.yaml:1: limits.max_message_size: must be from 1KiB to 1GiB (got 512B)",
    ),
    (
        "limits: {max_message_size: true}\n",
        "interceptor.yaml:1: limits.max_message_size: must be a size (got a boolean)",
    ),
    (
        "timeouts:\n  idle: forever\n",
        "interceptor.yaml:2: timeouts.idle: must be a duration such as 30s, 500ms, 5m or 1h (got 'forever')",
    ),
    ("timeouts: {auth: 0}\n", "interceptor.yaml:1: timeouts.auth: must be more than 0"),
    (
        "timeouts: {connect: -1}\n",
        "interceptor.yaml:1: timeouts.connect: must be a duration of zero or more seconds (got -1)",
    ),
    (
        "timeouts: {connect: .inf}\n",
        "interceptor.yaml:1: timeouts.connect: must be a duration of zero or more seconds (got inf)",
    ),
    # the document as a whole
    ("", "interceptor.yaml:1: the config is empty (it must be a mapping of settings)"),
    ("# only a comment\n", "interceptor.yaml:1: the config is empty (it must be a mapping of settings)"),
    ("- listen\n", "interceptor.yaml:1: the top level must be a mapping (got a list)"),
    ("just text\n", "interceptor.yaml:1: the top level must be a mapping (got a string)"),
    ("a: &x [*x]\n", "interceptor.yaml:1: a[0]: a YAML alias refers to a value that contains it"),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS, ids=[e[1].split(": ", 2)[1] for e in ERRORS])
def test_error_messages(text: str, expected: str) -> None:
    assert err(text) == expected


def test_error_attributes() -> None:
    with pytest.raises(ConfigError) as info:
        loads("\n\nconnections:\n  - {name: a, protocol: postgres, upstream: h:1, tls: requir}\n", "gw.yaml")
    e = info.value
    assert (e.file, e.line, e.key) == ("gw.yaml", 4, "connections[0].protocol")
    assert e.message == "no listener for 'postgres' (add listen.postgres)"
    copy = pickle.loads(pickle.dumps(e))
    assert str(copy) == str(e) == "gw.yaml:4: connections[0].protocol: no listener for 'postgres' (add listen.postgres)"


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    message = err("policies:\n  p:\n" + textwrap.indent("\n".join(lines), "    ") + "\n")
    assert "too many values" in message


def test_yaml_merge_keys_work_in_policies_but_not_in_typed_sections() -> None:
    cfg = loads("policies:\n  base: &b {unknown: deny}\n  strict: {<<: *b, extra: 1}\n")
    assert cfg.policies["strict"] == {"unknown": "deny", "extra": 1}
    assert err("log:\n  <<: {level: info}\n") == "interceptor.yaml:2: log.<<: YAML merge keys are not supported here"


# -- Config.error for plugins -----------------------------------------------------------------------------------


def test_config_error_points_plugins_at_their_keys() -> None:
    cfg = loads(FULL, "interceptor.yaml", base_dir=Path("/etc"))
    e = cfg.error("policies.agents.block[0].effect", "unknown effect 'dorp'")
    assert str(e) == "interceptor.yaml:35: policies.agents.block[0].effect: unknown effect 'dorp'"
    # a key that is not in the file points at its nearest ancestor that is
    assert cfg.error("plugin_config.audit.missing", "is required").line == 39
    assert cfg.error("nowhere", "x").line == 1
    assert isinstance(e, ConfigError)


def test_config_built_by_hand_still_makes_errors() -> None:
    cfg = Config(data_dir=Path("/d"), state="sqlite:////d/s.db", recordings=Path("/d/r"), audit_log=Path("/d/a"))
    assert str(cfg.error("policies.x", "bad")) == "<config>: policies.x: bad"
    assert cfg.plugin_settings("audit") == {}


# -- parsers: round trips and examples --------------------------------------------------------------------------

hostnames = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}", fullmatch=True)
ipv6 = st.ip_addresses(v=6).map(str)
ipv4 = st.ip_addresses(v=4).map(str)


@given(host=st.one_of(hostnames, ipv4, ipv6), port=st.integers(1, 65535))
def test_address_round_trip(host: str, port: int) -> None:
    addr = Address(host, port)
    assert Address.parse(str(addr)) == addr
    if ":" in host:
        assert str(addr) == f"[{host}]:{port}"
        assert ipaddress.ip_address(host)


def test_address_examples() -> None:
    assert str(Address("::1", 5432)) == "[::1]:5432"
    assert Address.parse(" db.internal:5432 ") == Address("db.internal", 5432)
    assert Address.parse("127.0.0.1:0", listen=True).port == 0
    for bad in ("127.0.0.1:0", "db:", "db:abc", ":5432", "[::1]5432", "db:+5", "db:\u0665"):
        with pytest.raises(ValueError):
            Address.parse(bad)


@given(st.integers(0, 1 << 40))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 << 20),
        ("512KiB", 512 << 10),
        ("1GiB", 1 << 30),
        ("1GB", 10**9),
        ("16 MB", 16 * 10**6),
        ("2kB", 2000),
        ("2KB", 2000),
        ("1.5KiB", 1536),
        ("4096", 4096),
        ("100B", 100),
        (65536, 65536),
    ],
)
def test_size_examples(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["1.0001KiB", "MiB", "-1KiB", "1 TiB", "1e6"])
def test_size_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


@given(st.integers(0, 10**7))
def test_duration_round_trip_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(0, 10**9))
def test_duration_round_trip_milliseconds(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == ms / 1000


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_duration_round_trip_floats(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("2d", 172800.0),
        ("1.5h", 5400.0),
        ("45", 45.0),
        (" 1m 30s ", 90.0),
        (10, 10.0),
        (0.5, 0.5),
    ],
)
def test_duration_examples(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_timeouts_accept_numbers_and_strings() -> None:
    cfg = loads("timeouts: {connect: 3, auth: 2.5, idle: 0, drain: '10'}\n")
    assert cfg.timeouts == Timeouts(connect=3.0, auth=2.5, idle=0.0, drain=10.0)


def test_size_accepts_yaml_integers() -> None:
    assert loads("limits: {max_message_size: 0x10000}\n").limits.max_message_size == 65536
    assert loads("limits: {max_message_size: 1_048_576}\n").limits.max_message_size == 1 << 20
