"""The gateway's configuration: one YAML file in, validated frozen dataclasses out.

Every mistake is a :class:`ConfigError` that names the file, the line and the key, e.g.
``interceptor.yaml:14: connections[1].tls: must be one of disable, prefer, require, verify-full (got 'requir')``.
Unknown keys are errors too (with a "did you mean" hint): in a security config a typo must never be silently
ignored. See ``docs/configuration.md`` for every key.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from yaml.nodes import MappingNode, Node

from interceptor.config_schema import (
    ConfigError,
    Document,
    child,
    describe,
    is_null,
    parent,
    parse_hostport,
    suggest,
)
from interceptor.model import Identity, IdentityKind
from interceptor.vault import Secret, parse_secret

__all__ = [
    "CLIENT_TLS_MODES",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PROTOCOLS",
    "UPSTREAM_TLS_MODES",
    "Address",
    "Config",
    "ConfigError",
    "ConnectionConfig",
    "IdentityConfig",
    "Limits",
    "Timeouts",
    "TlsConfig",
    "default_path",
    "load",
    "loads",
]

PROTOCOLS = ("postgres", "mysql", "ssh", "http")
UPSTREAM_TLS_MODES = ("disable", "prefer", "require", "verify-full")
CLIENT_TLS_MODES = ("required", "optional")
LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("json", "text")
MIN_MESSAGE_SIZE = 1 << 10
MAX_MESSAGE_SIZE = 1 << 30

_IDENTITY_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,63}")
_CONNECTION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,63}")
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_PLUGIN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?")
_TOP = (
    "listen", "data_dir", "admin", "state", "recordings", "audit_log", "tls", "client_tls", "limits", "timeouts",
    "identities", "connections", "policies", "plugins", "disabled_plugins", "plugin_config", "log",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Address:
    """A ``host:port``. ``str()`` writes IPv6 hosts in brackets: ``[::1]:5432``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, *, listen: bool = False) -> Address:
        """Parse ``host:port`` or ``[v6]:port``. Port 0 ("pick a free port") only for ``listen`` addresses.
        Raises ``ValueError``."""
        return cls(*parse_hostport(text, allow_zero=listen))


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """The gateway's own certificate for client connections. Neither set: a self-signed pair is generated in
    ``data_dir`` on first run."""

    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_size: int = 16 << 20


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``idle`` 0 means no idle timeout."""

    connect: float = 10.0
    auth: float = 30.0
    idle: float = 0.0
    drain: float = 30.0


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    name: str
    kind: IdentityKind
    groups: frozenset[str]
    token_hash: str = field(repr=False)  # a bcrypt hash; kept out of repr() and logs all the same

    def identity(self) -> Identity:
        return Identity(self.name, self.kind, self.groups)


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """An upstream that identities may reach through the gateway. ``password`` is a reference, never a value."""

    name: str
    protocol: str
    upstream: Address
    database: str | None = None
    username: str | None = None
    password: Secret | None = None
    tls: str = "prefer"
    ca: Path | None = None
    policy: str | None = None
    allow: tuple[str, ...] = ("*",)


def _frozen(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole validated configuration. Build it with :func:`load` or :func:`loads`."""

    path: Path | None = None
    data_dir: Path
    listen: Mapping[str, Address] = field(default_factory=_frozen)
    admin: Address | None = None
    state: str
    recordings: Path
    audit_log: Path
    tls: TlsConfig = TlsConfig()
    client_tls: str = "required"
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    identities: Mapping[str, IdentityConfig] = field(default_factory=_frozen)
    connections: Mapping[str, ConnectionConfig] = field(default_factory=_frozen)
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=_frozen)
    plugins: tuple[str, ...] = ()
    disabled_plugins: tuple[str, ...] = ()
    plugin_config: Mapping[str, Mapping[str, Any]] = field(default_factory=_frozen)
    log_level: str = "info"
    log_format: str = "json"
    _source: str = field(default="<config>", repr=False, compare=False)
    _marks: Mapping[str, int] = field(default_factory=_frozen, repr=False, compare=False)

    def plugin_settings(self, name: str) -> Mapping[str, Any]:
        """The ``plugin_config.<name>`` mapping, or ``{}``."""
        return self.plugin_config.get(name, _frozen())

    def error(self, key: str, message: str) -> ConfigError:
        """A :class:`ConfigError` pointing at ``key``'s line (or its nearest ancestor's), for plugins that
        validate their own sections: ``raise config.error("policies.agents.block[0].effect", "...")``."""
        path = key
        while path not in self._marks and path:
            path = parent(path)
        return ConfigError(self._source, self._marks.get(path), key, message)


def default_path(explicit: str | None = None) -> Path:
    """Where the config lives: ``explicit`` if given, else ``$INTERCEPTOR_CONFIG``, else ``./interceptor.yaml``."""
    return Path(explicit or os.environ.get("INTERCEPTOR_CONFIG") or "interceptor.yaml")


def load(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file. Relative paths in it are relative to its directory."""
    name = os.fspath(path)
    full = Path(path).absolute()
    try:
        text = full.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(name, None, "", f"cannot read the config: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(name, None, "", f"the config is not UTF-8 ({e.reason})") from None
    return _build(Document(text, name), full.parent, full)


def loads(text: str, filename: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate config text. Relative paths are relative to ``base_dir`` (default: the current directory)."""
    return _build(Document(text, filename), (base_dir or Path.cwd()).absolute(), None)


# -- building ----------------------------------------------------------------------------------------------------


def _build(doc: Document, base: Path, path: Path | None) -> Config:
    if doc.root is None:
        raise ConfigError(doc.filename, 1, "", "the config is empty (it must be a mapping of settings)")
    if not isinstance(doc.root, MappingNode):
        raise ConfigError(doc.filename, doc.line(""), "", f"the top level must be a mapping (got {describe(doc.root)})")
    top = doc.mapping(doc.root, "", _TOP)

    def path_or(key: str, default: Path) -> Path:
        return doc.path(top[key], key, base) if key in top else default

    def choice_or(entries: dict[str, Node], key: str, choices: tuple[str, ...], default: str) -> str:
        return doc.choice(entries[key], key, choices) if key in entries else default

    data_dir = path_or("data_dir", base / "var")
    listen = _listeners(doc, top)
    tls = doc.mapping(top.get("tls"), "tls", ("cert", "key"))
    cert, key = (doc.path(tls[k], f"tls.{k}", base) if k in tls else None for k in ("cert", "key"))
    if (cert is None) != (key is None):
        given, missing = ("cert", "key") if key is None else ("key", "cert")
        raise doc.error(f"tls.{missing}", f"is required when tls.{given} is set")
    identities = _identities(doc, top.get("identities"))
    policies = doc.free_sections(top.get("policies"), "policies", _CONNECTION_NAME)
    connections = _connections(doc, top.get("connections"), base, listen, policies)
    log = {f"log.{k}": v for k, v in doc.mapping(top.get("log"), "log", ("level", "format")).items()}
    return Config(
        path=path,
        data_dir=data_dir,
        listen=_frozen(listen),
        admin=_address(doc, top["admin"], "admin", listen=True) if "admin" in top else None,
        state=_state(doc, top.get("state"), base, data_dir),
        recordings=path_or("recordings", data_dir / "recordings"),
        audit_log=path_or("audit_log", data_dir / "audit.jsonl"),
        tls=TlsConfig(cert, key),
        client_tls=choice_or(top, "client_tls", CLIENT_TLS_MODES, "required"),
        limits=_limits(doc, top.get("limits")),
        timeouts=_timeouts(doc, top.get("timeouts")),
        identities=_frozen(identities),
        connections=_frozen(connections),
        policies=policies,
        plugins=doc.names(
            top.get("plugins"),
            "plugins",
            _MODULE,
            "a dotted module path such as mypkg.rules (or mypkg.rules:Plugin for a class)",
        ),
        disabled_plugins=doc.names(top.get("disabled_plugins"), "disabled_plugins", _PLUGIN, "a plugin name"),
        plugin_config=doc.free_sections(top.get("plugin_config"), "plugin_config", None),
        log_level=choice_or(log, "log.level", LOG_LEVELS, "info"),
        log_format=choice_or(log, "log.format", LOG_FORMATS, "json"),
        _source=doc.filename,
        _marks=_frozen(doc.marks),
    )


def _address(doc: Document, node: Node, key: str, *, listen: bool = False) -> Address:
    try:
        return Address.parse(doc.string(node, key), listen=listen)
    except ValueError as e:
        raise doc.error(key, str(e)) from None


def _listeners(doc: Document, top: dict[str, Node]) -> dict[str, Address]:
    listen: dict[str, Address] = {}
    used: dict[Address, str] = {}
    entries = [(f"listen.{p}", n) for p, n in doc.mapping(top.get("listen"), "listen", PROTOCOLS).items()]
    for key, node in [*entries, *([("admin", top["admin"])] if "admin" in top else [])]:
        addr = _address(doc, node, key, listen=True)
        if addr.port and addr in used:
            raise doc.error(key, f"{addr} is already used by {used[addr]}")
        used[addr] = key
        if key != "admin":
            listen[key.removeprefix("listen.")] = addr
    return listen


def _state(doc: Document, node: Node | None, base: Path, data_dir: Path) -> str:
    if node is None:
        return f"sqlite:///{data_dir / 'state.db'}"
    url = doc.string(node, "state").strip()
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        if not db:
            raise doc.error("state", "sqlite:/// needs a file path, as in sqlite:///state.db")
        return url if db == ":memory:" else f"sqlite:///{base / Path(db).expanduser()}"
    if url.startswith("postgresql://"):
        try:
            password = urllib.parse.urlsplit(url).password
        except ValueError:
            raise doc.error("state", "is not a valid postgresql:// URL") from None
        if password is not None:
            raise doc.error("state", "must not contain a password; use PGPASSWORD or a .pgpass file")
        return url
    raise doc.error("state", "must start with sqlite:/// or postgresql://")


def _limits(doc: Document, node: Node | None) -> Limits:
    entries = doc.mapping(node, "limits", ("max_message_size",))
    if "max_message_size" not in entries:
        return Limits()
    return Limits(doc.size(entries["max_message_size"], "limits.max_message_size", MIN_MESSAGE_SIZE, MAX_MESSAGE_SIZE))


def _timeouts(doc: Document, node: Node | None) -> Timeouts:
    entries = doc.mapping(node, "timeouts", ("connect", "auth", "idle", "drain"))
    return Timeouts(**{k: doc.duration(v, f"timeouts.{k}", allow_zero=k == "idle") for k, v in entries.items()})


def _check_name(doc: Document, path: str, name: str, pattern: re.Pattern[str], seen: dict[str, str]) -> None:
    if not pattern.fullmatch(name):
        raise doc.error(path, f"must match {pattern.pattern} (got {name!r})")
    if name in seen:
        raise doc.error(path, f"duplicate name {name!r} (first at line {doc.line(seen[name])})")
    seen[name] = path


def _identities(doc: Document, node: Node | None) -> dict[str, IdentityConfig]:
    out: dict[str, IdentityConfig] = {}
    seen: dict[str, str] = {}
    for path, item in doc.sequence(node, "identities"):
        entries = doc.mapping(item, path, ("name", "kind", "groups", "token_hash"))
        name = doc.string(doc.require(entries, path, "name"), f"{path}.name")
        _check_name(doc, f"{path}.name", name, _IDENTITY_NAME, seen)
        kinds = [k.value for k in IdentityKind]
        kind = IdentityKind(doc.choice(doc.require(entries, path, "kind"), f"{path}.kind", kinds))
        groups = doc.names(entries.get("groups"), f"{path}.groups", _IDENTITY_NAME, "a group name")
        token_hash = doc.string(doc.require(entries, path, "token_hash"), f"{path}.token_hash").strip()
        if not _BCRYPT.fullmatch(token_hash):
            raise doc.error(
                f"{path}.token_hash",
                "must be a bcrypt hash ($2b$, a cost from 04 to 31, $, then 53 characters), never a plain token",
            )
        out[name] = IdentityConfig(name, kind, frozenset(groups), token_hash)
    return out


def _selector(doc: Document, path: str, selector: str) -> str:
    kind, colon, value = selector.partition(":")
    if selector == "*" or (not colon and _IDENTITY_NAME.fullmatch(selector)):
        return selector
    if colon and kind == "group" and _IDENTITY_NAME.fullmatch(value):
        return selector
    if colon and kind == "kind" and value in {k.value for k in IdentityKind}:
        return selector
    raise doc.error(path, f"must be '*', an identity name, group:<name> or kind:agent|human|service (got {selector!r})")


def _connections(
    doc: Document, node: Node | None, base: Path, listen: Mapping[str, Address], policies: Mapping[str, Any]
) -> dict[str, ConnectionConfig]:
    keys = ("name", "protocol", "upstream", "database", "username", "password", "tls", "ca", "policy", "allow")
    out: dict[str, ConnectionConfig] = {}
    seen: dict[str, str] = {}
    for path, item in doc.sequence(node, "connections"):
        raw = doc.mapping(item, path, keys, keep_null=True)
        for key in ("policy", "allow"):  # "not set" would loosen access here, so an empty value is refused
            if key in raw and is_null(raw[key]):
                raise doc.error(f"{path}.{key}", "is empty (leave the key out for the default)")
        entries = {k: v for k, v in raw.items() if not is_null(v)}
        text = {k: doc.string(entries[k], child(path, k)) for k in ("database", "username") if k in entries}
        name = doc.string(doc.require(entries, path, "name"), f"{path}.name")
        _check_name(doc, f"{path}.name", name, _CONNECTION_NAME, seen)
        protocol = doc.choice(doc.require(entries, path, "protocol"), f"{path}.protocol", PROTOCOLS)
        if protocol not in listen:
            raise doc.error(f"{path}.protocol", f"no listener for {protocol!r} (add listen.{protocol})")
        upstream = _address(doc, doc.require(entries, path, "upstream"), f"{path}.upstream")
        password = None
        if "password" in entries:
            try:
                password = parse_secret(doc.string(entries["password"], f"{path}.password"), base)
            except ValueError as e:
                raise doc.error(f"{path}.password", str(e)) from None
        tls = doc.choice(entries["tls"], f"{path}.tls", UPSTREAM_TLS_MODES) if "tls" in entries else "prefer"
        ca = doc.path(entries["ca"], f"{path}.ca", base) if "ca" in entries else None
        if ca is not None and tls not in ("require", "verify-full"):
            raise doc.error(f"{path}.ca", f"is only used with tls: require or verify-full (tls is {tls!r})")
        policy = doc.string(entries["policy"], f"{path}.policy") if "policy" in entries else None
        if policy is not None and policy not in policies:
            hint = suggest(policy, policies)
            more = f"did you mean {hint!r}?" if hint else "add it under policies"
            raise doc.error(f"{path}.policy", f"no policy named {policy!r} ({more})")
        allow = tuple(_selector(doc, p, s) for p, s in doc.strings(entries.get("allow"), f"{path}.allow"))
        if "allow" in entries and not allow:
            raise doc.error(f"{path}.allow", "must list at least one selector ('*' allows every identity)")
        default_db = name if protocol in ("postgres", "mysql") else None
        out[name] = ConnectionConfig(
            name=name,
            protocol=protocol,
            upstream=upstream,
            database=text.get("database", default_db),
            username=text.get("username"),
            password=password,
            tls=tls,
            ca=ca,
            policy=policy,
            allow=allow or ("*",),
        )
    return out
