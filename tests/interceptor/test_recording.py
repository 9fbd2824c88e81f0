"""Tests for interceptor.recording: the per-session file format, its reader, lister and verifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.model import Column, Command, CommandKind, Identity, IdentityKind, Session, Verdict
from interceptor.recording import (
    RecordingWriter,
    decode_value,
    encode_value,
    find,
    list_sessions,
    read,
    session_path,
    summarize,
    verify,
)

DAY = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()


def session(sid: str = "18f3a2b4c5d-9f86d081", started_at: float = DAY, name: str = "bot") -> Session:
    who = Identity(name, IdentityKind.AGENT, frozenset({"agents", "ci"}))
    return Session(sid, who, "orders", "postgres", "10.0.0.7:50000", started_at, policy="agents", tls=True)


def record(recordings: Path, s: Session | None = None, end: bool = True) -> Path:
    s = s or session()
    w = RecordingWriter(recordings, s, ts=s.started_at)
    w.command(Command(s.id, 1, CommandKind.QUERY, "select id, name, photo from customers", "postgres"), Verdict.allow())
    cols = [Column("id", 0, "int4"), Column("name", 1, "text"), Column("photo", 2, "bytea", binary=True)]
    w.result(1, cols, [[b"1", "Zoë".encode(), b"\x89PNG"], [b"2", None, None], [b"3", b"\xff\xfe", b""]], 3, "SELECT 3")
    deny = Verdict.deny("destructive DDL", rule="no-ddl", plugin="blocking")
    w.command(Command(s.id, 2, CommandKind.QUERY, "drop table customers", "postgres"), deny)
    approved = Verdict.allow("approved", approved_by="alice")
    w.command(Command(s.id, 3, CommandKind.QUERY, "delete from carts", "postgres"), approved)
    w.error(3, "42P01", 'relation "carts" does not exist')
    if end:
        w.end("client closed", ts=s.started_at + 5)
    else:
        w.close()
    return w.path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- paths ---------------------------------------------------------------------------------------------------------


def test_path_is_built_from_the_session_id_and_utc_day(tmp_path: Path) -> None:
    assert session_path(tmp_path, "18f3a2b4c5d-9f86d081", DAY) == tmp_path / "2024-05-01" / "18f3a2b4c5d-9f86d081.jsonl"


@pytest.mark.parametrize(
    "bad",
    ["", "test-1", "../../etc-12345678", "18f3a2b4c5d-9f86d08", "18F3-9f86d081", "18f3-9f86d0812", "18f3-9f86d081\n",
     "18f3-9f86d081/x", "-9f86d081", "18f3_9f86d081"],
)  # fmt: skip
def test_path_refuses_anything_but_a_gateway_session_id(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a gateway session id"):
        session_path(tmp_path, bad, DAY)
    with pytest.raises(ValueError):
        RecordingWriter(tmp_path, session(bad))
    assert find(tmp_path, bad) is None
    assert not any(tmp_path.iterdir()), "nothing was created"


def test_directories_are_private_and_files_0600(tmp_path: Path) -> None:
    path = record(tmp_path / "rec")
    assert (tmp_path / "rec").stat().st_mode & 0o777 == 0o700
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_existing_recording_is_never_reused(tmp_path: Path) -> None:
    record(tmp_path)
    with pytest.raises(FileExistsError):
        RecordingWriter(tmp_path, session())


# -- round trip ----------------------------------------------------------------------------------------------------


def test_written_recording_reads_back(tmp_path: Path) -> None:
    path = record(tmp_path)
    rec = read(path)
    assert rec.session_id == "18f3a2b4c5d-9f86d081" and find(tmp_path, rec.session_id) == path
    h = rec.header
    assert h["identity"] == {"name": "bot", "kind": "agent", "groups": ["agents", "ci"]}
    assert (h["connection"], h["protocol"], h["client"], h["tls"], h["started_at"]) == (
        "orders", "postgres", "10.0.0.7:50000", True, DAY,
    )  # fmt: skip
    assert [e["type"] for e in rec.entries] == ["command", "result", "command", "command", "error"]
    first, result, denied, approved, error = rec.entries
    assert (first["command"], first["kind"], first["text"], first["action"]) == (
        1, "query", "select id, name, photo from customers", "allow",
    )  # fmt: skip
    assert result["columns"] == [{"name": "id", "type": "int4"}, {"name": "name", "type": "text"},
                                 {"name": "photo", "type": "bytea"}]  # fmt: skip
    assert result["rows"] == [
        ["1", "Zoë", {"b64": "iVBORw=="}],
        ["2", None, None],
        ["3", {"b64": "//4="}, {"b64": ""}],
    ]
    assert (result["row_count"], result["truncated"], result["status"]) == (3, False, "SELECT 3")
    assert (denied["action"], denied["reason"], denied["rule"], denied["plugin"]) == (
        "deny", "destructive DDL", "no-ddl", "blocking",
    )  # fmt: skip
    assert approved["approved_by"] == "alice"
    assert (error["command"], error["sqlstate"], error["message"]) == (3, "42P01", 'relation "carts" does not exist')
    assert rec.end is not None
    assert (rec.end["reason"], rec.end["ended_at"]) == ("client closed", DAY + 5)
    assert rec.end["counts"] == {"commands": 3, "denied": 1, "results": 1, "errors": 1, "lines": 6}
    assert rec.end["digest"] == json.loads(lines(path)[-2])["hash"], "the digest is the chain's last hash"
    assert verify(path) == (7, None)


def test_values_encode_and_decode() -> None:
    for value, binary in [(b"text", False), ("ünï".encode(), False), (b"\xff", False), (b"text", True), (None, False)]:
        assert decode_value(encode_value(value, binary)) == value
    assert encode_value(b"abc") == "abc" and encode_value(b"abc", binary=True) == {"b64": "YWJj"}


def test_truncated_results_keep_the_exact_count(tmp_path: Path) -> None:
    w = RecordingWriter(tmp_path, session())
    w.result(1, [Column("n", 0, "int4")], [[b"1"], [b"2"]], 1000, "SELECT 1000")
    w.end("client closed")
    result = read(w.path).entries[0]
    assert (result["rows"], result["row_count"], result["truncated"]) == ([["1"], ["2"]], 1000, True)


def test_a_partial_last_line_is_ignored_by_the_reader(tmp_path: Path) -> None:
    path = record(tmp_path, end=False)
    with path.open("ab") as f:
        f.write(b'{"type":"command","tex')
    assert len(read(path).entries) == 5


def test_reader_refuses_what_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"type": "query"}\n')
    with pytest.raises(ValueError, match="line 1 is not a recording header"):
        read(path)
    path.write_text('{"type": "header"}\nnot json\n{"type": "end"}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON object"):
        read(path)


# -- listing -------------------------------------------------------------------------------------------------------


def test_list_sessions_newest_first(tmp_path: Path) -> None:
    old = record(tmp_path, session("18f00000000-00000001", DAY - 86400 * 3, "old"))
    mid = record(tmp_path, session("18f00000001-00000002", DAY, "mid"), end=False)
    new = record(tmp_path, session("18f00000002-00000003", DAY + 60, "new"))
    (tmp_path / "2024-05-01" / "notes.jsonl").write_text("not a recording\n")
    (tmp_path / "2024-05-01" / "18f00000003-00000004.jsonl").write_text("garbage\n")
    (tmp_path / "misc").mkdir()
    found = list_sessions(tmp_path)
    assert [s.identity for s in found] == ["new", "mid", "old"]
    assert [s.path for s in found] == [new, mid, old]
    latest = found[0]
    assert (latest.id, latest.kind, latest.connection, latest.protocol, latest.client) == (
        "18f00000002-00000003", "agent", "orders", "postgres", "10.0.0.7:50000",
    )  # fmt: skip
    assert (latest.started_at, latest.ended_at, latest.reason, latest.commands, latest.denied) == (
        DAY + 60, DAY + 65, "client closed", 3, 1,
    )  # fmt: skip
    assert (found[1].ended_at, found[1].reason, found[1].commands) == (None, None, None), "still open"
    assert [s.identity for s in list_sessions(tmp_path, limit=2)] == ["new", "mid"]
    assert list_sessions(tmp_path / "missing") == []
    assert latest.to_json()["path"] == str(new)


def test_summary_reads_only_the_ends_of_a_large_file(tmp_path: Path) -> None:
    s = session()
    w = RecordingWriter(tmp_path, s)
    for i in range(3000):
        w.command(Command(s.id, i, CommandKind.QUERY, f"select {i}", "postgres"), Verdict.allow())
    w.end("idle timeout")
    summary = summarize(w.path)
    assert summary is not None and (summary.commands, summary.reason) == (3000, "idle timeout")


# -- verification --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return record(tmp_path_factory.mktemp("rec")).read_bytes()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_one_byte_change_names_its_line(tmp_path: Path, pristine: bytes, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(pristine) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != pristine[pos]), label="new byte")
    path = tmp_path / "2024-05-01" / "18f3a2b4c5d-9f86d081.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(pristine[:pos] + bytes([byte]) + pristine[pos + 1 :])
    _, problem = verify(path)
    assert problem is not None
    assert problem.line == pristine[:pos].count(b"\n") + 1


@pytest.mark.parametrize("removed", range(6))  # every line but the last (see the unfinished test below)
def test_a_removed_line_is_detected(tmp_path: Path, removed: int) -> None:
    path = record(tmp_path)
    kept = lines(path)
    del kept[removed]
    path.write_bytes(b"".join(kept))
    _, problem = verify(path)
    assert problem is not None and problem.line == removed + 1
    assert "does not follow" in problem.message


def test_lines_removed_before_the_end_line_are_detected(tmp_path: Path) -> None:
    path = record(tmp_path)
    kept = lines(path)
    path.write_bytes(b"".join(kept[:3] + kept[-1:]))  # the tail of the session cut, the end line kept
    _, problem = verify(path)
    assert problem is not None and problem.line == 4


def test_a_forged_end_line_after_a_cut_is_caught_by_its_counts(tmp_path: Path) -> None:
    from interceptor.audit import chain_line

    path = record(tmp_path)
    raw = lines(path)
    kept = [json.loads(x) for x in raw]
    end = {k: v for k, v in kept[-1].items() if k not in ("seq", "prev", "hash")}
    # drop the last command and its error, then re-chain the original end line after line 3
    end["digest"] = kept[2]["hash"]
    forged, _ = chain_line(4, end, kept[2]["hash"])
    path.write_bytes(b"".join(raw[:3]) + forged.encode())
    _, problem = verify(path)
    assert problem is not None and problem.line == 4 and "counts" in problem.message


def test_a_cut_in_the_middle_of_the_end_line_is_detected(tmp_path: Path) -> None:
    path = record(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    _, problem = verify(path)
    assert problem is not None and problem.line == 7


def test_a_tail_removed_with_the_end_line_verifies_but_shows_as_unfinished(tmp_path: Path) -> None:
    """The documented limit: a prefix of a recording is a valid chain. It is visible as a session with no end."""
    path = record(tmp_path)
    path.write_bytes(b"".join(lines(path)[:3]))
    assert verify(path) == (3, None)
    summary = summarize(path)
    assert summary is not None and summary.ended_at is None


def test_a_line_after_the_end_and_a_renamed_file_are_detected(tmp_path: Path) -> None:
    s = session()
    w = RecordingWriter(tmp_path, s)
    w.end("client closed")
    w._chain = type(w._chain)(w.path)  # reopen the chain to append after the end line
    w.closed = False
    w.error(None, "XX000", "late")
    w.close()
    assert verify(w.path)[1] is not None and "after the end line" in str(verify(w.path)[1])
    other = record(tmp_path, session("18f3a2b4c5d-00000000"))
    renamed = other.with_name("18f3a2b4c5d-11111111.jsonl")
    other.rename(renamed)
    _, problem = verify(renamed)
    assert problem is not None and problem.line == 1 and "names session" in problem.message


# -- lines built as JSON text (the hot path's templates) -----------------------------------------------------------

_texts = st.text(st.characters(codec=None), max_size=30)  # includes lone surrogates, quotes, control characters
_values = st.one_of(st.none(), st.binary(max_size=12), _texts.map(lambda t: t.encode("utf-8", "surrogatepass")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=_texts,
    reason=_texts,
    approver=st.none() | _texts,
    names=st.lists(_texts, min_size=1, max_size=3),
    binary=st.lists(st.booleans(), min_size=3, max_size=3),
    rows=st.lists(st.lists(_values, min_size=3, max_size=3), max_size=3),
    message=_texts,
    status=_texts,
)
def test_command_result_and_error_lines_read_back_exactly(
    tmp_path: Path, text: str, reason: str, approver: str | None, names: list[str], binary: list[bool],
    rows: list[list[bytes | None]], message: str, status: str,
) -> None:  # fmt: skip
    """Whatever the client sent (text that is not Unicode included) and whatever the server answered, each line
    is valid JSON that reads back as the same values, and the chain verifies."""
    s = session(sid=f"18f3a2b4c5d-{abs(hash((text, reason))) % 16**8:08x}")
    path = session_path(tmp_path, s.id, s.started_at)
    if path.exists():
        path.unlink()
    w = RecordingWriter(tmp_path, s)
    w.command(Command(s.id, 1, CommandKind.QUERY, text, "postgres"), Verdict.allow(reason, approved_by=approver))
    columns = tuple(Column(n, i, "text", binary=binary[i]) for i, n in enumerate(names))
    kept = [row[: len(columns)] for row in rows]
    w.result(1, columns, kept, len(kept) + 1, status)
    w.error(None, "XX000", message)
    w.end("done")
    command, result, error = read(path).entries
    assert (command["text"], command["reason"], command["approved_by"]) == (text, reason, approver)
    assert [c["name"] for c in result["columns"]] == names
    assert result["rows"] == [[encode_value(v, binary[i]) for i, v in enumerate(row)] for row in kept]
    assert (result["row_count"], result["truncated"], result["status"]) == (len(kept) + 1, True, status)
    assert (error["command"], error["message"]) == (None, message)
    assert verify(path)[1] is None
