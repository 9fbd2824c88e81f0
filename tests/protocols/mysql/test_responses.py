"""ResponseReader: the classification of every server packet of a command's response, from packets built with
the codec (DEPRECATE_EOF on and off), random valid conversations, fuzzed packets, and the real MariaDB."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.masking.engine import column_rule_matches
from interceptor.model import Column
from interceptor.protocols.mysql.codec import (
    CURSOR_TYPE_READ_ONLY,
    MAX_PAYLOAD,
    ColumnCount,
    ColumnDefinition41,
    ComFieldList,
    ComInitDB,
    CommandByte,
    ComPing,
    ComQuery,
    ComResetConnection,
    ComSetOption,
    ComStatistics,
    ComStmtClose,
    ComStmtExecute,
    ComStmtFetch,
    ComStmtPrepare,
    ComStmtReset,
    EOFPacket,
    ERRPacket,
    FieldType,
    LocalInfileRequest,
    OKPacket,
    ProtocolError,
    ServerStatus,
    StmtPrepareOK,
    decode_binary_row,
    encode_binary_int,
    encode_binary_row,
    encode_text_row,
)
from interceptor.protocols.mysql.responses import EXPECT, Expect, Kind, ResponseReader, to_model_columns
from tests.protocols.mysql.live_client import ADMIN, HOST, PORT, C, Client
from tests.protocols.mysql.strategies import FAST, FUZZ, Exchange, capabilities, exchanges

K = Kind
S = ServerStatus
BASE = int(C.PROTOCOL_41 | C.TRANSACTIONS | C.SECURE_CONNECTION | C.MULTI_RESULTS | C.PS_MULTI_RESULTS)
MORE = int(S.MORE_RESULTS_EXISTS)
CAPS = capabilities(protocol_41=True)


@pytest.fixture(params=[True, False], ids=["deprecate_eof", "eof"])
def caps(request: pytest.FixtureRequest) -> int:
    return BASE | (C.DEPRECATE_EOF if request.param else 0)


# --- building responses -------------------------------------------------------------------------------------


def col(name: str = "c", field_type: int = FieldType.VAR_STRING, table: str = "t", **kw: object) -> ColumnDefinition41:
    return ColumnDefinition41("db", table, table, name, name, 33, 40, field_type, **kw)  # type: ignore[arg-type]


def ok(caps: int, status: int = 0) -> bytes:
    return OKPacket(status=status).encode(caps)


def err(caps: int, errno: int = 1064) -> bytes:
    return ERRPacket(errno, "42000", "boom").encode(caps)


def end(caps: int, status: int = 0) -> bytes:
    """A result set's terminator."""
    if caps & C.DEPRECATE_EOF:
        return OKPacket(status=status, eof=True).encode(caps)
    return EOFPacket(0, status).encode(caps)


def metadata(caps: int, columns: Sequence[ColumnDefinition41], eof: bool = True) -> list[tuple[bytes, Kind]]:
    steps = [(ColumnCount(len(columns)).encode(caps), K.COLUMN_COUNT)]
    steps += [(c.encode(caps), K.COLUMN) for c in columns[:-1]] + [(columns[-1].encode(caps), K.COLUMNS_DONE)]
    if eof and not caps & C.DEPRECATE_EOF:
        steps.append((EOFPacket().encode(caps), K.EOF))
    return steps


def text_set(caps: int, rows: Sequence[Sequence[bytes | None]], status: int = 0) -> list[tuple[bytes, Kind]]:
    columns = [col(f"c{i}") for i in range(len(rows[0]))]
    return [*metadata(caps, columns), *((encode_text_row(r), K.ROW) for r in rows), (end(caps, status), K.RESULT_END)]


def run(reader: ResponseReader, steps: Sequence[tuple[bytes, Kind]], queued: bool = False) -> None:
    """Feed ``steps``, checking each packet's kind and that ``done`` turns True with the last one only (a queued
    response begins with its first packet: until then ``done`` still describes the one before)."""
    for index, (payload, kind) in enumerate(steps):
        assert (index == 0 and queued) or not reader.done, f"done before packet {index}"
        assert reader.packet(payload) == kind, f"packet {index}: {payload[:16].hex()}"
        if kind == K.LOCAL_INFILE:
            reader.infile_answered()
    assert reader.done


def started(caps: int, expect: Expect, statement: int | None = None) -> ResponseReader:
    reader = ResponseReader(caps)
    reader.start(expect, statement)
    return reader


# --- COM_QUERY ----------------------------------------------------------------------------------------------


def test_query_ok_err_and_result_set(caps: int) -> None:
    reader = started(caps, Expect.QUERY)
    run(reader, [(ok(caps, S.AUTOCOMMIT), K.OK)])
    assert isinstance(reader.last, OKPacket) and not reader.more
    reader.start(Expect.QUERY)
    run(reader, [(err(caps), K.ERR)])
    assert isinstance(reader.last, ERRPacket) and reader.last.errno == 1064
    reader.start(Expect.QUERY)
    run(reader, text_set(caps, [[b"1", None], [None, b"x"]]))
    assert [c.name for c in reader.columns] == ["c0", "c1"] and not reader.binary
    assert isinstance(reader.last, OKPacket if caps & C.DEPRECATE_EOF else EOFPacket)


def test_multi_results(caps: int) -> None:
    reader = started(caps, Expect.QUERY)
    steps = [
        (ok(caps, MORE), K.OK),
        *text_set(caps, [[b"1"]], MORE),
        *text_set(caps, [[b"a", b"b"]]),
    ]
    for index, (payload, kind) in enumerate(steps):
        assert reader.packet(payload) == kind
        if kind in (K.OK, K.RESULT_END):
            assert reader.more == (index < len(steps) - 1) and reader.done == (not reader.more)
    assert reader.done and len(reader.columns) == 2


def test_err_mid_result_ends_the_response(caps: int) -> None:
    reader = started(caps, Expect.QUERY)
    steps = text_set(caps, [[b"1"], [b"2"]], MORE)[:-1]  # no terminator: the second statement failed
    run(reader, [*steps, (err(caps), K.ERR)])
    assert not reader.more
    with pytest.raises(ProtocolError, match="no response is expected"):
        reader.packet(ok(caps))


def test_null_first_column_is_a_row_not_local_infile(caps: int) -> None:
    row = encode_text_row([None, b"x"])
    assert row[0] == 0xFB
    reader = started(caps, Expect.QUERY)
    run(reader, [*text_set(caps, [[b"a", b"b"]])[:-1], (row, K.ROW), (end(caps), K.RESULT_END)])
    reader.start(Expect.QUERY)  # as the first packet of a result, 0xFB is the request
    run(
        reader, [(ok(caps, MORE), K.OK), (LocalInfileRequest("/etc/passwd").encode(), K.LOCAL_INFILE), (ok(caps), K.OK)]
    )


def test_rows_starting_with_0xfe(caps: int) -> None:
    huge = encode_text_row([b"x" * (1 << 24)])  # a length-encoded 8-byte length: only for >= 16 MB values
    assert huge[0] == 0xFE and len(huge) > MAX_PAYLOAD
    reader = started(caps, Expect.QUERY)
    run(reader, [*text_set(caps, [[b"a"]])[:-1], (huge, K.ROW), (end(caps), K.RESULT_END)])
    reader.start(Expect.QUERY)
    for payload, _ in metadata(caps, [col()]):
        reader.packet(payload)
    with pytest.raises(ProtocolError):  # 0xFE and short: a terminator that does not parse, or a bogus row
        reader.packet(b"\xfe\xff" + bytes(19))


def test_local_infile(caps: int) -> None:
    reader = started(caps, Expect.QUERY)
    assert reader.packet(LocalInfileRequest("data.csv").encode()) == K.LOCAL_INFILE
    assert isinstance(reader.last, LocalInfileRequest) and reader.last.filename == "data.csv" and not reader.done
    with pytest.raises(ProtocolError, match="LOCAL INFILE data is outstanding"):
        reader.packet(ok(caps))
    reader.infile_answered()
    with pytest.raises(ProtocolError, match="no LOCAL INFILE"):
        reader.infile_answered()
    run(reader, [(ok(caps, MORE), K.OK), *text_set(caps, [[b"1"]])])
    reader.start(Expect.QUERY)
    run(reader, [(LocalInfileRequest("x").encode(), K.LOCAL_INFILE), (err(caps), K.ERR)])
    with pytest.raises(ProtocolError, match="other than COM_QUERY"):
        started(caps, Expect.EXECUTE).packet(LocalInfileRequest("x").encode())


def test_results_without_metadata_are_unsupported() -> None:
    caps = BASE | C.OPTIONAL_RESULTSET_METADATA
    with pytest.raises(ProtocolError, match="without metadata"):
        started(caps, Expect.QUERY).packet(ColumnCount(1, False).encode(caps))
    with pytest.raises(ProtocolError, match="without metadata"):
        started(caps, Expect.PREPARE).packet(StmtPrepareOK(1, 1, 0, 0, False).encode(caps))


# --- prepared statements ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "columns"), [(0, 0), (2, 0), (0, 3), (2, 3)])
def test_prepare(caps: int, params: int, columns: int) -> None:
    steps = [(StmtPrepareOK(7, columns, params).encode(caps), K.PREPARE_OK)]
    for count, kind in ((params, K.PARAM), (columns, K.COLUMN)):
        steps += [(col(f"{kind.name}{i}").encode(caps), kind) for i in range(count)]
        if count and not caps & C.DEPRECATE_EOF:
            steps.append((EOFPacket().encode(caps), K.EOF))
    reader = started(caps, Expect.PREPARE)
    run(reader, steps)
    assert reader.prepared is not None and reader.prepared.statement_id == 7 and reader.prepared.num_params == params
    assert [c.name for c in reader.params] == [f"PARAM{i}" for i in range(params)]
    assert [c.name for c in reader.columns] == [f"COLUMN{i}" for i in range(columns)]
    reader.start(Expect.PREPARE)
    run(reader, [(err(caps), K.ERR)])


def binary_set(count: int) -> tuple[list[ColumnDefinition41], list[bytes]]:
    """Two columns (BIGINT, VARCHAR) and ``count`` binary rows."""
    columns = [col("n", FieldType.LONGLONG), col("s")]
    rows = [encode_binary_row([encode_binary_int(i, FieldType.LONGLONG), None], [8, 253]) for i in range(count)]
    return columns, rows


def test_execute_binary_rows(caps: int) -> None:
    columns, rows = binary_set(3)
    reader = started(caps, Expect.EXECUTE, 5)
    run(reader, [*metadata(caps, columns), *((r, K.ROW) for r in rows), (end(caps), K.RESULT_END)])
    assert reader.binary and not reader.cursor and reader.cursors == {}
    reader.start(Expect.EXECUTE, 5)
    for payload, _ in metadata(caps, columns):
        reader.packet(payload)
    with pytest.raises(ProtocolError, match="among binary rows"):
        reader.packet(encode_text_row([b"1", b"2"]))  # a text row where binary rows belong


def test_execute_cursor_then_fetch(caps: int) -> None:
    columns, rows = binary_set(3)
    reader = started(caps, Expect.EXECUTE, 9)
    run(reader, [*metadata(caps, columns, eof=False), (end(caps, S.CURSOR_EXISTS), K.RESULT_END)])
    assert reader.cursor and reader.cursors == {9: columns}
    reader.start(Expect.FETCH, 9)
    assert reader.columns == columns and reader.binary  # known before the first row, to decode it
    run(reader, [(rows[0], K.ROW), (rows[1], K.ROW), (end(caps, S.CURSOR_EXISTS), K.RESULT_END)])
    assert decode_binary_row(rows[1], [c.type for c in reader.columns])[0] == encode_binary_int(1, 8)
    reader.start(Expect.FETCH, 9)
    run(reader, [(rows[2], K.ROW), (end(caps, S.LAST_ROW_SENT), K.RESULT_END)])
    assert reader.cursors == {}  # the server closed it
    reader.start(Expect.FETCH, 9)
    with pytest.raises(ProtocolError, match="no cursor"):
        reader.packet(rows[0])
    reader.start(Expect.FETCH, 9)
    run(reader, [(err(caps), K.ERR)])


@pytest.mark.parametrize("closer", [Expect.SIMPLE, Expect.NONE, Expect.EXECUTE])  # RESET, CLOSE, re-execute
def test_commands_naming_the_statement_close_its_cursor(caps: int, closer: Expect) -> None:
    columns, _ = binary_set(0)
    reader = started(caps, Expect.EXECUTE, 3)
    run(reader, [*metadata(caps, columns, eof=False), (end(caps, S.CURSOR_EXISTS), K.RESULT_END)])
    reader.start(Expect.FETCH, 4)  # another statement's cursor is not this one
    run(reader, [(err(caps), K.ERR)])
    assert 3 in reader.cursors
    reader.start(closer, 3)
    assert 3 not in reader.cursors


# --- the other commands -------------------------------------------------------------------------------------


def test_field_list(caps: int) -> None:
    defs = [col("a", field_list=True, default_value=b"x"), col("b", field_list=True)]
    reader = started(caps, Expect.FIELD_LIST)
    run(reader, [*((d.encode(caps), K.COLUMN) for d in defs), (end(caps), K.RESULT_END)])
    assert reader.columns == defs
    reader.start(Expect.FIELD_LIST)
    run(reader, [(err(caps, 1146), K.ERR)])


def test_statistics_simple_and_none(caps: int) -> None:
    reader = started(caps, Expect.STATISTICS)
    run(reader, [(b"Uptime: 5  Threads: 1", K.STATISTICS)])
    for reply, kind in ((ok(caps), K.OK), (err(caps), K.ERR), (end(caps), K.OK)):  # COM_SET_OPTION: EOF
        reader.start(Expect.SIMPLE)
        run(reader, [(reply, kind)])
    reader.start(Expect.NONE)
    assert reader.done
    with pytest.raises(ProtocolError, match="no response is expected"):
        reader.packet(ok(caps))
    with pytest.raises(ProtocolError, match="no response is expected"):
        ResponseReader(caps).packet(ok(caps))
    with pytest.raises(ProtocolError, match="expected an OK or ERR"):
        started(caps, Expect.SIMPLE).packet(b"\x03def")
    with pytest.raises(ProtocolError, match="empty"):
        started(caps, Expect.QUERY).packet(b"")


def test_pipelined_commands_are_queued(caps: int) -> None:
    reader = started(caps, Expect.PREPARE)
    reader.start(Expect.NONE)  # e.g. a COM_STMT_CLOSE in between
    reader.start(Expect.SIMPLE)
    run(reader, [(StmtPrepareOK(1, 0, 0).encode(caps), K.PREPARE_OK)])
    assert reader.done and reader.pending == 2
    run(reader, [(ok(caps), K.OK)], queued=True)
    assert reader.pending == 0
    assert reader.expect == Expect.SIMPLE
    with pytest.raises(ProtocolError):
        reader.packet(ok(caps))


def test_expect_by_command_byte() -> None:
    assert EXPECT[CommandByte.QUERY] == Expect.QUERY and EXPECT[CommandByte.STMT_CLOSE] == Expect.NONE
    assert EXPECT[CommandByte.SET_OPTION] == Expect.SIMPLE and CommandByte.CHANGE_USER not in EXPECT


# --- model columns and masking rules ------------------------------------------------------------------------


def test_to_model_columns_match_masking_rules() -> None:
    defs = [
        ColumnDefinition41("shop", "c", "customers", "cc", "card", 33, 16, FieldType.VAR_STRING),
        ColumnDefinition41("", "", "", "n", "", 63, 1, FieldType.LONGLONG),
        ColumnDefinition41("shop", "c", "customers", "x", "x", 33, 1, 0xE0),
    ]
    card, computed, odd = to_model_columns(defs, binary=True)
    assert card == Column("cc", 0, "var_string", "shop.customers", 0, True, "card")
    assert computed == Column("n", 1, "longlong", None, 0, True, None)
    assert odd.type_name == "type_224" and odd.index == 2
    for rule in ("customers.card", "shop.customers.card", "*.card", "s*.cust*.card", "cc", "*.cc"):
        assert column_rule_matches([rule], card), rule
    for rule in ("other.customers.card", "orders.card", "customers.cc"):
        assert not column_rule_matches([rule], card), rule


# --- random conversations and fuzzing -----------------------------------------------------------------------


@FAST
@given(st.data())
def test_random_conversations(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    reader = ResponseReader(caps)
    for expect, statement, steps in data.draw(exchanges(caps)):
        reader.start(expect, statement)
        if expect == Expect.NONE:
            assert reader.done
        run(reader, steps)


@FAST
@given(st.data())
def test_random_pipelined_conversations(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    conversation: list[Exchange] = data.draw(exchanges(caps))
    reader = ResponseReader(caps)
    for expect, statement, _ in conversation:
        reader.start(expect, statement)
    for _, _, steps in conversation:
        if steps:
            run(reader, steps, queued=True)
    with pytest.raises(ProtocolError):
        reader.packet(b"\x00\x00\x00\x02\x00\x00\x00")


def classify_or_protocol_error(reader: ResponseReader, packets: Sequence[bytes]) -> None:
    for payload in packets:
        try:
            if reader.packet(payload) == K.LOCAL_INFILE:
                reader.infile_answered()
        except ProtocolError:
            return


@FUZZ
@given(CAPS, st.sampled_from(Expect), st.none() | st.integers(0, 3), st.lists(st.binary(max_size=40), max_size=6))
def test_fuzz_packets_after_start(caps: int, expect: Expect, statement: int | None, packets: list[bytes]) -> None:
    reader = started(caps, expect, statement)
    classify_or_protocol_error(reader, packets)


@FUZZ
@given(st.data())
def test_fuzz_after_a_valid_prefix(data: st.DataObject) -> None:
    caps = data.draw(CAPS)
    conversation: list[Exchange] = data.draw(exchanges(caps))
    reader = ResponseReader(caps)
    cut = data.draw(st.integers(0, sum(len(s) for _, _, s in conversation)))
    packets = [p for _, _, steps in conversation for p, _ in steps]
    for expect, statement, _ in conversation:
        reader.start(expect, statement)
    noise = data.draw(st.lists(st.binary(max_size=40), max_size=4))
    if packets[cut : cut + 1] and data.draw(st.booleans()):  # or the packet at the cut, mutated
        packet = bytearray(packets[cut])
        packet[data.draw(st.integers(0, len(packet) - 1))] ^= data.draw(st.integers(1, 255))
        noise.insert(0, bytes(packet))
    classify_or_protocol_error(reader, [*packets[:cut], *noise])


# --- the real MariaDB ---------------------------------------------------------------------------------------


def drive(
    client: Client, reader: ResponseReader, command: bytes, expect: Expect, statement: int | None = None
) -> list[tuple[Kind, bytes]]:
    """Send ``command``, classify every packet until the reader says done, then check that nothing more comes."""
    client.command(command)
    reader.start(expect, statement)
    seen = []
    while not reader.done:
        payload = client.recv().payload
        kind = reader.packet(payload)
        seen.append((kind, payload))
        if kind == K.LOCAL_INFILE:
            client.send(b"")  # refused, as the gateway does: an empty file
            reader.infile_answered()
    assert client.quiet(0.2), "the server sent more after the reader said done"
    return seen


def kinds(seen: list[tuple[Kind, bytes]]) -> list[Kind]:
    return [k for k, _ in seen]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    try:
        admin = Client()
    except OSError as exc:
        pytest.fail(f"MariaDB is not reachable at {HOST}:{PORT}: {exc}")
    assert isinstance(admin.login(ADMIN, ""), OKPacket)
    name = f"ic_resp_{secrets.token_hex(4)}"
    for sql in (
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (a INT PRIMARY KEY, b VARCHAR(10) DEFAULT 'x')",
        f"INSERT INTO {name}.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        f"CREATE PROCEDURE {name}.two() BEGIN SELECT 1 AS one; SELECT 2 AS two, 'z' AS zed; END",
    ):
        admin.command(ComQuery(sql).encode(admin.caps))
        assert admin.result() == ([], [])
    try:
        yield name
    finally:
        admin.command(ComQuery(f"DROP DATABASE {name}").encode(admin.caps))
        admin.result()
        admin.close()


@pytest.fixture(params=[True, False], ids=["deprecate_eof", "eof"])
def live(database: str, request: pytest.FixtureRequest) -> Iterator[tuple[Client, ResponseReader, list[Kind]]]:
    """A logged-in client in ``database``, a reader for its capabilities, and the EOF that follows definitions."""
    client = Client(request.param, extra=int(C.MULTI_STATEMENTS | C.LOCAL_FILES))
    assert isinstance(client.login(ADMIN, ""), OKPacket)
    assert client.caps & C.MULTI_STATEMENTS and client.caps & C.LOCAL_FILES
    reader = ResponseReader(client.caps)
    assert kinds(drive(client, reader, ComInitDB(database).encode(), Expect.SIMPLE)) == [K.OK]
    yield client, reader, [] if client.caps & C.DEPRECATE_EOF else [K.EOF]
    client.close()


def meta(n: int, eof: list[Kind]) -> list[Kind]:
    return [K.COLUMN_COUNT, *[K.COLUMN] * (n - 1), K.COLUMNS_DONE, *eof]


def test_live_text_protocol(live: tuple[Client, ResponseReader, list[Kind]], database: str) -> None:
    client, reader, eof = live
    query = Expect.QUERY
    seen = drive(client, reader, ComQuery("SELECT 1; SELECT 'a','b'; DO 1").encode(client.caps), query)
    assert kinds(seen) == [*meta(1, eof), K.ROW, K.RESULT_END, *meta(2, eof), K.ROW, K.RESULT_END, K.OK]
    seen = drive(client, reader, ComQuery("CALL two()").encode(client.caps), query)
    assert kinds(seen) == [*meta(1, eof), K.ROW, K.RESULT_END, *meta(2, eof), K.ROW, K.RESULT_END, K.OK]
    assert [c.name for c in reader.columns] == ["two", "zed"] and not reader.more
    seen = drive(client, reader, ComQuery("SELECT 1; SELECT nope; SELECT 2").encode(client.caps), query)
    assert kinds(seen) == [*meta(1, eof), K.ROW, K.RESULT_END, K.ERR] and isinstance(reader.last, ERRPacket)
    seen = drive(client, reader, ComQuery("SELECT NULL AS n, b AS card FROM t ORDER BY a").encode(client.caps), query)
    assert kinds(seen) == [*meta(2, eof), K.ROW, K.ROW, K.ROW, K.RESULT_END] and seen[-2][1][0] == 0xFB
    n, card = to_model_columns(reader.columns, binary=False)
    assert n.table is None and (card.table, card.source, card.type_name) == (f"{database}.t", "b", "var_string")
    sql = "SELECT 1; LOAD DATA LOCAL INFILE 'nothing' INTO TABLE t"
    seen = drive(client, reader, ComQuery(sql).encode(client.caps), query)
    assert kinds(seen) == [*meta(1, eof), K.ROW, K.RESULT_END, K.LOCAL_INFILE, K.OK]
    assert isinstance(reader.last, OKPacket) and reader.last.affected_rows == 0


def test_live_prepared_statements(live: tuple[Client, ResponseReader, list[Kind]]) -> None:
    client, reader, eof = live
    seen = drive(client, reader, ComStmtPrepare("SELECT a, b FROM t WHERE a > ? ORDER BY a").encode(), Expect.PREPARE)
    assert kinds(seen) == [K.PREPARE_OK, K.PARAM, *eof, K.COLUMN, K.COLUMN, *eof]
    assert reader.prepared is not None and reader.prepared.num_params == 1 and len(reader.columns) == 2
    statement = reader.prepared.statement_id
    zero = (encode_binary_int(0, FieldType.LONGLONG),)
    execute = ComStmtExecute(statement, values=zero, types=(FieldType.LONGLONG,))
    seen = drive(client, reader, execute.encode(client.caps), Expect.EXECUTE, statement)
    assert kinds(seen) == [*meta(2, eof), K.ROW, K.ROW, K.ROW, K.RESULT_END] and not reader.cursor
    cursor = ComStmtExecute(statement, CURSOR_TYPE_READ_ONLY, values=zero, types=(FieldType.LONGLONG,))
    seen = drive(client, reader, cursor.encode(client.caps), Expect.EXECUTE, statement)
    assert kinds(seen) == [K.COLUMN_COUNT, K.COLUMN, K.COLUMNS_DONE, K.RESULT_END]  # the EOF is the terminator
    assert reader.cursor and statement in reader.cursors
    values = []
    for flag in (S.CURSOR_EXISTS, S.LAST_ROW_SENT):
        seen = drive(client, reader, ComStmtFetch(statement, 2).encode(), Expect.FETCH, statement)
        assert kinds(seen)[-1] == K.RESULT_END and isinstance(reader.last, OKPacket | EOFPacket)
        assert reader.last.status & flag
        types = [c.type for c in reader.columns]
        values += [decode_binary_row(p, types)[1] for k, p in seen if k == K.ROW]
    assert values == [b"a", b"b", b"c"] and statement not in reader.cursors
    assert kinds(drive(client, reader, ComStmtFetch(statement, 1).encode(), Expect.FETCH, statement)) == [K.ERR]
    assert kinds(drive(client, reader, ComStmtReset(statement).encode(), Expect.SIMPLE, statement)) == [K.OK]
    assert drive(client, reader, ComStmtClose(statement).encode(), Expect.NONE, statement) == []

    drive(client, reader, ComStmtPrepare("CALL two()").encode(), Expect.PREPARE)
    assert reader.prepared is not None
    call = reader.prepared.statement_id
    seen = drive(client, reader, ComStmtExecute(call, CURSOR_TYPE_READ_ONLY).encode(client.caps), Expect.EXECUTE, call)
    expected = [*meta(1, eof), K.ROW, K.RESULT_END, *meta(2, eof), K.ROW, K.RESULT_END, K.OK]
    assert kinds(seen) == expected and not reader.cursor  # MariaDB opens no cursor for CALL: binary results
    assert drive(client, reader, ComStmtClose(call).encode(), Expect.NONE, call) == []


def test_live_other_commands(live: tuple[Client, ResponseReader, list[Kind]]) -> None:
    client, reader, _ = live
    seen = drive(client, reader, ComFieldList("t").encode(), Expect.FIELD_LIST)
    assert kinds(seen) == [K.COLUMN, K.COLUMN, K.RESULT_END] and reader.columns[1].default_value == b"x"
    assert kinds(drive(client, reader, ComFieldList("nope").encode(), Expect.FIELD_LIST)) == [K.ERR]
    seen = drive(client, reader, ComStatistics().encode(), Expect.STATISTICS)
    assert kinds(seen) == [K.STATISTICS] and seen[0][1].startswith(b"Uptime:")
    for command in (ComPing(), ComSetOption(0), ComResetConnection()):
        assert kinds(drive(client, reader, command.encode(), Expect.SIMPLE)) == [K.OK]
