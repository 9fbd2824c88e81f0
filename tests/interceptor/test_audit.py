"""Tests for interceptor.audit: the hash-chained JSONL writer and the verifier that names the first bad line."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interceptor.audit import GENESIS, ChainWriter, fragment, records, verify

N = 8


def record(i: int) -> dict[str, object]:
    return {"identity": "bot", "text": f'select {i} -- naïve "quoted" ✓', "action": "allow", "n": i}


def write(path: Path, n: int = N, start: int = 0) -> list[str]:
    writer = ChainWriter(path)
    hashes = [writer.append(record(i)) for i in range(start, start + n)]
    writer.close()
    return hashes


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def rewrite(path: Path, new: list[str]) -> None:
    path.write_text("".join(new), encoding="utf-8")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.jsonl"
    write(path)
    return path


def test_a_written_chain_verifies(log: Path) -> None:
    assert verify(log) == (N, None)
    recs = list(records(log))
    assert [r["seq"] for r in recs] == list(range(1, N + 1))
    assert recs[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(recs))
    assert recs[3]["text"] == record(3)["text"], "non-ASCII text is kept as written"
    assert (log.stat().st_mode & 0o777) == 0o600


def test_append_returns_the_line_hash_and_flush_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    writer = ChainWriter(path)
    h = writer.append({"x": 1})
    writer.flush(sync=False)
    assert json.loads(path.read_text())["hash"] == h
    writer.close()


def test_an_empty_file_verifies(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.touch()
    assert verify(path) == (0, None)


def test_reopening_continues_the_sequence_and_the_chain(log: Path) -> None:
    last = list(records(log))[-1]
    write(log, 3, start=N)
    assert verify(log) == (N + 3, None)
    recs = list(records(log))
    assert recs[N]["seq"] == N + 1 and recs[N]["prev"] == last["hash"]


def test_a_writer_on_a_new_file_starts_at_genesis(tmp_path: Path) -> None:
    writer = ChainWriter(tmp_path / "new" / "deeper" / "audit.jsonl")
    assert (writer.seq, writer.prev) == (0, GENESIS)
    writer.close()


# -- tampering ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, N])
def test_a_changed_field_is_found_at_its_line(log: Path, k: int) -> None:
    content = lines(log)
    rec = json.loads(content[k - 1])
    rec["action"] = "deny"
    content[k - 1] = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    rewrite(log, content)
    checked, problem = verify(log)
    assert problem is not None and problem.line == k == checked
    assert "changed" in problem.message
    assert str(problem).startswith(f"line {k}: ")


@pytest.mark.parametrize("k", [1, 4, N - 1])
def test_a_deleted_line_is_found_where_it_was(log: Path, k: int) -> None:
    content = lines(log)
    del content[k - 1]
    rewrite(log, content)
    _, problem = verify(log)
    assert problem is not None and problem.line == k
    assert "removed or reordered" in problem.message


@pytest.mark.parametrize("k", [1, 3, N - 1])
def test_swapped_lines_are_found_at_the_first(log: Path, k: int) -> None:
    content = lines(log)
    content[k - 1], content[k] = content[k], content[k - 1]
    rewrite(log, content)
    _, problem = verify(log)
    assert problem is not None and problem.line == k


def test_a_renumbered_line_is_found(log: Path) -> None:
    # a forger who fixes prev and hash but not seq is still caught
    content = lines(log)
    rec = json.loads(content[2])
    del rec["hash"]
    rec["seq"] = 10
    content[2] = json.dumps({**rec, "hash": "x"}) + "\n"
    rewrite(log, content)
    _, problem = verify(log)
    assert problem is not None and problem.line == 3 and "sequence number 10 where 3 was due" in problem.message


@pytest.mark.parametrize("junk", ["not json\n", "\n", "[1, 2]\n", '{"seq": 9}\n', '"text"\n'])
def test_an_appended_junk_line_is_found(log: Path, junk: str) -> None:
    with log.open("a", encoding="utf-8") as f:
        f.write(junk)
    checked, problem = verify(log)
    assert problem is not None and problem.line == N + 1 == checked


def test_an_inserted_copy_of_a_line_is_found(log: Path) -> None:
    content = lines(log)
    content.insert(3, content[2])
    rewrite(log, content)
    _, problem = verify(log)
    assert problem is not None and problem.line == 4


def test_invalid_utf8_is_found_at_its_line(log: Path) -> None:
    raw = log.read_bytes().split(b"\n")
    raw[2] = raw[2].replace(b"select", b"sel\xffct")
    log.write_bytes(b"\n".join(raw))
    _, problem = verify(log)
    assert problem is not None and problem.line == 3


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("audit") / "original.jsonl"
    write(path)
    return path.read_bytes().split(b"\n")[:-1]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_found_at_its_line(
    tmp_path: Path, original: list[bytes], data: st.DataObject
) -> None:
    raw = list(original)
    k = data.draw(st.integers(0, len(raw) - 1), label="line index")
    pos = data.draw(st.integers(0, len(raw[k]) - 1), label="byte position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b not in (raw[k][pos], 0x0A)), label="new byte")
    line = bytearray(raw[k])
    line[pos] = new
    raw[k] = bytes(line)
    path = tmp_path / "tampered.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    _, problem = verify(path)
    assert problem is not None, "the change went unnoticed"
    assert problem.line == k + 1


_names = itertools.count()
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("seq", "prev", "hash")), _JSON,
                                max_size=6), min_size=1, max_size=4))  # fmt: skip
def test_any_records_are_written_verified_and_read_back(tmp_path: Path, batch: list[dict[str, object]]) -> None:
    """The hash is taken over the line as written: whatever the values (floats, NaN, non-ASCII, surrogates,
    nesting), the chain verifies and every record reads back as it was given."""
    path = tmp_path / f"h{next(_names)}.jsonl"
    w = ChainWriter(path)
    for record in batch:
        w.append(record)
    w.close()
    assert verify(path) == (len(batch), None)
    back = [{k: v for k, v in r.items() if k not in ("seq", "prev", "hash")} for r in records(path)]
    assert json.dumps(back) == json.dumps(batch)  # as JSON: NaN never equals itself


def test_lines_of_the_old_canonical_form_still_verify(tmp_path: Path) -> None:
    """Chains written before lines were hashed as written (sorted keys, canonical JSON) keep verifying."""
    prev, lines = GENESIS, []
    for i in range(3):
        rec = {"seq": i + 1, "text": f"select {i} ✓", "prev": prev}
        body = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256((prev + body).encode()).hexdigest()
        lines.append(f'{body[:-1]},"hash":"{digest}"}}')
        prev = digest
    (tmp_path / "old.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert verify(tmp_path / "old.jsonl") == (3, None)
    w = ChainWriter(tmp_path / "old.jsonl")  # and a new writer continues the old chain
    w.append({"text": "new"})
    w.close()
    assert verify(tmp_path / "old.jsonl") == (4, None)


def test_a_record_may_not_set_the_chain_fields(tmp_path: Path) -> None:
    w = ChainWriter(tmp_path / "a.jsonl")
    with pytest.raises(ValueError, match="may not set seq"):
        w.append({"seq": 9})
    w.close()


def test_queued_records_keep_their_order_and_chain(tmp_path: Path) -> None:
    w = ChainWriter(tmp_path / "a.jsonl")
    w.defer(fragment(record(1)))
    assert w.pending and w.seq == 0  # nothing built yet
    w.append(record(2))  # drains the queue first
    w.defer(fragment(record(3)))
    w.close()
    assert [r["n"] for r in records(tmp_path / "a.jsonl")] == [1, 2, 3]
    assert verify(tmp_path / "a.jsonl") == (3, None)


def test_text_that_is_not_unicode_is_written_and_verifies(tmp_path: Path) -> None:
    """A client's non-UTF-8 bytes reach the command text as lone surrogates; the line must still be written (a
    failing audit write denies every session's commands) and keep them exactly."""
    w = ChainWriter(tmp_path / "a.jsonl")
    w.append({"text": "select 'caf\udce9'", "n": 1})
    w.append({"text": "select 'café'", "n": 2})
    w.close()
    assert verify(tmp_path / "a.jsonl") == (2, None)
    assert [r["text"] for r in records(tmp_path / "a.jsonl")] == ["select 'caf\udce9'", "select 'café'"]
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    lines[0] = lines[0].replace(b"udce9", b"udce8")
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert verify(tmp_path / "a.jsonl")[1] is not None


@pytest.mark.parametrize("new", [b"\r", b" ", b"x"])
def test_a_changed_line_ending_is_detected(tmp_path: Path, new: bytes) -> None:
    """The newline ends the line's bytes too: turning it into a carriage return (or anything) breaks the chain."""
    path = tmp_path / "a.jsonl"
    w = ChainWriter(path)
    w.append(record(1))
    w.append(record(2))
    w.close()
    data = path.read_bytes()
    path.write_bytes(data[:-1] + new)
    assert verify(path)[1] is not None and verify(path)[1].line == 2  # type: ignore[union-attr]
    first_end = data.index(b"\n")
    path.write_bytes(data[:first_end] + new + data[first_end + 1 :])
    assert verify(path)[1] is not None


def test_a_closed_writer_takes_no_more_lines(tmp_path: Path) -> None:
    w = ChainWriter(tmp_path / "a.jsonl")
    w.append(record(1))
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.append(record(2))
    with pytest.raises(ValueError, match="closed"):
        w.defer(fragment(record(3)))
    assert verify(tmp_path / "a.jsonl") == (1, None)
