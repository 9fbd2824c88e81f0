"""Pure codecs for the data of COPY ... TO STDOUT, so a COPY's rows can be masked one CopyData at a time.

PostgreSQL sends one CopyData per row in every format. This module splits a row into its values (``None`` is SQL
NULL, every other value the raw bytes of the field, unescaped) and builds a row back from values:

- **text**: fields split by the one-byte delimiter, backslash escapes (``\\b \\f \\n \\r \\t \\v``, ``\\\\``, octal
  ``\\ddd``, hex ``\\xhh``, and a backslash before any other byte, such as the delimiter, keeps that byte), and the
  NULL string compared with the field before unescaping (``\\N`` by default);
- **csv**: quoted fields (the escape byte, by default the quote itself, escapes a quote or an escape inside quotes),
  newlines only inside quotes, NULL an unquoted field equal to the NULL string (empty by default), so a quoted
  empty field is ``""``. A header line is just a row;
- **binary**: an 11-byte signature, int32 flags, int32 header-extension length and the extension, then per row an
  int16 field count and, per field, an int32 length (-1 for NULL) and the bytes; the trailer is an int16 -1.
  PostgreSQL sends the header in the same CopyData as the first row (or as the trailer, for no rows):
  :class:`BinaryCopyReader` handles it either way, and its :meth:`~BinaryCopyReader.encode` puts the header back
  in front of a rewritten first row.

Decoding treats its input as hostile: the only exception it lets escape is :class:`ProtocolError`. Encoding treats
its input as trusted and raises :class:`ValueError` for values it cannot represent (a text-format value that would
read back as NULL, too many fields). No sockets, no Twisted.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from interceptor.protocols.postgres.codec import ProtocolError

__all__ = [
    "BINARY_SIGNATURE",
    "BINARY_TRAILER",
    "BinaryCopyReader",
    "binary_header",
    "encode_binary_tuple",
    "encode_csv_row",
    "encode_text_row",
    "parse_binary_header",
    "parse_binary_tuple",
    "parse_csv_row",
    "parse_text_row",
]

Values = list[bytes | None]

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
BINARY_TRAILER = b"\xff\xff"
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_HEADER = struct.Struct("!11sii")
_NULL_FIELD = b"\xff\xff\xff\xff"
_OIDS_FLAG = 1 << 16

# --- text ---------------------------------------------------------------------------------------------------------

_UNESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_NAMED = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("v"): b"\v"}
_ESCAPES = {b"\\": b"\\\\", b"\b": b"\\b", b"\f": b"\\f", b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t", b"\v": b"\\v"}
_FORBIDDEN_TEXT_DELIMITERS = frozenset(b"\\.abcdefghijklmnopqrstuvwxyz0123456789\r\n")


def _check_text_options(delimiter: bytes, null: bytes) -> None:
    if len(delimiter) != 1 or delimiter[0] in _FORBIDDEN_TEXT_DELIMITERS:
        raise ValueError(f"COPY delimiter cannot be {delimiter!r}")
    if b"\n" in null or b"\r" in null:
        raise ValueError("COPY null representation cannot use newline or carriage return")


def _unescape_one(m: re.Match[bytes]) -> bytes:
    octal, hexa, other = m.groups()
    if octal is not None:
        return bytes((int(octal, 8) & 0xFF,))
    if hexa is not None:
        return bytes((int(hexa, 16),))
    return _NAMED.get(other[0], other)


def _line(data: bytes) -> bytes:
    if not data.endswith(b"\n"):
        raise ProtocolError("COPY row does not end with a newline")
    body = data[:-1]
    if b"\r" in body or b"\n" in body:
        raise ProtocolError("COPY text row holds a raw newline or carriage return")
    return body


def parse_text_row(data: bytes, delimiter: bytes = b"\t", null: bytes = b"\\N") -> Values:
    """One text-format COPY row (one CopyData, ending with a newline) as its values."""
    _check_text_options(delimiter, null)
    body = _line(data)
    if b"\\" not in body:
        return [None if f == null else f for f in body.split(delimiter)]
    raw: list[bytes] = []
    start = i = 0
    d = delimiter[0]
    n = len(body)
    while i < n:
        c = body[i]
        if c == 0x5C:  # backslash: the next byte is escaped, whatever it is
            if i + 1 >= n:
                raise ProtocolError("COPY text row ends with a lone backslash")
            i += 2
        elif c == d:
            raw.append(body[start:i])
            start = i = i + 1
        else:
            i += 1
    raw.append(body[start:])
    return [None if f == null else _UNESCAPE.sub(_unescape_one, f) if b"\\" in f else f for f in raw]


def encode_text_row(values: Sequence[bytes | None], delimiter: bytes = b"\t", null: bytes = b"\\N") -> bytes:
    """Values back to one text-format COPY row, escaped so that :func:`parse_text_row` reads them back."""
    _check_text_options(delimiter, null)
    special = re.compile(b"[\\\\\b\f\n\r\t\v" + re.escape(delimiter) + b"]")
    escapes = {**_ESCAPES, delimiter: b"\\" + delimiter} if delimiter not in _ESCAPES else _ESCAPES
    out: list[bytes] = []
    for v in values:
        if v is None:
            out.append(null)
            continue
        field = special.sub(lambda m: escapes[m.group()], v) if special.search(v) else v
        if field == null:
            raise ValueError("a value that reads back as NULL cannot be written in COPY text format")
        out.append(field)
    return delimiter.join(out) + b"\n"


# --- csv ----------------------------------------------------------------------------------------------------------


def _check_csv_options(delimiter: bytes, quote: bytes, escape: bytes, null: bytes) -> None:
    for name, v in (("delimiter", delimiter), ("quote", quote), ("escape", escape)):
        if len(v) != 1 or v in (b"\r", b"\n"):
            raise ValueError(f"COPY {name} must be a single byte other than a newline (got {v!r})")
    if delimiter == quote:
        raise ValueError("COPY delimiter and quote must be different")
    if delimiter in null or quote in null or b"\r" in null or b"\n" in null:
        raise ValueError("COPY null representation cannot hold the delimiter, the quote or a newline")


def parse_csv_row(
    data: bytes, delimiter: bytes = b",", quote: bytes = b'"', escape: bytes = b'"', null: bytes = b""
) -> Values:
    """One csv-format COPY row (one CopyData, ending with a newline outside quotes) as its values."""
    _check_csv_options(delimiter, quote, escape, null)
    if not data.endswith(b"\n"):
        raise ProtocolError("COPY row does not end with a newline")
    body = data[:-1]
    if quote not in body:
        if b"\r" in body or b"\n" in body:
            raise ProtocolError("COPY csv row holds an unquoted newline or carriage return")
        return [None if f == null else f for f in body.split(delimiter)]
    d, q, e = delimiter[0], quote[0], escape[0]
    values: Values = []
    field = bytearray()
    in_quote = saw_quote = False
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        i += 1
        if in_quote:
            if c == e and i < n and body[i] in (e, q):
                field.append(body[i])
                i += 1
            elif c == q:
                in_quote = False
            else:
                field.append(c)
        elif c == d:
            values.append(None if not saw_quote and field == null else bytes(field))
            field.clear()
            saw_quote = False
        elif c == q:
            in_quote = saw_quote = True
        elif c in (0x0A, 0x0D):
            raise ProtocolError("COPY csv row holds an unquoted newline or carriage return")
        else:
            field.append(c)
    if in_quote:
        raise ProtocolError("COPY csv row ends inside a quoted field")
    values.append(None if not saw_quote and field == null else bytes(field))
    return values


def encode_csv_row(
    values: Sequence[bytes | None],
    delimiter: bytes = b",",
    quote: bytes = b'"',
    escape: bytes = b'"',
    null: bytes = b"",
) -> bytes:
    """Values back to one csv-format COPY row; a value is quoted when it must be (as PostgreSQL does)."""
    _check_csv_options(delimiter, quote, escape, null)
    needs_quotes = re.compile(b"[" + re.escape(delimiter + quote + escape) + b"\r\n]")
    inner = re.compile(b"[" + re.escape(quote + escape) + b"]")
    out: list[bytes] = []
    for v in values:
        if v is None:
            out.append(null)
        elif v == null or v == b"\\." or needs_quotes.search(v):
            out.append(quote + inner.sub(lambda m: escape + m.group(), v) + quote)
        else:
            out.append(v)
    return delimiter.join(out) + b"\n"


# --- binary -------------------------------------------------------------------------------------------------------


def binary_header(flags: int = 0, extension: bytes = b"") -> bytes:
    """The binary COPY header: signature, flags and header extension."""
    return _HEADER.pack(BINARY_SIGNATURE, flags, len(extension)) + extension


def parse_binary_header(data: bytes) -> int:
    """The length of the binary COPY header at the start of ``data`` (which may hold the first row too)."""
    if len(data) < _HEADER.size:
        raise ProtocolError("COPY binary header is truncated")
    signature, flags, ext = _HEADER.unpack_from(data)
    if signature != BINARY_SIGNATURE:
        raise ProtocolError("COPY binary data does not start with the PGCOPY signature")
    if flags & 0xFFFF or flags & _OIDS_FLAG:
        raise ProtocolError(f"COPY binary header has unsupported flags {flags:#x}")
    if ext < 0 or _HEADER.size + ext > len(data):
        raise ProtocolError("COPY binary header extension is truncated")
    return int(_HEADER.size + ext)


def parse_binary_tuple(data: bytes) -> Values | None:
    """One binary COPY row as its values, or None for the trailer. ``data`` must hold exactly one row."""
    if len(data) < 2:
        raise ProtocolError("COPY binary row is truncated")
    (count,) = _I16.unpack_from(data)
    if count == -1:
        if len(data) != 2:
            raise ProtocolError("COPY binary trailer is followed by data")
        return None
    if count < 0:
        raise ProtocolError(f"COPY binary row has a negative field count {count}")
    values: Values = []
    offset, n = 2, len(data)
    for _ in range(count):
        if offset + 4 > n:
            raise ProtocolError("COPY binary row is truncated")
        (size,) = _I32.unpack_from(data, offset)
        offset += 4
        if size == -1:
            values.append(None)
            continue
        if size < 0 or offset + size > n:
            raise ProtocolError("COPY binary field length is out of range")
        values.append(data[offset : offset + size])
        offset += size
    if offset != n:
        raise ProtocolError("COPY binary row is followed by data")
    return values


def encode_binary_tuple(values: Sequence[bytes | None]) -> bytes:
    """Values back to one binary COPY row (no header)."""
    if len(values) > 0x7FFF:
        raise ValueError("too many fields for a binary COPY row")
    parts = [_I16.pack(len(values))]
    for v in values:
        if v is None:
            parts.append(_NULL_FIELD)
        else:
            if len(v) > 0x7FFFFFFF:
                raise ValueError("field too long for a binary COPY row")
            parts += (_I32.pack(len(v)), v)
    return b"".join(parts)


class BinaryCopyReader:
    """Reads the CopyData messages of one binary COPY in order: :meth:`parse` strips the header from the first
    one, returns each row's values and None for the trailer, and refuses anything after the trailer.
    :meth:`encode` builds a rewritten row back, with the header in front when the row's CopyData carried it."""

    __slots__ = ("_pending_header", "done", "header")

    def __init__(self) -> None:
        self.header: bytes | None = None
        self.done = False
        self._pending_header = b""

    def parse(self, data: bytes) -> Values | None:
        if self.done:
            raise ProtocolError("COPY binary data after the trailer")
        if self.header is None:
            end = parse_binary_header(data)
            self.header, data = data[:end], data[end:]
            self._pending_header = self.header
        else:
            self._pending_header = b""
        values = parse_binary_tuple(data)
        if values is None:
            self.done = True
        return values

    def encode(self, values: Sequence[bytes | None]) -> bytes:
        """The row of the last :meth:`parse` rewritten to ``values`` (with the header if it came with it)."""
        return self._pending_header + encode_binary_tuple(values)
