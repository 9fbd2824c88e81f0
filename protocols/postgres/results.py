"""One result set on its way to the client: the compiled row rewriter and the observers, built once.

The relay makes a :class:`ResultStream` when a result starts (RowDescription for a Query, the first row of an
Execute, CopyOutResponse for COPY TO STDOUT) and only when some plugin rewrites or observes results; otherwise
rows pass as their original bytes with no per-row work at all. Rows the rewriter leaves unchanged also go out
as their original bytes; rewritten rows get rebuilt lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from interceptor.model import Column, Command, ResultObserver, RowRewriter
from interceptor.protocols.postgres import codec

#: parse one COPY data message into values / encode values back; None for the binary trailer
CopyCodec = tuple[Callable[[bytes], list[bytes | None] | None], Callable[[Sequence[bytes | None]], bytes]]


class ResultStream:
    __slots__ = ("copy", "observers", "rewrite", "rows")

    def __init__(
        self, rewrite: RowRewriter | None, observers: list[ResultObserver], copy: CopyCodec | None = None
    ) -> None:
        self.rewrite = rewrite
        self.observers = observers
        self.copy = copy
        self.rows = 0

    def data_row(self, body: bytes) -> bytes | None:
        """A DataRow's body in; the new whole frame out, or None to forward the original bytes."""
        self.rows += 1
        values: Sequence[bytes | None] = codec.data_row_values(body)
        new = self.rewrite(values) if self.rewrite is not None else None
        if new is not None:
            values = new
        for o in self.observers:
            o.row(values)
        return codec.encode_data_row(new) if new is not None else None

    def copy_data(self, body: bytes) -> bytes | None:
        """A CopyData's body in; the new whole CopyData frame out, or None to forward the original bytes."""
        assert self.copy is not None
        parse, encode = self.copy
        parsed = parse(body)
        if parsed is None:  # the binary trailer
            return None
        values: Sequence[bytes | None] = parsed
        self.rows += 1
        new = self.rewrite(values) if self.rewrite is not None else None
        if new is not None:
            values = new
        for o in self.observers:
            o.row(values)
        return codec.frame(codec.Backend.COPY_DATA, encode(new)) if new is not None else None

    def done(self, status: str) -> None:
        for o in self.observers:
            o.done(status, self.rows)


def columns_from(fields: Sequence[Any], formats: Sequence[int] = ()) -> tuple[Column, ...]:
    """Columns from RowDescription fields; ``formats`` (a Bind's result formats) overrides the described ones."""

    def binary(i: int, described: int) -> bool:
        if not formats:
            return described == 1
        return (formats[0] if len(formats) == 1 else formats[i] if i < len(formats) else 0) == 1

    return tuple(Column(f.name, i, str(f.type_oid), None, f.column, binary(i, f.format)) for i, f in enumerate(fields))


def copy_codec(command: Command, fmt: int) -> CopyCodec:
    """How to read and rewrite the rows of this COPY TO STDOUT: binary from the CopyOutResponse, text or csv (and
    their options) from the statement itself, as PostgreSQL's parser reads it. A COPY whose options cannot be
    read gets a codec that fails, so a masked result is withheld rather than passed."""
    from interceptor.protocols.postgres import copy as pgcopy
    from interceptor.sql import classify_command

    if fmt == 1:
        reader = pgcopy.BinaryCopyReader()
        return reader.parse, reader.encode  # re-encoding the first row puts the stream's header back
    spec = classify_command(command).detail.get("copy")
    if not spec:
        return _unreadable, _unreadable
    if spec.get("format") == "csv":
        d, q, esc, null = (spec[k].encode() for k in ("delimiter", "quote", "escape", "null"))
        return (lambda b: pgcopy.parse_csv_row(b, d, q, esc, null)), (
            lambda v: pgcopy.encode_csv_row(v, d, q, esc, null)
        )
    d, null = spec["delimiter"].encode(), spec["null"].encode()
    return (lambda b: pgcopy.parse_text_row(b, d, null)), (lambda v: pgcopy.encode_text_row(v, d, null))


def _unreadable(_: Any) -> Any:
    raise ValueError("COPY options could not be read; result withheld")
