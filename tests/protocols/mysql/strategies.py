"""Hypothesis strategies for the MySQL codec tests: capability sets and packets valid under them."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from interceptor.protocols.mysql.codec import (
    BINARY_SIZE,
    LENENC,
    TEMPORAL,
    AuthMoreData,
    AuthSwitchRequest,
    Capability,
    ColumnCount,
    ColumnDefinition41,
    ComChangeUser,
    ComFieldList,
    ComInitDB,
    ComPing,
    ComQuery,
    ComQuit,
    ComResetConnection,
    ComSetOption,
    ComStatistics,
    ComStmtClose,
    ComStmtFetch,
    ComStmtPrepare,
    ComStmtReset,
    ComStmtSendLongData,
    EOFPacket,
    ERRPacket,
    FieldType,
    HandshakeResponse41,
    HandshakeV10,
    LocalInfileRequest,
    OKPacket,
    OtherCommand,
    QueryAttribute,
    ServerStatus,
    SSLRequest,
    StmtPrepareOK,
    encode_binary_row,
    encode_text_row,
)
from interceptor.protocols.mysql.responses import Expect, Kind

C = Capability
FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings(FAST, max_examples=100)

P41 = int(C.PROTOCOL_41)
BASE41 = int(C.PROTOCOL_41 | C.TRANSACTIONS | C.SECURE_CONNECTION | C.PLUGIN_AUTH | C.LONG_PASSWORD)
NAMED_CAPS = [
    0,
    int(C.TRANSACTIONS),
    BASE41,
    BASE41 | C.DEPRECATE_EOF,
    BASE41 | C.SESSION_TRACK,
    BASE41 | C.CONNECT_ATTRS | C.CONNECT_WITH_DB,
    BASE41 | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.CONNECT_ATTRS,
    BASE41 | C.DEPRECATE_EOF | C.SESSION_TRACK | C.QUERY_ATTRIBUTES | C.OPTIONAL_RESULTSET_METADATA,
    int(C.PROTOCOL_41 | C.SECURE_CONNECTION),  # MariaDB style: CLIENT_MYSQL clear, extended caps allowed
    int(C.PROTOCOL_41 | C.SECURE_CONNECTION | C.PLUGIN_AUTH | C.DEPRECATE_EOF | C.SESSION_TRACK | C.CONNECT_ATTRS),
]
MARIADB_EXT = [
    0,
    int(C.MARIADB_CLIENT_EXTENDED_TYPE_INFO | C.MARIADB_CLIENT_CACHE_METADATA),
    int(
        C.MARIADB_CLIENT_PROGRESS
        | C.MARIADB_CLIENT_STMT_BULK_OPERATIONS
        | C.MARIADB_CLIENT_EXTENDED_TYPE_INFO
        | C.MARIADB_CLIENT_CACHE_METADATA
    ),
]

text = st.text(st.characters(codec="utf-8"), max_size=12)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
lenenc = st.sampled_from([0, 0xFA, 0xFB, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 2**64 - 1]) | st.integers(0, 2**64 - 1)
blob = st.binary(max_size=24)
sqlstate = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=5)
attributes = st.lists(st.tuples(text, text), max_size=4).map(tuple)
field_types = st.sampled_from(list(FieldType)) | u8


@st.composite
def capabilities(draw: st.DrawFn, protocol_41: bool = False) -> int:
    low = draw(st.sampled_from(NAMED_CAPS) | st.integers(0, 2**32 - 1))
    if protocol_41:
        low |= P41
    high = 0 if low & 1 else draw(st.sampled_from([ext >> 32 for ext in MARIADB_EXT]) | st.integers(0, 2**32 - 1))
    return low | high << 32


def binary_value(field_type: int) -> st.SearchStrategy[bytes]:
    size = BINARY_SIZE.get(field_type & 0xFF, LENENC)
    if size == LENENC:
        return st.binary(max_size=30)
    if size == TEMPORAL:
        return st.sampled_from([0, 4, 7, 8, 11, 12]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    return st.binary(min_size=size, max_size=size)


@st.composite
def typed_values(draw: st.DrawFn, max_size: int = 6) -> tuple[tuple[int, ...], tuple[bytes | None, ...]]:
    """(type words, values) with a valid raw value (or NULL) for each type."""
    words = draw(st.lists(st.tuples(field_types, st.booleans()), max_size=max_size))
    types = tuple(t | (0x8000 if unsigned else 0) for t, unsigned in words)
    values = tuple(draw(st.none() | binary_value(t)) for t in types)
    return types, values


# --- packets valid under given capabilities -------------------------------------------------------------


@st.composite
def ok_packets(draw: st.DrawFn, caps: int) -> OKPacket:
    status = warnings = 0
    if caps & C.PROTOCOL_41:
        status, warnings = draw(u16), draw(u16)
    elif caps & C.TRANSACTIONS:
        status = draw(u16)
    state = b""
    if caps & C.SESSION_TRACK and status & ServerStatus.SESSION_STATE_CHANGED:
        state = draw(blob)
    eof = draw(st.booleans()) if caps & C.DEPRECATE_EOF else False
    return OKPacket(draw(lenenc), draw(lenenc), status, warnings, draw(text), state, eof)


def err_packets(caps: int) -> st.SearchStrategy[ERRPacket]:
    state = sqlstate if caps & C.PROTOCOL_41 else st.just("HY000")
    return st.builds(ERRPacket, st.integers(0, 0xFFFE), state, text)


def eof_packets(caps: int) -> st.SearchStrategy[EOFPacket]:
    if caps & C.PROTOCOL_41:
        return st.builds(EOFPacket, u16, u16)
    return st.just(EOFPacket())


@st.composite
def column_definitions(draw: st.DrawFn, caps: int) -> ColumnDefinition41:
    extended = (
        draw(st.lists(st.tuples(u8, text), max_size=3).map(tuple)) if caps & C.MARIADB_CLIENT_EXTENDED_TYPE_INFO else ()
    )
    field_list = draw(st.booleans())
    return ColumnDefinition41(
        *(draw(text) for _ in range(5)),
        draw(u16),
        draw(u32),
        draw(field_types),
        draw(u16),
        draw(u8),
        draw(text),
        extended,
        field_list,
        draw(st.none() | blob) if field_list else None,
    )


def server_packets(caps: int) -> st.SearchStrategy[Any]:
    metadata = (
        st.booleans() if caps & (C.OPTIONAL_RESULTSET_METADATA | C.MARIADB_CLIENT_CACHE_METADATA) else st.just(True)
    )
    prepare_metadata = st.booleans() if caps & C.OPTIONAL_RESULTSET_METADATA else st.just(True)
    return st.one_of(
        ok_packets(caps),
        err_packets(caps),
        eof_packets(caps),
        column_definitions(caps),
        st.builds(ColumnCount, st.integers(1, 2**64 - 1), metadata),
        st.builds(StmtPrepareOK, u32, u16, u16, u16, prepare_metadata),
        st.builds(LocalInfileRequest, text),
        st.builds(AuthSwitchRequest, names, blob),
        st.builds(AuthMoreData, blob),
    )


@st.composite
def handshakes(draw: st.DrawFn) -> HandshakeV10:
    caps = draw(capabilities(protocol_41=True))
    if caps & C.SECURE_CONNECTION:
        size = draw(st.integers(8, 254)) if caps & C.PLUGIN_AUTH else 20
    else:
        size = 8
    plugin = draw(names) if caps & C.PLUGIN_AUTH else ""
    data = draw(st.binary(min_size=size, max_size=size))
    return HandshakeV10(draw(text.filter(lambda s: "\0" not in s)), draw(u32), data, caps, draw(u8), draw(u16), plugin)


@st.composite
def handshake_responses(draw: st.DrawFn) -> HandshakeResponse41:
    caps = draw(capabilities(protocol_41=True))
    if caps & C.PLUGIN_AUTH_LENENC_CLIENT_DATA:
        auth = draw(st.binary(max_size=300))
    elif caps & C.SECURE_CONNECTION:
        auth = draw(st.binary(max_size=255))
    else:
        auth = draw(blob.filter(lambda b: b"\0" not in b))
    return HandshakeResponse41(
        caps,
        draw(u32),
        draw(u8),
        draw(names),
        auth,
        draw(names) if caps & C.CONNECT_WITH_DB else "",
        draw(names) if caps & C.PLUGIN_AUTH else "",
        draw(attributes) if caps & C.CONNECT_ATTRS else (),
        draw(u8) if caps & C.ZSTD_COMPRESSION_ALGORITHM else 0,
    )


ssl_requests = st.builds(SSLRequest, capabilities(protocol_41=True).map(lambda c: c | C.SSL).map(int), u32, u8)


@st.composite
def query_attributes(draw: st.DrawFn) -> tuple[QueryAttribute, ...]:
    types, values = draw(typed_values())
    return tuple(QueryAttribute(draw(text), t, v) for t, v in zip(types, values, strict=True))


@st.composite
def change_users(draw: st.DrawFn, caps: int) -> ComChangeUser:
    auth = draw(st.binary(max_size=255) if caps & C.SECURE_CONNECTION else blob.filter(lambda b: b"\0" not in b))
    return ComChangeUser(
        draw(names),
        auth,
        draw(names),
        draw(u16),
        draw(names) if caps & C.PLUGIN_AUTH else "",
        draw(attributes) if caps & C.CONNECT_ATTRS else (),
    )


def commands(caps: int) -> st.SearchStrategy[Any]:
    attrs = query_attributes() if caps & C.QUERY_ATTRIBUTES else st.just(())
    known = {0x01, 0x02, 0x03, 0x04, 0x09, 0x0E, 0x11, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1F}
    return st.one_of(
        st.builds(ComQuit),
        st.builds(ComStatistics),
        st.builds(ComPing),
        st.builds(ComResetConnection),
        st.builds(ComInitDB, text),
        st.builds(ComQuery, text, attrs),
        st.builds(ComFieldList, names, text),
        st.builds(ComSetOption, u16),
        change_users(caps),
        st.builds(ComStmtPrepare, text),
        st.builds(ComStmtSendLongData, u32, u16, blob),
        st.builds(ComStmtClose, u32),
        st.builds(ComStmtReset, u32),
        st.builds(ComStmtFetch, u32, u32),
        st.builds(OtherCommand, u8.filter(lambda b: b not in known), blob),
    )


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut at arbitrary points (empty chunks included)."""

    def cut(cuts: list[int]) -> list[bytes]:
        bounds = [0, *sorted(cuts), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]

    return st.lists(st.integers(0, len(data)), max_size=8).map(cut)


# --- whole responses, each packet with the Kind that ResponseReader must give it ------------------------

Step = tuple[bytes, Kind]
Exchange = tuple[Expect, int | None, list[Step]]
"""(what the command expects, the statement it names, the server's packets): a LOCAL_INFILE step means the
client's upload follows (call ``infile_answered``)."""

S = ServerStatus
_FLOW = int(S.MORE_RESULTS_EXISTS | S.CURSOR_EXISTS | S.LAST_ROW_SENT)


def _status(draw: st.DrawFn, flags: int = 0) -> int:
    return draw(u16) & ~_FLOW | flags


def _ok(draw: st.DrawFn, caps: int, flags: int = 0, eof: bool = False) -> bytes:
    ok = draw(ok_packets(caps))
    status = _status(draw, flags)
    state = ok.session_state if status & S.SESSION_STATE_CHANGED else b""
    return replace(ok, status=status, session_state=state, eof=eof).encode(caps)


def _eof(draw: st.DrawFn, caps: int, flags: int = 0) -> bytes:
    return EOFPacket(draw(u16), _status(draw, flags)).encode(caps)


def _terminator(draw: st.DrawFn, caps: int, flags: int = 0) -> bytes:
    return _ok(draw, caps, flags, eof=True) if caps & C.DEPRECATE_EOF else _eof(draw, caps, flags)


def _err(draw: st.DrawFn, caps: int) -> Step:
    return draw(err_packets(caps)).encode(caps), Kind.ERR


def _defs(draw: st.DrawFn, caps: int, count: int, field_list: bool = False) -> list[ColumnDefinition41]:
    defs = [draw(column_definitions(caps)) for _ in range(count)]
    return [replace(d, field_list=field_list, default_value=d.default_value if field_list else None) for d in defs]


def _metadata(draw: st.DrawFn, caps: int, defs: list[ColumnDefinition41], eof: bool = True) -> list[Step]:
    steps = [(ColumnCount(len(defs)).encode(caps), Kind.COLUMN_COUNT)]
    steps += [(d.encode(caps), Kind.COLUMN) for d in defs]
    steps[-1] = (steps[-1][0], Kind.COLUMNS_DONE)
    if eof and not caps & C.DEPRECATE_EOF:  # it may carry MORE_RESULTS_EXISTS (a procedure's result), never a cursor
        steps.append((_eof(draw, caps, draw(st.sampled_from([0, int(S.MORE_RESULTS_EXISTS)]))), Kind.EOF))
    return steps


def _rows(draw: st.DrawFn, defs: list[ColumnDefinition41], binary: bool) -> list[Step]:
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        if binary:
            values = [draw(st.none() | binary_value(d.type)) for d in defs]
            rows.append((encode_binary_row(values, [d.type for d in defs]), Kind.ROW))
        else:
            rows.append(
                (encode_text_row(draw(st.lists(st.none() | blob, min_size=len(defs), max_size=len(defs)))), Kind.ROW)
            )
    return rows


@st.composite
def results(draw: st.DrawFn, caps: int, expect: Expect) -> list[Step]:
    """A COM_QUERY or COM_STMT_EXECUTE response: 1-3 results (OK, result set, LOCAL INFILE), maybe ended by ERR."""
    binary = expect == Expect.EXECUTE
    steps: list[Step] = []
    count = draw(st.integers(1, 3))
    for index in range(count):
        flags = 0 if index == count - 1 else int(S.MORE_RESULTS_EXISTS)
        kind = draw(st.sampled_from(["ok", "set", "set", "err"] + ([] if binary else ["infile"])))
        if kind == "ok":
            steps.append((_ok(draw, caps, flags), Kind.OK))
        elif kind == "infile":
            steps.append((LocalInfileRequest(draw(text)).encode(), Kind.LOCAL_INFILE))
            steps.append((_ok(draw, caps, flags), Kind.OK) if draw(st.booleans()) else _err(draw, caps))
        elif kind == "set":
            defs = _defs(draw, caps, draw(st.integers(1, 4)))
            steps += _metadata(draw, caps, defs) + _rows(draw, defs, binary)
            steps.append((_terminator(draw, caps, flags), Kind.RESULT_END) if draw(st.booleans()) else _err(draw, caps))
        else:
            steps.append(_err(draw, caps))
        if steps[-1][1] == Kind.ERR:
            break
    return steps


@st.composite
def cursor_exchanges(draw: st.DrawFn, caps: int) -> list[Exchange]:
    """A COM_STMT_EXECUTE that opens a cursor, the COM_STMT_FETCHes that read it, and one fetch too many."""
    statement = draw(u32)
    defs = _defs(draw, caps, draw(st.integers(1, 3)))
    opened = _metadata(draw, caps, defs, eof=False)  # the EOF after the columns is the terminator
    opened.append((_terminator(draw, caps, int(S.CURSOR_EXISTS)), Kind.RESULT_END))
    exchanges: list[Exchange] = [(Expect.EXECUTE, statement, opened)]
    fetches = draw(st.integers(1, 3))
    for index in range(fetches):
        flags = int(S.LAST_ROW_SENT) if index == fetches - 1 else int(S.CURSOR_EXISTS)
        steps = [*_rows(draw, defs, True), (_terminator(draw, caps, flags), Kind.RESULT_END)]
        exchanges.append((Expect.FETCH, statement, steps))
    exchanges.append((Expect.FETCH, statement, [_err(draw, caps)]))
    return exchanges


@st.composite
def prepare_responses(draw: st.DrawFn, caps: int) -> list[Step]:
    if draw(st.integers(0, 5)) == 0:
        return [_err(draw, caps)]
    params, columns = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    steps = [(StmtPrepareOK(draw(u32), columns, params, draw(u16)).encode(caps), Kind.PREPARE_OK)]
    for count, kind in ((params, Kind.PARAM), (columns, Kind.COLUMN)):
        steps += [(d.encode(caps), kind) for d in _defs(draw, caps, count)]
        if count and not caps & C.DEPRECATE_EOF:
            steps.append((_eof(draw, caps), Kind.EOF))
    return steps


@st.composite
def exchanges(draw: st.DrawFn, caps: int) -> list[Exchange]:
    """A conversation: commands and their complete, valid responses under ``caps`` (PROTOCOL_41 assumed)."""
    out: list[Exchange] = []
    for _ in range(draw(st.integers(1, 4))):
        expect = draw(st.sampled_from(Expect))
        statement = draw(st.none() | u32) if expect == Expect.EXECUTE else None
        if expect in (Expect.QUERY, Expect.EXECUTE):
            out.append((expect, statement, draw(results(caps, expect))))
        elif expect == Expect.FETCH:
            out += draw(cursor_exchanges(caps))
        elif expect == Expect.PREPARE:
            out.append((expect, None, draw(prepare_responses(caps))))
        elif expect == Expect.FIELD_LIST:
            steps = [(d.encode(caps), Kind.COLUMN) for d in _defs(draw, caps, draw(st.integers(0, 3)), True)]
            end = (_terminator(draw, caps), Kind.RESULT_END) if draw(st.booleans()) else _err(draw, caps)
            out.append((expect, None, [*steps, end]))
        elif expect == Expect.STATISTICS:
            stats = st.binary(min_size=1, max_size=40).filter(lambda b: b[0] != 0xFF)
            out.append((expect, None, [(draw(stats), Kind.STATISTICS) if draw(st.booleans()) else _err(draw, caps)]))
        elif expect == Expect.SIMPLE:
            reply = draw(st.sampled_from(["ok", "err", "eof"]))
            if reply == "ok":
                step = (_ok(draw, caps, draw(st.sampled_from([0, int(S.MORE_RESULTS_EXISTS)]))), Kind.OK)
            else:
                step = _err(draw, caps) if reply == "err" else (_terminator(draw, caps), Kind.OK)
            out.append((expect, None, [step]))
        else:
            out.append((expect, None, []))
    return out
