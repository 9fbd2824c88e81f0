"""Tests for the recording subcommands of interceptor.cli: ``sessions``, ``replay`` and ``audit verify`` over the
recordings directory, run in-process through ``main()``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interceptor.audit import ChainWriter
from interceptor.cli import main
from interceptor.model import Column, Command, CommandKind, Identity, IdentityKind, Session, Verdict
from interceptor.recording import RecordingWriter

FIRST, SECOND = "18f3a2b4c5d-9f86d081", "18f3a2b5000-0badcafe"


def record(recordings: Path, sid: str, started_at: float, name: str) -> Path:
    s = Session(
        sid, Identity(name, IdentityKind.AGENT, frozenset({"agents"})), "orders", "postgres", "10.1.2.3:4", started_at
    )
    w = RecordingWriter(recordings, s, ts=started_at)
    w.command(
        Command(sid, 1, CommandKind.QUERY, "select id, email from customers", "postgres"),
        Verdict.allow(),
        started_at + 0.25,
    )
    cols = [Column("id", 0, "int4"), Column("email", 1, "text")]
    rows: list[list[bytes | None]] = [[b"1", b"ann@example.com"], [b"22", None], [b"333", b"\x1b[2Jbell\x07"]]
    w.result(1, cols, rows, 3, "SELECT 3", started_at + 0.5)
    deny = Verdict.deny("destructive DDL is never allowed here", rule="no-ddl", plugin="blocking")
    w.command(Command(sid, 2, CommandKind.QUERY, "drop table customers", "postgres"), deny, started_at + 1)
    w.command(Command(sid, 3, CommandKind.QUERY, "delete from carts", "postgres"), Verdict.allow(approved_by="alice"))
    w.error(3, "42P01", 'relation "carts" does not exist')
    w.end("client closed", started_at + 2)
    return w.path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INTERCEPTOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "interceptor.yaml"
    path.write_text("data_dir: var\nrecordings: rec\naudit_log: audit.jsonl\n")
    record(tmp_path / "rec", FIRST, 1714564800.0, "first-bot")
    record(tmp_path / "rec", SECOND, 1714564900.0, "second-bot")
    writer = ChainWriter(tmp_path / "audit.jsonl")
    writer.append({"text": "select 1"})
    writer.close()
    return path


def test_sessions_json_newest_first(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--json", "-c", str(config)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["id"], s["identity"], s["commands"], s["denied"], s["reason"]) for s in listed] == [
        (SECOND, "second-bot", 3, 1, "client closed"),
        (FIRST, "first-bot", 3, 1, "client closed"),
    ]
    assert main(["-c", str(config), "sessions", "--json", "--limit", "1"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [SECOND]


def test_sessions_table(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "STARTED", "IDENTITY", "CONNECTION", "CLIENT", "COMMANDS", "ENDED"]
    assert out[1].startswith(SECOND) and "second-bot (agent)" in out[1] and "3 (1 denied)" in out[1]
    assert "2024-05-01 12:01:42Z client closed" in out[1]
    assert out[2].startswith(FIRST)


def test_sessions_with_nothing_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.yaml").write_text(f"data_dir: {tmp_path}\n")
    assert main(["sessions", "-c", str(tmp_path / "empty.yaml")]) == 0
    assert capsys.readouterr().out.startswith("no recorded sessions in ")


def test_replay_shows_the_timeline(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", FIRST]) == 0
    out = capsys.readouterr().out
    assert "identity    first-bot (agent; groups: agents)" in out
    assert "+   0.250s  #1 query  ALLOW" in out and "select id, email from customers" in out
    assert "#1 result  SELECT 3: 3 rows" in out
    table = [line.strip() for line in out.splitlines() if line.startswith(" " * 14) and "|" not in line]
    assert "id   email" in table and "1    ann@example.com" in table and "22   NULL" in table
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2Jbell\\x07" in out, "terminal escapes are shown, not run"
    assert "DENY  destructive DDL is never allowed here [rule no-ddl, plugin blocking]" in out
    assert "(approved by alice)" in out
    assert 'error 42P01: relation "carts" does not exist' in out
    assert "end: client closed (3 commands, 1 denied, 1 results, 1 errors)" in out
    assert out.rstrip().splitlines()[-1].startswith("chain: intact")


def test_replay_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", SECOND, "--json", "-c", str(config)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["header"]["session"] == SECOND and rec["verified"] is True
    assert rec["entries"][1]["rows"][0] == ["1", "ann@example.com"]


@pytest.mark.parametrize("sid", ["18f3a2b4c5d-00000000", "../../etc/passwd", "test-1"])
def test_replay_an_unknown_session(config: Path, capsys: pytest.CaptureFixture[str], sid: str) -> None:
    assert main(["replay", sid]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("interceptor: no recording of session ") and "rec" in err


def flip(path: Path, line: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_bytes(b"".join(lines))


def test_audit_verify_checks_the_audit_log_and_every_recording(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        f"{tmp_path / 'audit.jsonl'}: ok, 1 lines, chain intact",
        f"{tmp_path / 'rec'}: 2 recordings, 2 intact, 0 broken",
    ]
    broken = next((tmp_path / "rec").glob(f"*/{FIRST}.jsonl"))
    flip(broken, 3, b"ann@example.com", b"bnn@example.com")  # one byte, in the recorded rows
    assert main(["audit", "verify"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"{broken}: BROKEN at line 3: content does not match its hash (the line was changed)"]
    assert out.splitlines()[-1] == f"{tmp_path / 'rec'}: 2 recordings, 1 intact, 1 broken"
    assert main(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problem"] == "" and report["recordings"]["checked"] == 2
    assert report["recordings"]["broken"] == [
        {"path": str(broken), "lines": 3, "problem": report["recordings"]["broken"][0]["problem"]}
    ]
    # with a PATH: that file only, audit log or recording
    assert main(["audit", "verify", str(broken)]) == 1
    assert capsys.readouterr().err.startswith(f"{broken}: BROKEN at line 3: ")
    intact = next((tmp_path / "rec").glob(f"*/{SECOND}.jsonl"))
    assert main(["audit", "verify", str(intact), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": str(intact), "lines": 7, "ok": True, "problem": ""}
    assert main(["audit", "verify", str(tmp_path / "audit.jsonl")]) == 0
    assert main(["replay", FIRST]) == 1, "replay shows a broken recording but says so"
    assert "chain: BROKEN at line 3" in capsys.readouterr().out


def test_audit_verify_reports_a_cut_tail_and_unfinished_recordings(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = next((tmp_path / "rec").glob(f"*/{SECOND}.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))  # the end line removed: looks like a session that is still open
    assert main(["audit", "verify"]) == 0
    assert "1 without an end line" in capsys.readouterr().out
    path.write_bytes(b"".join(lines[:2] + lines[-1:]))  # the end line kept, lines before it removed
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().err.startswith(f"{path}: BROKEN at line 3: ")
