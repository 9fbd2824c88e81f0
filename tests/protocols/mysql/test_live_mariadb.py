"""The codec against the real MariaDB on this machine: a tiny blocking client built only from the codec logs
in with mysql_native_password (directly and after an auth switch) and runs text and prepared queries, and every
packet the server sends must re-encode to the exact bytes received."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from interceptor.protocols.mysql.auth import native_scramble
from interceptor.protocols.mysql.codec import (
    AuthSwitchRequest,
    ColumnDefinition41,
    ComQuery,
    ComStmtClose,
    ComStmtExecute,
    ComStmtPrepare,
    ERRPacket,
    FieldType,
    OKPacket,
    StmtPrepareOK,
    binary_to_text,
    decode_auth_reply,
    decode_prepare_response,
    encode_binary_int,
    is_result_end,
)
from tests.protocols.mysql.live_client import ADMIN, HOST, PORT, C, Client


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[str, str]]:
    try:
        admin = Client()
    except OSError as exc:
        pytest.fail(f"MariaDB is not reachable at {HOST}:{PORT}: {exc}")
    assert isinstance(admin.login(ADMIN, ""), OKPacket)
    user, password = f"ic_codec_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    admin.command(ComQuery(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'").encode(admin.caps))
    assert admin.result() == ([], [])
    try:
        yield user, password
    finally:
        admin.command(ComQuery(f"DROP USER '{user}'@'%'").encode(admin.caps))
        admin.result()
        admin.close()


@pytest.mark.parametrize("deprecate_eof", [True, False])
def test_native_password_login_and_queries(account: tuple[str, str], deprecate_eof: bool) -> None:
    user, password = account
    client = Client(deprecate_eof)
    assert isinstance(client.login(user, password), OKPacket)
    client.command(ComQuery("select 1 as a, null as b, 'x' as c, json_object('k', 1) as j").encode(client.caps))
    columns, rows = client.result()
    assert [c.name for c in columns] == ["a", "b", "c", "j"] and rows == [[b"1", None, b"x", b'{"k": 1}']]
    assert columns[3].extended_info == ((1, "json"),)  # MariaDB's extended type info: format json
    client.command(ComStmtPrepare("select ? + 1 as n, concat(?, 'z') as s, cast(? as date) as d").encode())
    packet = client.recv()
    prepared = client.same(decode_prepare_response(packet.payload, client.caps), packet)
    assert isinstance(prepared, StmtPrepareOK) and prepared.num_params == 3
    for count in (prepared.num_params, prepared.num_columns):  # each list ends with an EOF unless DEPRECATE_EOF
        for _ in range(count):
            packet = client.recv()
            client.same(ColumnDefinition41.decode(packet.payload, client.caps), packet)
        if not client.caps & C.DEPRECATE_EOF:
            packet = client.recv()
            assert is_result_end(packet.payload, client.caps)
    types = (FieldType.LONGLONG, FieldType.VAR_STRING, FieldType.VAR_STRING)
    values = (encode_binary_int(41, FieldType.LONGLONG), b"y", b"2024-02-29")
    execute = ComStmtExecute(prepared.statement_id, values=values, types=types)
    client.command(execute.encode(client.caps))
    columns, rows = client.result(binary=True)
    texts = [binary_to_text(v, c.type, c.unsigned) for v, c in zip(rows[0], columns, strict=True) if v is not None]
    assert texts == [b"42", b"yz", b"2024-02-29"]
    client.command(ComStmtClose(prepared.statement_id).encode())
    client.close()


def test_wrong_password_and_auth_switch(account: tuple[str, str]) -> None:
    user, password = account
    client = Client()
    err = client.login(user, password + "x")
    assert isinstance(err, ERRPacket) and err.errno == 1045 and err.sqlstate == "28000"
    client.sock.close()
    client = Client()
    switch = client.login(user, password, "caching_sha2_password")  # unknown to MariaDB: it switches us back
    assert isinstance(switch, AuthSwitchRequest) and switch.plugin_name == "mysql_native_password"
    client.send(native_scramble(password, switch.nonce))
    packet = client.recv()
    assert isinstance(client.same(decode_auth_reply(packet.payload, client.caps), packet), OKPacket)
    client.close()
