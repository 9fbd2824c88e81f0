"""The nuts and bolts under :mod:`interceptor.config`: the error type, line-aware access to YAML nodes, and the
parsers for sizes, durations and ``host:port`` addresses.

Everything here reads composed YAML *nodes* rather than constructed Python values, so every value still knows
the line it came from, and every mistake can be reported as ``file:line: key.path: message``.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_TAG = "tag:yaml.org,2002:"
_MAX_NODES = 100_000  # nodes visited after expanding aliases; stops "billion laughs" documents


class ConfigError(Exception):
    """A config mistake, located: ``str(err)`` is ``"{file}:{line}: {key}: {message}"``.

    ``line`` is 1-based, or ``None`` when there is no line to point at (the file could not be read). ``key`` is a
    dotted, indexed path such as ``connections[0].upstream``, or ``""`` for the document as a whole; the parts
    that are unknown are left out of the text.
    """

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        super().__init__(file, line, key, message)
        self.file = file
        self.line = line
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def child(path: str, key: str) -> str:
    """The path of ``key`` inside the mapping at ``path``."""
    return f"{path}.{key}" if path else key


def parent(path: str) -> str:
    """The path one level up (``a.b[2]`` -> ``a.b``, ``a.b`` -> ``a``, ``a`` -> ``""``)."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path[: path.rindex(".")] if "." in path else ""


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a mistyped ``word``, if any is close enough."""
    options = list(choices)
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in options}
        found = [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return found[0] if found else None


def describe(node: Node) -> str:
    """What a node holds, for "must be X (got Y)" messages. Never includes the value itself."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    names = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "null": "null"}
    tag = node.tag.removeprefix(_TAG)
    return names.get(tag, f"a value tagged {node.tag}")


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == _TAG + "null")


class Document:
    """One composed YAML document, with the line of every key path in it.

    Builds :class:`ConfigError` for any path: the line is the path's own, or failing that its nearest
    ancestor's (so a missing key points at the mapping that lacks it).
    """

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.marks: dict[str, int] = {}
        self._constructor = SafeConstructor()
        self._visited = 0
        try:
            self.root: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            raise self.yaml_error(e) from None
        except yaml.YAMLError as e:  # ReaderError: a character YAML does not allow
            pos = getattr(e, "position", None)
            line = text.count("\n", 0, pos) + 1 if isinstance(pos, int) else None
            raise ConfigError(filename, line, "", f"YAML error: {e}") from None
        except RecursionError:
            raise ConfigError(filename, None, "", "YAML error: nesting is too deep") from None
        if self.root is not None:
            self.marks[""] = self.root.start_mark.line + 1
            self._walk(self.root, "", set())

    def yaml_error(self, e: yaml.MarkedYAMLError) -> ConfigError:
        mark = e.problem_mark or e.context_mark
        text = e.problem or e.context or "invalid YAML"
        if e.problem and e.context:
            text = f"{e.problem} ({e.context})"
        what = "YAML error" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        return ConfigError(self.filename, mark.line + 1 if mark else None, "", f"{what}: {text}")

    def _walk(self, node: Node, path: str, active: set[int]) -> None:
        """Record the line of every key and list item, and refuse duplicate keys and recursive aliases."""
        self._visited += 1
        if self._visited > _MAX_NODES:
            raise self.error(path, f"too many values (more than {_MAX_NODES} after expanding aliases)")
        if id(node) in active:
            raise self.error(path, "a YAML alias refers to a value that contains it")
        if isinstance(node, MappingNode):
            active.add(id(node))
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, ScalarNode) else "?"
                line = key.start_mark.line + 1
                if name in seen and name != "<<":
                    raise ConfigError(
                        self.filename, line, child(path, name), f"duplicate key (first at line {seen[name]})"
                    )
                seen[name] = line
                self.marks[child(path, name)] = line
                self._walk(value, child(path, name), active)
            active.discard(id(node))
        elif isinstance(node, SequenceNode):
            active.add(id(node))
            for i, item in enumerate(node.value):
                self.marks[f"{path}[{i}]"] = item.start_mark.line + 1
                self._walk(item, f"{path}[{i}]", active)
            active.discard(id(node))

    def line(self, path: str) -> int | None:
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = parent(path)

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(self.filename, self.line(path), path, message)

    def type_error(self, node: Node, path: str, expected: str) -> ConfigError:
        return self.error(path, f"must be {expected} (got {describe(node)})")

    # -- typed access ------------------------------------------------------------------------------------------

    def mapping(
        self, node: Node | None, path: str, allowed: Iterable[str] | None, *, keep_null: bool = False
    ) -> dict[str, Node]:
        """The entries of a mapping, by key. ``allowed=None`` takes any string key; otherwise an unknown key is
        an error that suggests the nearest allowed one. Entries with an empty value are left out (they count
        as not set) unless ``keep_null``. An absent or empty mapping gives ``{}``."""
        if node is None or is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.type_error(node, path, "a mapping")
        choices = None if allowed is None else list(allowed)
        out: dict[str, Node] = {}
        for key, value in node.value:
            if choices is not None and key.tag == _TAG + "merge":
                raise self.error(child(path, "<<"), "YAML merge keys are not supported here")
            if not isinstance(key, ScalarNode) or key.tag not in (_TAG + "str", _TAG + "int"):
                raise self.error(path, f"keys must be plain names (got {describe(key)})")
            name = str(key.value)
            if choices is not None and name not in choices:
                hint = suggest(name, choices)
                expected = f"did you mean '{hint}'?" if hint else "expected one of: " + ", ".join(choices)
                raise self.error(child(path, name), f"unknown key ({expected})")
            if keep_null or not is_null(value):
                out[name] = value
        return out

    def sequence(self, node: Node | None, path: str) -> list[tuple[str, Node]]:
        """The items of a list with their paths; ``[]`` when absent or empty."""
        if node is None or is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.type_error(node, path, "a list")
        return [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]

    def require(self, entries: dict[str, Node], path: str, key: str) -> Node:
        if key not in entries:
            raise self.error(child(path, key), "is required")
        return entries[key]

    def _scalar(self, node: Node, path: str, expected: str) -> ScalarNode:
        if not isinstance(node, ScalarNode):
            raise self.type_error(node, path, expected)
        if not node.tag.startswith(_TAG):
            raise self.error(path, f"unsupported YAML tag {node.tag}")
        return node

    def string(self, node: Node, path: str) -> str:
        """A scalar's text as written. Numbers are taken as their text; booleans and null are refused, since
        ``yes``/``no``/``on``/``off`` are booleans in YAML and usually a mistake here."""
        scalar = self._scalar(node, path, "a string")
        if scalar.tag in (_TAG + "bool", _TAG + "null"):
            raise self.error(path, f"must be a string (got {describe(scalar)}; quote it if you mean the text)")
        return str(scalar.value)

    def choice(self, node: Node, path: str, choices: Iterable[str]) -> str:
        options = list(choices)
        value = self.string(node, path)
        if value not in options:
            raise self.error(path, f"must be one of {', '.join(options)} (got {value!r})")
        return value

    def strings(self, node: Node | None, path: str) -> list[tuple[str, str]]:
        """A list of strings, each with its path."""
        return [(p, self.string(item, p)) for p, item in self.sequence(node, path)]

    def number_or_text(self, node: Node, path: str, expected: str) -> int | float | str:
        """An integer or float as a number (YAML spellings such as ``0x10`` and ``1_000`` included), anything
        else as its text, for the size and duration parsers."""
        scalar = self._scalar(node, path, expected)
        if scalar.tag in (_TAG + "int", _TAG + "float"):
            value = self._constructor.construct_object(scalar)
            assert isinstance(value, int | float)
            return value
        if scalar.tag != _TAG + "str":
            raise self.type_error(scalar, path, expected)
        return str(scalar.value)

    def construct(self, node: Node) -> Any:
        """The plain Python value of a node (dicts, lists, strings, numbers...), for free-form sections."""
        try:
            return self._constructor.construct_document(node)
        except yaml.MarkedYAMLError as e:
            raise self.yaml_error(e) from None

    def path(self, node: Node, key: str, base: Path) -> Path:
        """A file or directory path; relative ones are taken relative to ``base``, and ``~`` is expanded."""
        text = self.string(node, key)
        if not text.strip():
            raise self.error(key, "must not be empty")
        return base / Path(text).expanduser()

    def size(self, node: Node, key: str, low: int, high: int) -> int:
        try:
            size = parse_size(self.number_or_text(node, key, "a size"))
        except ValueError as e:
            raise self.error(key, str(e)) from None
        if not low <= size <= high:
            raise self.error(key, f"must be from {format_size(low)} to {format_size(high)} (got {format_size(size)})")
        return size

    def duration(self, node: Node, key: str, *, allow_zero: bool) -> float:
        try:
            seconds = parse_duration(self.number_or_text(node, key, "a duration"))
        except ValueError as e:
            raise self.error(key, str(e)) from None
        if seconds == 0 and not allow_zero:
            raise self.error(key, "must be more than 0")
        return seconds

    def names(self, node: Node | None, key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        """A list of distinct names, each matching ``pattern``."""
        seen: list[str] = []
        for path, name in self.strings(node, key):
            if not pattern.fullmatch(name):
                raise self.error(path, f"must be {what} (got {name!r})")
            if name in seen:
                raise self.error(path, f"{name!r} is listed twice")
            seen.append(name)
        return tuple(seen)

    def free_sections(
        self, node: Node | None, key: str, name_pattern: re.Pattern[str] | None
    ) -> Mapping[str, Mapping[str, Any]]:
        """Named mappings kept as plain data (``policies``, ``plugin_config``) for plugins to validate; the two
        outer levels are read-only views. An empty section counts as ``{}``."""
        out: dict[str, Mapping[str, Any]] = {}
        for name, value_node in self.mapping(node, key, None, keep_null=True).items():
            if name_pattern is not None and not name_pattern.fullmatch(name):
                raise self.error(child(key, name), f"names here must match {name_pattern.pattern}")
            value = self.construct(value_node)
            if value is not None and not isinstance(value, dict):
                raise self.type_error(value_node, child(key, name), "a mapping")
            out[name] = MappingProxyType(value or {})
        return MappingProxyType(out)


# -- value parsers (ValueError with a message fit for ConfigError) --------------------------------------------

_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")


def parse_hostport(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """Split ``host:port`` or ``[ipv6]:port``. The port is 1-65535, or 0 too with ``allow_zero``."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"must be [ipv6]:port (got {text!r})")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"must be host:port (got {text!r})")
        if ":" in host:
            raise ValueError(f"write IPv6 addresses in brackets, as in [::1]:5432 (got {text!r})")
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name or IP address" if host else f"no host in {text!r}")
    low = 0 if allow_zero else 1
    if not port.isascii() or not port.isdigit() or not low <= int(port) <= 65535:
        raise ValueError(f"port must be a number from {low} to 65535 (got {port!r})")
    return host, int(port)


SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1000, "KB": 1000, "MB": 10**6}
SIZE_UNITS["GB"] = 10**9
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(value: int | float | str) -> int:
    """Bytes from an integer or a string such as ``64MiB`` (binary: KiB, MiB, GiB) or ``1GB`` (decimal: kB/KB,
    MB, GB). A fractional number is fine if it comes to a whole number of bytes (``1.5KiB``)."""
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if not m:
            raise ValueError(f"must be a size such as 65536, 512KiB or 16MiB (got {value!r})")
        unit = m.group(2) or "B"
        if unit not in SIZE_UNITS:
            hint = suggest(unit, SIZE_UNITS)
            more = f"did you mean {hint}?" if hint else "use B, KiB, MiB, GiB, kB, MB or GB"
            raise ValueError(f"unknown size unit {unit!r} ({more})")
        try:
            exact = Decimal(m.group(1)) * SIZE_UNITS[unit]
        except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
            raise ValueError(f"must be a size (got {value!r})") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite size (got {value})")
        exact = Decimal(value)
    else:
        exact = Decimal(value)
    if exact != exact.to_integral_value():
        raise ValueError(f"must be a whole number of bytes (got {value!r})")
    return int(exact)


def format_size(size: int) -> str:
    """The shortest exact spelling of ``size`` bytes (``16MiB``, ``1536B``); :func:`parse_size` reads it back."""
    for unit in ("GiB", "MiB", "KiB"):
        if size and size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit}"
    return f"{size}B"


DURATION_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400)}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: int | float | str) -> float:
    """Seconds from a number or a string such as ``30s``, ``500ms``, ``5m``, ``1h30m`` or ``2d``; a string
    without a unit is seconds too. Never negative, never infinite."""
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = float(sum(Decimal(n) * DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text)))
        else:
            raise ValueError(f"must be a duration such as 30s, 500ms, 5m or 1h (got {value!r})")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a duration of zero or more seconds (got {value!r})")
    return seconds


def format_duration(seconds: float) -> str:
    """A readable spelling of ``seconds`` (``1h30m``, ``250ms``, ``0.1s``, ``0s``) that :func:`parse_duration`
    reads back exactly."""
    if seconds != int(seconds):
        exact = Decimal(repr(seconds))
        ms = exact * 1000
        return f"{int(ms)}ms" if ms == ms.to_integral_value() else f"{exact:f}s"
    rest, parts = int(seconds), []
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, int(DURATION_UNITS[unit]))
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"
