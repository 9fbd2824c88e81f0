"""The masking engine: a policy's ``mask`` spec compiled into a text masker and per-result-set row rewriters.

Pure and protocol-neutral (no Twisted, no sockets). :func:`compile_rewriter` decides once per result set, column by
column, whether a column is masked whole (a ``mask.columns`` rule), scanned by the detectors (``mask.detect``), or
left alone; the rewriter it returns does only that per row, and returns ``None`` when it changed nothing, so the relay
forwards the original bytes. Fail closed: a value the engine cannot read or rewrite is replaced by ``[redacted]``
(text that can carry it) or by NULL, never passed through.

**Text-format values** are text in the client encoding (UTF-8 unless told). A value of a type that cannot carry the
masked text (numbers, ``bytea``) becomes NULL when it needs masking, so typed clients never fail to parse it; JSON
stays valid JSON (strings, keys and numbers are masked one by one; a masked number becomes a string).

**Binary-format values** are read by type OID through :data:`BINARY_TYPES`:

=====================================================  ==========  ====================================================
type OIDs                                              kind        read as / when masked
=====================================================  ==========  ====================================================
text 25, varchar 1043, bpchar 1042, name 19, char 18,  ``text``    the text itself; re-encoded in place
unknown 705, xml 142, cstring 2275
json 114                                               ``json``    the text; re-encoded, kept valid JSON
jsonb 3802                                             ``jsonb``   version byte 1 + text; re-encoded, kept valid JSON
int2 21, int4 23, int8 20, money 790                   ``int``     big-endian signed, as a decimal; NULL on a match
oid 26, xid 28                                         ``uint``    big-endian unsigned, as a decimal; NULL on a match
numeric 1700                                           ``numeric`` decoded to its decimal text; NULL on a match
bytea 17                                               ``bytea``   its bytes as latin-1; NULL on a match
arrays (:data:`ARRAY_ELEMENTS`)                        ``array``   every element by its element OID; NULL on a match
record 2249                                            ``record``  every field by its OID; NULL on a match
bool, float4/8, date, time(tz), timestamp(tz),         ``none``    cannot hold text: never scanned; NULL under a
interval, uuid, inet, cidr, macaddr(8), pg_lsn,                    column rule
geometric types
any other OID (enums, domains, extension types)        ``raw``     its bytes as latin-1; NULL on a match
=====================================================  ==========  ====================================================

A column rule on a binary column whose kind is not ``text``, ``json`` or ``jsonb`` makes it NULL.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from functools import lru_cache

from interceptor.model import Column, RowRewriter
from interceptor.policy import MaskSpec

from .detectors import Detector, Span, compile_detector
from .strategies import REDACTED, span_masker, value_masker

__all__ = [
    "ARRAY_ELEMENTS",
    "BINARY_TYPES",
    "TextMasker",
    "column_rule_matches",
    "compile_rewriter",
    "compile_text_masker",
    "mask_text",
]

_NONE_OIDS = (16, 700, 701, 1082, 1083, 1266, 1114, 1184, 1186, 2950, 869, 650, 829, 774, 3220)
_GEOMETRIC = (600, 601, 602, 603, 604, 628, 718)
#: Binary format: type OID -> how the engine reads it (see the module's table).
BINARY_TYPES: Mapping[int, str] = {
    **dict.fromkeys((25, 1043, 1042, 19, 18, 705, 142, 2275), "text"),
    114: "json",
    3802: "jsonb",
    **dict.fromkeys((21, 23, 20, 790), "int"),
    **dict.fromkeys((26, 28), "uint"),
    1700: "numeric",
    17: "bytea",
    2249: "record",
    **dict.fromkeys(_NONE_OIDS + _GEOMETRIC, "none"),
}
#: Array type OID -> element type OID, for the arrays the engine knows by name (binary arrays carry their element
#: OID, so any array OID listed here is read element by element).
ARRAY_ELEMENTS: Mapping[int, int] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1005: 21, 1007: 23, 1009: 25, 1014: 1042, 1015: 1043, 1016: 20,
    1021: 700, 1022: 701, 1028: 26, 1115: 1114, 1182: 1082, 1183: 1083, 1185: 1184, 1187: 1186, 1231: 1700,
    199: 114, 3807: 3802, 2951: 2950, 143: 142, 791: 790, 1263: 2275, 2287: 2249, 1270: 1266,
}  # fmt: skip
_TEXT_KINDS = frozenset({"text", "json", "jsonb"})
_CARRIES = frozenset({"text", "json", "jsonb", "raw", "record"})  # text format: masked text may replace the value
_MAX_PASSES = 4
_REDACTED_B = REDACTED.encode()
_REDACTED_JSON = json.dumps(REDACTED)
_I32 = struct.Struct("!i")
_ValueFn = Callable[[bytes], bytes | None]


class TextMasker:
    """Masks every detected span of a text with one strategy, until nothing is detected any more (so the result
    is a fixed point: masking it again changes nothing). Built once per spec and key."""

    __slots__ = ("_span", "detector", "find")

    def __init__(self, detector: Detector, strategy: str, key: bytes) -> None:
        self.detector = detector
        self.find: Callable[[str], list[Span]] = detector.find
        self._span = span_masker(strategy, key)

    def __call__(self, text: str) -> str:
        """``text`` with its sensitive spans masked; the very same object when nothing was found."""
        spans = self.find(text)
        if not spans:
            return text
        span = self._span
        for attempt in range(_MAX_PASSES * 4):
            if attempt == _MAX_PASSES:
                span = span_masker("redact", b"")  # redact markers carry no digit and no @: this ends
            parts: list[str] = []
            last = 0
            for start, end, kind in spans:
                parts += (text[last:start], span(kind, text[start:end]))
                last = end
            parts.append(text[last:])
            text = "".join(parts)
            spans = self.find(text)
            if not spans:
                return text
        return REDACTED


@lru_cache(maxsize=64)
def _cached_masker(kinds: frozenset[str], strategy: str, key: bytes) -> TextMasker:
    return TextMasker(compile_detector(kinds), strategy, key)


def compile_text_masker(spec: MaskSpec, key: bytes) -> TextMasker | None:
    """The text masker for ``spec``'s detectors (cached), or None when it has none."""
    return _cached_masker(frozenset(spec.detect), spec.strategy, key) if spec.detect else None


def mask_text(text: str, spec: MaskSpec, key: bytes) -> str:
    """``text`` (an error, notice or notification) with what ``spec``'s detectors find masked."""
    masker = compile_text_masker(spec, key)
    return masker(text) if masker is not None else text


def column_rule_matches(patterns: Sequence[str], column: Column) -> bool:
    """True if a ``mask.columns`` glob names ``column``.

    ``table.col`` (or ``schema.table.col``) matches a resolved column by its table (bare or qualified) and real
    name (``source``); ``*.col`` also matches any output column named ``col``, resolved or not; a bare ``col``
    matches the output name or the real name. Case does not matter.
    """
    name = column.name.lower()
    table = column.table.lower() if column.table else None
    source = (column.source or column.name).lower() if table else None
    bare_table = table.rsplit(".", 1)[-1] if table else None
    for pattern in patterns:
        p = pattern.lower()
        if "." not in p:
            if fnmatchcase(name, p) or (source is not None and fnmatchcase(source, p)):
                return True
            continue
        table_pat, col_pat = p.rsplit(".", 1)
        if table_pat == "*" and fnmatchcase(name, col_pat):
            return True
        if table is None or source is None or not fnmatchcase(source, col_pat):
            continue
        if fnmatchcase(table, table_pat) or ("." not in table_pat and fnmatchcase(str(bare_table), table_pat)):
            return True
    return False


def compile_rewriter(
    spec: MaskSpec,
    columns: Sequence[Column],
    key: bytes,
    *,
    binary_decoders: Mapping[int, str] = BINARY_TYPES,
    encoding: str = "utf-8",
) -> RowRewriter | None:
    """The row rewriter for one result set, or None when no column needs anything (rows then pass untouched).

    ``columns`` follow the relay's contract (``type_name`` is the PostgreSQL type OID as a string; ``table``,
    ``source`` when resolved; ``binary`` for binary-format values). ``encoding`` is the Python name of the client
    encoding. The rewriter takes a row's values (``None`` is NULL) and returns new values, or None when it changed
    nothing. A row with a different number of values than ``columns`` raises ``ValueError`` (the relay then
    withholds the result); anything going wrong with one value masks that value (fail closed) instead.
    """
    if not spec.active:
        return None
    masker = compile_text_masker(spec, key)
    whole = value_masker(spec.strategy, key)
    plans: list[tuple[int, _ValueFn, bytes | None]] = []
    for pos, col in enumerate(columns):
        oid = int(col.type_name) if col.type_name.isascii() and col.type_name.isdigit() else None
        if spec.columns and column_rule_matches(spec.columns, col):
            plan = _rule_plan(oid, col.binary, whole, binary_decoders, encoding)
        elif masker is not None:
            plan = _detect_plan(oid, col.binary, masker, binary_decoders, encoding)
        else:
            plan = None
        if plan is not None:
            plans.append((pos, *plan))
    if not plans:
        return None
    width = len(columns)

    def rewrite(values: Sequence[bytes | None]) -> list[bytes | None] | None:
        if len(values) != width:
            raise ValueError(f"row has {len(values)} values for {width} columns")
        out: list[bytes | None] | None = None
        for pos, fn, failed in plans:
            value = values[pos]
            if value is None:
                continue
            try:
                new = fn(value)
            except Exception:
                new = failed
            if new is not value:
                if out is None:
                    out = list(values)
                out[pos] = new
        return out

    return rewrite


def _kind(oid: int | None, binary: bool, table: Mapping[int, str]) -> str:
    """How a column's values are read: a kind of the module's table. In text format an array counts as its
    element's kind (text arrays carry masked text, number arrays do not)."""
    if oid is None:
        return "raw"
    kind = table.get(oid)
    if kind is not None:
        return kind
    if oid in ARRAY_ELEMENTS:
        return "array" if binary else table.get(ARRAY_ELEMENTS[oid], "raw")
    return "raw"


def _mask_json(text: str, masker: TextMasker) -> str:
    """JSON text with every string, key and number the detectors flag masked, still valid JSON (a masked number
    becomes a string); ``text`` itself when nothing was found. Text that is not JSON is masked as plain text."""
    try:
        doc = json.loads(text)
    except ValueError:
        return masker(text)
    masked = _mask_node(doc, masker)
    return text if masked == doc else json.dumps(masked, ensure_ascii=False)


def _mask_node(node: object, masker: TextMasker) -> object:
    if isinstance(node, str):
        return masker(node)
    if isinstance(node, dict):
        return {masker(k): _mask_node(v, masker) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_node(v, masker) for v in node]
    if isinstance(node, int | float) and not isinstance(node, bool):
        text = json.dumps(node)
        masked = masker(text)
        return node if masked is text else masked
    return node


def _rule_plan(
    oid: int | None, binary: bool, whole: Callable[[str], str], table: Mapping[int, str], encoding: str
) -> tuple[_ValueFn, bytes | None] | None:
    kind = _kind(oid, binary, table)
    if (binary and kind not in _TEXT_KINDS) or (not binary and kind not in _CARRIES):
        return (lambda value: None), None
    is_json = kind in ("json", "jsonb")
    prefix = b"\x01" if binary and kind == "jsonb" else b""

    def rule(value: bytes) -> bytes | None:
        text = _binary_text(kind, value, table, encoding)[0] if prefix else value.decode(encoding)
        if is_json:
            try:
                inner = json.loads(text)
            except ValueError:
                inner = text
            masked = json.dumps(whole(inner if isinstance(inner, str) else text), ensure_ascii=False)
        else:
            masked = whole(text)
        return value if masked == text else prefix + masked.encode(encoding)

    failed = None if binary else (_REDACTED_JSON.encode() if is_json else _REDACTED_B)
    return rule, failed


def _detect_plan(
    oid: int | None, binary: bool, masker: TextMasker, table: Mapping[int, str], encoding: str
) -> tuple[_ValueFn, bytes | None] | None:
    kind = _kind(oid, binary, table)
    if kind == "none":
        return None
    may_match = masker.detector.may_match
    find = masker.find
    is_json = kind in ("json", "jsonb")
    if not binary and kind == "bytea":

        def bytea_text(value: bytes) -> bytes | None:
            raw = bytes.fromhex(value[2:].decode("ascii")) if value[:2] == b"\\x" else value
            return None if find(raw.decode("latin-1")) else value

        return bytea_text, None
    if not binary or kind in _TEXT_KINDS:
        carries = binary or kind in _CARRIES
        prefix = b"\x01" if binary and kind == "jsonb" else b""

        def text_value(value: bytes) -> bytes | None:
            # JSON may spell any character as \uXXXX: such text is always read as JSON
            escaped = is_json and b"\\u" in value
            if not escaped and not may_match(value):
                return value
            if prefix and value[:1] != prefix:
                raise ValueError("unknown jsonb version")
            text = value[len(prefix) :].decode(encoding)
            masked = masker(text)
            if masked is text and not escaped:
                return value
            if not carries:
                return None
            if is_json:
                masked = _mask_json(text, masker)
                if masked == text:
                    return value
            return prefix + masked.encode(encoding)

        failed = None if binary or not carries else (_REDACTED_JSON.encode() if is_json else _REDACTED_B)
        return text_value, failed
    raw_text = kind in ("bytea", "raw")

    def binary_value(value: bytes) -> bytes | None:
        if raw_text and not may_match(value):
            return value
        for text in _binary_text(kind, value, table, encoding):
            if find(text):
                return None
        return value

    return binary_value, None


def _binary_text(kind: str, data: bytes, table: Mapping[int, str], encoding: str, depth: int = 0) -> list[str]:
    """The texts a binary value of ``kind`` holds (one per array element or record field), for the detectors.
    Raises on anything malformed (the caller fails closed)."""
    if kind in ("text", "json"):
        return [data.decode(encoding)]
    if kind == "jsonb":
        if data[:1] != b"\x01":
            raise ValueError("unknown jsonb version")
        return [data[1:].decode(encoding)]
    if kind in ("int", "uint"):
        if len(data) not in (2, 4, 8):
            raise ValueError("bad integer length")
        return [str(int.from_bytes(data, "big", signed=kind == "int"))]
    if kind == "numeric":
        return [_numeric_text(data)]
    if kind in ("bytea", "raw"):
        return [data.decode("latin-1")]
    if kind == "none":
        return []
    if depth > 8:
        raise ValueError("nesting too deep")
    if kind == "array":
        return _array_texts(data, table, encoding, depth)
    if kind == "record":
        return _record_texts(data, table, encoding, depth)
    raise ValueError(f"unknown binary kind {kind!r}")


def _element_kind(oid: int, table: Mapping[int, str]) -> str:
    return table.get(oid) or ("array" if oid in ARRAY_ELEMENTS else "raw")


def _items(data: bytes, offset: int) -> tuple[bytes | None, int]:
    (n,) = _I32.unpack_from(data, offset)
    offset += 4
    if n == -1:
        return None, offset
    if n < 0 or offset + n > len(data):
        raise ValueError("bad element length")
    return data[offset : offset + n], offset + n


def _array_texts(data: bytes, table: Mapping[int, str], encoding: str, depth: int) -> list[str]:
    ndim, _flags, elem = struct.unpack_from("!iiI", data)
    if not 0 <= ndim <= 6:
        raise ValueError("bad array dimensions")
    count = 1 if ndim else 0
    for d in range(ndim):
        (size,) = _I32.unpack_from(data, 12 + 8 * d)
        if size < 0:
            raise ValueError("bad array dimension")
        count *= size
    offset, kind = 12 + 8 * ndim, _element_kind(elem, table)
    out: list[str] = []
    for _ in range(count):
        item, offset = _items(data, offset)
        if item is not None:
            out += _binary_text(kind, item, table, encoding, depth + 1)
    if offset != len(data):
        raise ValueError("trailing bytes in array")
    return out


def _record_texts(data: bytes, table: Mapping[int, str], encoding: str, depth: int) -> list[str]:
    (count,) = _I32.unpack_from(data)
    if count < 0:
        raise ValueError("bad record field count")
    offset = 4
    out: list[str] = []
    for _ in range(count):
        (oid,) = struct.unpack_from("!I", data, offset)
        item, offset = _items(data, offset + 4)
        if item is not None:
            out += _binary_text(_element_kind(oid, table), item, table, encoding, depth + 1)
    if offset != len(data):
        raise ValueError("trailing bytes in record")
    return out


def _numeric_text(data: bytes) -> str:
    """PostgreSQL's binary numeric (base-10000 digits) as its decimal text."""
    ndigits, weight, sign, dscale = struct.unpack_from("!hhHh", data)
    if ndigits < 0 or dscale < 0 or len(data) != 8 + 2 * ndigits:
        raise ValueError("bad numeric")
    specials = {0xC000: "NaN", 0xD000: "Infinity", 0xF000: "-Infinity"}
    if sign in specials:
        return specials[sign]
    if sign not in (0, 0x4000):
        raise ValueError("bad numeric sign")
    digits = struct.unpack_from(f"!{ndigits}H", data, 8)
    if any(d > 9999 for d in digits):
        raise ValueError("bad numeric digit")
    whole = "".join(f"{digits[i] if i < ndigits else 0:04d}" for i in range(weight + 1)).lstrip("0") or "0"
    frac = "".join(f"{digits[i] if 0 <= i else 0:04d}" for i in range(weight + 1, ndigits))
    frac = (frac + "0" * dscale)[:dscale]
    return ("-" if sign else "") + whole + ("." + frac if dscale else "")
