"""A sans-IO tracker of the server's response to each command: told which command was sent, it classifies
every server packet of the response and says when the response is complete.

The relay calls :meth:`ResponseReader.start` as it forwards a command and :meth:`ResponseReader.packet` with
each logical server packet's payload (headers stripped, 16 MB continuations joined; the relay checks sequence
ids). ``packet`` returns a :class:`Kind`; ``done`` turns True with the last packet of the response. A command
started while a response is still arriving (pipelining) is queued and tracked after the ones before it.

States (``_handler``), by command:

- QUERY / EXECUTE, per result: first packet -> OK | ERR | LOCAL INFILE request (QUERY only) | column count;
  column count -> N column definitions -> [EOF unless DEPRECATE_EOF] -> rows -> terminator (EOF, or the
  0xFE OK under DEPRECATE_EOF) | ERR. An OK or terminator with SERVER_MORE_RESULTS_EXISTS starts the next
  result; an ERR, or one without it, completes the response. EXECUTE rows are binary (first byte 0x00).
  An EXECUTE whose terminator (or, without DEPRECATE_EOF, the EOF after the columns) carries
  SERVER_STATUS_CURSOR_EXISTS opened a cursor: its columns are kept for COM_STMT_FETCH.
- LOCAL INFILE: after the 0xFB request no server packet may come until :meth:`infile_answered`; then OK | ERR.
- FETCH: binary rows -> terminator | ERR (LAST_ROW_SENT closes the cursor). Only ERR without a known cursor.
- PREPARE: ERR | COM_STMT_PREPARE_OK -> parameter definitions [EOF] -> column definitions [EOF] (each
  list and its EOF only when its count is > 0). Every list of definitions is one state (``_definition``,
  then ``_list_eof`` unless DEPRECATE_EOF) with a continuation (``_then``).
- FIELD_LIST: column definitions -> terminator | ERR. STATISTICS: one string packet (or ERR).
- SIMPLE (PING, INIT_DB, SET_OPTION, RESET_CONNECTION, STMT_RESET): OK | ERR, or an EOF (COM_SET_OPTION).
- NONE (STMT_CLOSE, STMT_SEND_LONG_DATA, QUIT): no packet at all.

A row is recognised by one comparison of its first byte with ``_row_limit`` (0xFE for text rows, 1 for binary
rows, 0 outside rows) and is not decoded. A text row may begin with 0xFE only when it is 16 MB or longer (see
:func:`.results.is_result_end`); one beginning with 0xFF is an ERR. 0xFB begins a text row whose first value is
NULL: it is a LOCAL INFILE request only as the first packet of a result.

Unsupported (ProtocolError): result sets and prepares without metadata (OPTIONAL_RESULTSET_METADATA, MariaDB's
CACHE_METADATA: the gateway does not negotiate them), MariaDB progress reports (CLIENT_PROGRESS), COM_CHANGE_USER
and any other command's response (the relay refuses those commands). Anything unexpected raises ProtocolError,
the only exception ``packet`` lets escape; the relay then closes the session.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from functools import partial

from interceptor.model import Column

from .binary import FieldType
from .generic import EOFPacket, ERRPacket, OKPacket, decode_ok_or_err
from .packets import MAX_PAYLOAD
from .results import (
    ColumnCount,
    ColumnDefinition41,
    LocalInfileRequest,
    StmtPrepareOK,
    decode_prepare_response,
    decode_query_response,
    decode_result_end,
    is_result_end,
)
from .wire import Capability, CommandByte, ProtocolError, ServerStatus

__all__ = ["EXPECT", "Expect", "Kind", "ResponseReader", "to_model_columns"]


class Expect(IntEnum):
    """What kind of response a command gets."""

    NONE = 0
    QUERY = 1
    EXECUTE = 2
    FETCH = 3
    PREPARE = 4
    FIELD_LIST = 5
    STATISTICS = 6
    SIMPLE = 7


class Kind(IntEnum):
    """What :meth:`ResponseReader.packet` saw."""

    ROW = 0  # a text or binary row (not decoded; ``last`` is not updated)
    COLUMN_COUNT = 1  # a result set starts
    COLUMN = 2  # a column definition (of a result set, a prepared statement or COM_FIELD_LIST)
    COLUMNS_DONE = 3  # a result set's last column definition: ``columns`` is complete, rows follow
    EOF = 4  # the EOF that ends a list of definitions (without DEPRECATE_EOF): nothing to act on
    PARAM = 5  # a parameter definition of a prepared statement
    PREPARE_OK = 6  # COM_STMT_PREPARE_OK (``prepared``)
    RESULT_END = 7  # the terminator of a result set (or of COM_FIELD_LIST's definitions)
    OK = 8  # an OK (or COM_SET_OPTION's EOF) that is not a result set's terminator
    ERR = 9
    LOCAL_INFILE = 10  # the server asks for a file: call ``infile_answered`` once the client has sent it
    STATISTICS = 11  # COM_STATISTICS's string (the payload itself)


_C = CommandByte
EXPECT: dict[int, Expect] = {
    _C.QUERY: Expect.QUERY, _C.STMT_EXECUTE: Expect.EXECUTE, _C.STMT_FETCH: Expect.FETCH,
    _C.STMT_PREPARE: Expect.PREPARE, _C.FIELD_LIST: Expect.FIELD_LIST, _C.STATISTICS: Expect.STATISTICS,
    **dict.fromkeys((_C.PING, _C.INIT_DB, _C.SET_OPTION, _C.RESET_CONNECTION, _C.STMT_RESET), Expect.SIMPLE),
    **dict.fromkeys((_C.STMT_CLOSE, _C.STMT_SEND_LONG_DATA, _C.QUIT), Expect.NONE),
}  # fmt: skip
"""The response each command byte gets (commands not listed are out of scope: the relay refuses them)."""

Last = OKPacket | EOFPacket | ERRPacket | ColumnCount | ColumnDefinition41 | StmtPrepareOK | LocalInfileRequest | None
_ROW = Kind.ROW
_DEPRECATE_EOF = int(Capability.DEPRECATE_EOF)
_MORE = int(ServerStatus.MORE_RESULTS_EXISTS)
_CURSOR = int(ServerStatus.CURSOR_EXISTS)
_LAST_ROW = int(ServerStatus.LAST_ROW_SENT)
_MULTI = (Expect.QUERY, Expect.EXECUTE)
_START = {Expect.NONE: "_idle", Expect.QUERY: "_first", Expect.EXECUTE: "_first", Expect.PREPARE: "_prepare"}
_START |= {Expect.FIELD_LIST: "_field_list", Expect.STATISTICS: "_statistics", Expect.SIMPLE: "_reply"}
_NO_METADATA = "results without metadata (OPTIONAL_RESULTSET_METADATA, CACHE_METADATA) are not supported"


class ResponseReader:
    """Classifies the server packets of each command's response (see the module docstring).

    Attributes (read them after ``packet``): ``done`` -- the current response is complete (True before the
    first ``start``); ``columns`` -- the current result set's column definitions (complete from COLUMNS_DONE,
    and right after ``start(FETCH)``; a new list per result set; the statement's after PREPARE, the table's
    after FIELD_LIST); ``binary`` -- its rows are binary; ``last`` -- the decoded non-row packet just seen;
    ``more`` -- the last OK or terminator announced another result; ``cursor`` -- the EXECUTE's result ended
    with a cursor open; ``prepared``/``params`` -- the PREPARE's COM_STMT_PREPARE_OK and parameter definitions;
    ``cursors`` -- statement id -> columns of its open cursor; ``caps`` -- the negotiated capabilities.
    """

    __slots__ = (
        "_handler", "_into", "_kind", "_left", "_queue", "_row_limit", "_statement", "_then", "binary", "caps",
        "columns", "cursor", "cursors", "done", "expect", "last", "more", "params", "prepared",
    )  # fmt: skip

    def __init__(self, caps: int) -> None:
        self.caps = caps
        self.expect = Expect.NONE
        self.done = True
        self.columns: list[ColumnDefinition41] = []
        self.params: list[ColumnDefinition41] = []
        self.binary = self.more = self.cursor = False
        self.last: Last = None
        self.prepared: StmtPrepareOK | None = None
        self.cursors: dict[int, list[ColumnDefinition41]] = {}
        self._queue: deque[tuple[Expect, int | None]] = deque()
        self._row_limit = self._left = 0
        self._statement: int | None = None
        self._handler: Callable[[bytes], Kind] = self._idle
        self._into, self._kind = self.columns, Kind.COLUMN
        self._then: Callable[[], None] = self._complete

    def start(self, expect: Expect, statement: int | None = None) -> None:
        """A command expecting ``expect`` was forwarded. ``statement`` is the prepared statement that
        EXECUTE, FETCH, COM_STMT_RESET or COM_STMT_CLOSE names (the real id: resolve MariaDB's -1 first). Every
        command given a statement, except FETCH, closes that statement's cursor, as the server does; so do not
        pass it for COM_STMT_SEND_LONG_DATA. While an earlier response is incomplete or queued (pipelining), this
        one is queued; it begins with the first packet after the one that completed its predecessor."""
        if self.done and not self._queue:
            self._begin(expect, statement)
        else:
            self._queue.append((expect, statement))

    def packet(self, payload: bytes) -> Kind:
        """Classify one server packet's payload. Raises ProtocolError (only) for a packet that does not fit."""
        try:
            if payload[0] < self._row_limit:
                return _ROW
        except IndexError:
            raise ProtocolError("empty server packet") from None
        return self._handler(payload)

    @property
    def pending(self) -> int:
        """How many started commands wait for the current response to complete (pipelining)."""
        return len(self._queue)

    def infile_answered(self) -> None:
        """The client (or the gateway on its behalf) has sent the LOCAL INFILE data and its empty packet."""
        if self._handler != self._infile:
            raise ProtocolError("no LOCAL INFILE request is outstanding")
        self._handler = self._reply

    # -- life cycle ----------------------------------------------------------------------------------------

    def _begin(self, expect: Expect, statement: int | None) -> None:
        self.expect, self._statement, self.last = expect, statement, None
        self.more = self.cursor = False
        self.binary = expect == Expect.EXECUTE or expect == Expect.FETCH
        self.done = expect == Expect.NONE
        if statement is not None and expect != Expect.FETCH:
            self.cursors.pop(statement, None)
        if expect == Expect.FETCH:
            columns = None if statement is None else self.cursors.get(statement)
            self.columns = [] if columns is None else columns
            self._handler = self._no_cursor if columns is None else self._row_end
            self._row_limit = 0 if columns is None else 1
            return
        if expect == Expect.FIELD_LIST:
            self.columns = []
        self._handler = getattr(self, _START[expect])

    def _idle(self, payload: bytes) -> Kind:
        while self._queue:
            self._begin(*self._queue.popleft())
            if not self.done:
                return self.packet(payload)
        raise ProtocolError(f"unexpected server packet (header {payload[0]:#04x}): no response is expected")

    def _complete(self) -> None:
        self.done = True
        self._row_limit = 0
        self._handler = self._idle

    def _ended(self, end: OKPacket | EOFPacket | ERRPacket, kind: Kind) -> Kind:
        self.last = end
        self._row_limit = 0
        self.more = not isinstance(end, ERRPacket) and bool(end.status & _MORE) and self.expect in _MULTI
        if self.more:
            self._handler = self._first
        else:
            self._complete()
        return kind

    def _err(self, payload: bytes) -> Kind:
        return self._ended(ERRPacket.decode(payload, self.caps), Kind.ERR)

    def _reply(self, payload: bytes) -> Kind:  # SIMPLE, and the end of a LOCAL INFILE exchange
        if self.expect == Expect.SIMPLE and is_result_end(payload, self.caps):  # COM_SET_OPTION's EOF
            return self._ended(decode_result_end(payload, self.caps), Kind.OK)
        reply = decode_ok_or_err(payload, self.caps)
        return self._ended(reply, Kind.OK if isinstance(reply, OKPacket) else Kind.ERR)

    # -- lists of definitions --------------------------------------------------------------------------------

    def _list(self, into: list[ColumnDefinition41], count: int, kind: Kind, then: Callable[[], None]) -> None:
        """Expect ``count`` (> 0) definitions, each classified ``kind``, [an EOF], then call ``then``."""
        self._into, self._left, self._kind, self._then = into, count, kind, then
        self._handler = self._definition

    def _definition(self, payload: bytes) -> Kind:
        column = ColumnDefinition41.decode(payload, self.caps)
        self._into.append(column)
        self.last = column
        self._left -= 1
        kind = self._kind
        if self._left:
            return Kind.COLUMN if kind == Kind.COLUMNS_DONE else kind
        if self.caps & _DEPRECATE_EOF:
            self._then()  # may start the next list
        else:
            self._handler = self._list_eof
        return kind

    def _list_eof(self, payload: bytes) -> Kind:
        eof = EOFPacket.decode(payload, self.caps)
        if eof.status & _CURSOR and self.expect == Expect.EXECUTE:  # a cursor: no rows follow
            return self._opened(eof)
        self.last = eof
        self._then()
        return Kind.EOF

    # -- QUERY, EXECUTE and FETCH --------------------------------------------------------------------------

    def _first(self, payload: bytes) -> Kind:
        first = decode_query_response(payload, self.caps)
        if isinstance(first, ColumnCount):
            if not first.metadata_follows:
                raise ProtocolError(_NO_METADATA)
            self.last, self.columns = first, []
            self._list(self.columns, first.count, Kind.COLUMNS_DONE, self._rows)
            return Kind.COLUMN_COUNT
        if isinstance(first, LocalInfileRequest):
            if self.expect != Expect.QUERY:
                raise ProtocolError("LOCAL INFILE request in answer to a command other than COM_QUERY")
            self.last = first
            self._handler = self._infile
            return Kind.LOCAL_INFILE
        return self._ended(first, Kind.OK if isinstance(first, OKPacket) else Kind.ERR)

    def _rows(self) -> None:
        self._row_limit = 1 if self.binary else 0xFE
        self._handler = self._row_end

    def _row_end(self, payload: bytes) -> Kind:
        """A packet in rows that is not plainly a row: a terminator, an ERR, or a text row of 16 MB or more."""
        head = payload[0]
        if head == 0xFF:
            return self._err(payload)
        if is_result_end(payload, self.caps):
            end = decode_result_end(payload, self.caps)
            if self.expect == Expect.EXECUTE and end.status & _CURSOR:
                return self._opened(end)
            if self.expect == Expect.FETCH and end.status & _LAST_ROW and self._statement is not None:
                self.cursors.pop(self._statement, None)
            return self._ended(end, Kind.RESULT_END)
        if head == 0xFE and not self.binary and len(payload) >= MAX_PAYLOAD:
            return _ROW
        rows = "binary" if self.binary else "text"
        raise ProtocolError(f"unexpected packet (header {head:#04x}, {len(payload)} bytes) among {rows} rows")

    def _opened(self, end: OKPacket | EOFPacket) -> Kind:
        if self._statement is not None:
            self.cursors[self._statement] = self.columns
        self.cursor = True
        return self._ended(end, Kind.RESULT_END)

    def _infile(self, payload: bytes) -> Kind:
        raise ProtocolError("server packet while the client's LOCAL INFILE data is outstanding")

    def _no_cursor(self, payload: bytes) -> Kind:
        if payload[0] == 0xFF:
            return self._err(payload)
        raise ProtocolError("COM_STMT_FETCH answered with data, but no cursor was seen open for its statement")

    # -- the others ----------------------------------------------------------------------------------------

    def _prepare(self, payload: bytes) -> Kind:
        prepared = decode_prepare_response(payload, self.caps)
        if isinstance(prepared, ERRPacket):
            return self._ended(prepared, Kind.ERR)
        if not prepared.metadata_follows:
            raise ProtocolError(_NO_METADATA)
        self.last = self.prepared = prepared
        self.params, self.columns = [], []
        columns: Callable[[], None] = self._complete
        if prepared.num_columns:
            columns = partial(self._list, self.columns, prepared.num_columns, Kind.COLUMN, self._complete)
        if prepared.num_params:
            self._list(self.params, prepared.num_params, Kind.PARAM, columns)
        else:
            columns()
        return Kind.PREPARE_OK

    def _field_list(self, payload: bytes) -> Kind:
        if payload[0] == 0xFF:
            return self._err(payload)
        if is_result_end(payload, self.caps):
            return self._ended(decode_result_end(payload, self.caps), Kind.RESULT_END)
        column = ColumnDefinition41.decode(payload, self.caps)
        self.columns.append(column)
        self.last = column
        return Kind.COLUMN

    def _statistics(self, payload: bytes) -> Kind:
        if payload[0] == 0xFF:
            return self._err(payload)
        self._complete()
        return Kind.STATISTICS


_TYPE_NAMES = {int(t): t.name.lower() for t in FieldType}


def to_model_columns(defs: Sequence[ColumnDefinition41], binary: bool) -> tuple[Column, ...]:
    """The model's columns for a result set's definitions. ``table`` is ``schema.org_table`` (like PostgreSQL's
    ``schema.table``, so both ``customers.card`` and ``shop.customers.card`` rules match), None for a computed
    column; ``source`` is the real column name; ``type_name`` the FieldType's name (``var_string``; ``type_N``
    for an unknown type: never digits, which the masking engine would read as a PostgreSQL type OID)."""
    return tuple(
        Column(d.name, i, _TYPE_NAMES.get(d.type) or f"type_{d.type}", _table(d), 0, binary, d.org_name or None)
        for i, d in enumerate(defs)
    )


def _table(d: ColumnDefinition41) -> str | None:
    return (f"{d.schema}.{d.org_table}" if d.schema else d.org_table) if d.org_table else None
