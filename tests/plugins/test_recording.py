"""The recording plugin through the policy harness: what a session's recording holds, the row cap, the fsync
timer, and fail-closed behaviour when the recording cannot be written."""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from interceptor.config import ConfigError, loads
from interceptor.hookspecs import hookimpl
from interceptor.model import Action, Column, Command, Session, Verdict
from interceptor.plugins.recording import RecordingPlugin
from interceptor.recording import list_sessions, read, verify
from interceptor.testing import PolicyHarness

_ids = itertools.count(0x18F3A2B4C5D)


class DenyDrop:
    @hookimpl
    def interceptor_check_command(self, command: Command) -> Verdict | None:
        return Verdict.deny("no DROP here", rule="no-drop") if command.text.startswith("drop") else None


def harness(tmp_path: Path, extra: str = "") -> tuple[PolicyHarness, RecordingPlugin]:
    plugin = RecordingPlugin()
    text = f"data_dir: {tmp_path}\nrecordings: {tmp_path / 'rec'}\n" + extra
    return PolicyHarness([plugin, DenyDrop()], config=loads(text)), plugin


def open_session(h: PolicyHarness, **who: Any) -> Session:
    s = dataclasses.replace(h.session(**who), id=f"{next(_ids):x}-9f86d081")  # a gateway-style id
    h.pipeline.session_opened(s)
    return s


def select(h: PolicyHarness, s: Session, n: int, text: str = "select id, name from t") -> Command:
    command = h.command(s, text)
    assert h.pipeline.check(s, command) == Verdict.allow("no plugin objected")
    cols = [Column("id", 0, "int4"), Column("name", 1, "text")]
    observers = h.pipeline.observers(s, command, cols)
    for i in range(n):
        for o in observers:
            o.row([str(i).encode(), None if i == 1 else f"row {i}".encode()])
    for o in observers:
        o.done(f"SELECT {n}", n)
    return command


def test_a_session_is_recorded_from_open_to_close(tmp_path: Path) -> None:
    h, _ = harness(tmp_path)
    s = open_session(h, identity="bob", kind="human", groups=["dba"])
    command = select(h, s, 3)
    assert h.check("drop table t", session=s).action is Action.DENY
    failing = h.command(s, "select * from nope")
    h.pipeline.check(s, failing)
    h.pipeline.event("command.error", s.id, command=failing, sqlstate="42P01", message='relation "nope" does not exist')
    h.pipeline.session_closed(s, "client closed")

    [summary] = list_sessions(tmp_path / "rec")
    assert (summary.id, summary.identity, summary.reason, summary.commands, summary.denied) == (
        s.id, "bob", "client closed", 3, 1,
    )  # fmt: skip
    rec = read(summary.path)
    assert rec.header["identity"] == {"name": "bob", "kind": "human", "groups": ["dba"]}
    assert [(e["type"], e.get("text"), e.get("action")) for e in rec.entries] == [
        ("command", "select id, name from t", "allow"),
        ("result", None, None),
        ("command", "drop table t", "deny"),
        ("command", "select * from nope", "allow"),
        ("error", None, None),
    ]
    result, denied, error = rec.entries[1], rec.entries[2], rec.entries[4]
    assert result["command"] == command.seq
    assert result["rows"] == [["0", "row 0"], ["1", None], ["2", "row 2"]]
    assert (result["row_count"], result["truncated"], result["status"]) == (3, False, "SELECT 3")
    assert (denied["reason"], denied["rule"]) == ("no DROP here", "no-drop")
    assert (error["command"], error["sqlstate"]) == (failing.seq, "42P01")
    assert verify(summary.path) == (7, None)


def test_rows_are_capped_by_the_policy_and_the_count_stays_exact(tmp_path: Path) -> None:
    h, _ = harness(tmp_path, "policies:\n  agents: {record: {rows: 2}}\n")
    s = open_session(h, policy="agents")
    select(h, s, 50)
    h.pipeline.session_closed(s, "client closed")
    [result] = [e for e in read(list_sessions(tmp_path / "rec")[0].path).entries if e["type"] == "result"]
    assert (result["rows"], result["row_count"], result["truncated"]) == ([["0", "row 0"], ["1", None]], 50, True)


def test_a_policy_can_turn_recording_off(tmp_path: Path) -> None:
    h, _ = harness(tmp_path, "policies:\n  quiet: {record: {enabled: false}}\n")
    s = open_session(h, policy="quiet")
    select(h, s, 2)
    h.pipeline.session_closed(s, "client closed")
    assert list_sessions(tmp_path / "rec") == []
    assert not (tmp_path / "rec").exists()


def test_lines_reach_the_disk_on_the_fsync_timer(tmp_path: Path) -> None:
    h, _ = harness(tmp_path, "plugin_config:\n  recording: {fsync_interval: 5}\n")
    s = open_session(h)
    h.check("select 1", session=s)
    path = next((tmp_path / "rec").glob("*/*.jsonl"))
    assert path.read_bytes() == b"", "buffered"
    h.clock.advance(5)
    assert [e["text"] for e in read(path).entries] == ["select 1"]


def test_an_unfinished_result_is_kept_when_the_session_closes(tmp_path: Path) -> None:
    h, _ = harness(tmp_path)
    s = open_session(h)
    command = h.command(s, "select n from big")
    h.pipeline.check(s, command)
    [observer] = h.pipeline.observers(s, command, [Column("n", 0, "int8")])
    observer.row([b"1"])
    h.pipeline.session_closed(s, "client closed")
    observer.done("SELECT 1", 1)  # too late: already recorded as aborted, and nothing is written after the end
    path = list_sessions(tmp_path / "rec")[0].path
    [result] = [e for e in read(path).entries if e["type"] == "result"]
    assert (result["status"], result["rows"], result["row_count"]) == ("aborted", [["1"]], 1)
    assert verify(path)[1] is None


def test_an_unwritable_directory_denies_every_command(tmp_path: Path) -> None:
    (tmp_path / "rec").write_text("a file where the directory should be")
    h, _ = harness(tmp_path)
    for _ in range(2):
        s = open_session(h)
        verdict = h.check("select 1", session=s)
        assert verdict.action is Action.DENY and "recording cannot be written" in verdict.reason
        h.pipeline.session_closed(s, "client closed")


def test_on_error_continue_lets_the_session_go_on_unrecorded(tmp_path: Path) -> None:
    (tmp_path / "rec").write_text("a file where the directory should be")
    h, _ = harness(tmp_path, "plugin_config:\n  recording: {on_error: continue}\n")
    s = open_session(h)
    assert h.check("select 1", session=s).action is Action.ALLOW
    assert h.pipeline.observers(s, h.command(s, "select 1"), [Column("a", 0)]) == []
    h.pipeline.session_closed(s, "client closed")


def test_a_write_failure_mid_session_denies_its_later_commands(tmp_path: Path) -> None:
    h, plugin = harness(tmp_path)
    s, other = open_session(h), open_session(h)
    assert h.check("select 1", session=s).action is Action.ALLOW
    writer = plugin.live[s.id].writer
    assert writer is not None
    writer.path.unlink()  # the file is reopened for each write: a symbolic link put in its place is refused
    writer.path.symlink_to("/dev/full")
    select(h, s, 1)
    h.clock.advance(2)  # the fsync timer hits the error
    assert plugin.live[s.id].failed is not None
    verdict = h.check("select 2", session=s)
    assert verdict.action is Action.DENY and "recording cannot be written" in verdict.reason
    assert h.check("select 2", session=other).action is Action.ALLOW, "other sessions go on"
    h.pipeline.session_closed(s, "client closed")
    h.pipeline.session_closed(other, "client closed")


def test_a_session_id_not_made_by_the_gateway_is_not_recorded_and_denied(tmp_path: Path) -> None:
    h, _ = harness(tmp_path)
    s = dataclasses.replace(h.session(), id="../../etc/x")  # no file name may be built from it
    h.pipeline.session_opened(s)
    assert h.check("select 1", session=s).action is Action.DENY
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize(
    ("settings", "key"),
    [("{fsync_interval: 0}", "fsync_interval"), ("{fsync_interval: soon}", "fsync_interval"),
     ("{on_error: ignore}", "on_error"), ("{fsync: 1}", "fsync")],
)  # fmt: skip
def test_bad_settings_are_refused(tmp_path: Path, settings: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"plugin_config.recording.{key}"):
        harness(tmp_path, f"plugin_config:\n  recording: {settings}\n")


class _Pool:
    """Stands in for the reactor's thread pool: keeps each job, to be run (or failed) when the test says."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Any]] = []

    def __call__(self, reactor: Any) -> Any:
        def run(job: Any) -> Any:
            d: Any = Deferred()
            self.jobs.append((job, d))
            return d

        return run

    def finish(self, error: Exception | None = None) -> None:
        for job, d in self.jobs:
            job()  # the fsync itself, on its own descriptor
            if error is None:
                d.callback(None)
            else:
                d.errback(error)
        self.jobs.clear()


def test_fsyncs_run_off_the_reactor_and_a_failed_one_fails_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = _Pool()
    monkeypatch.setattr("interceptor.plugins.recording.off_thread", pool)
    h, plugin = harness(tmp_path)
    s, other = open_session(h), open_session(h)
    select(h, s, 1)
    plugin.drain()
    open_fds = len(os.listdir("/proc/self/fd"))
    h.clock.advance(2)  # the periodic flush: the lines are written at once, the fsync is handed to the pool
    path = plugin.live[s.id].writer.path  # type: ignore[union-attr]
    assert b'"type":"command"' in path.read_bytes() and len(pool.jobs) == 2
    assert len(os.listdir("/proc/self/fd")) == open_fds, "a queued fsync holds no descriptor (thousands may wait)"
    pool.finish(OSError(5, "Input/output error"))  # the disk failed the fsync
    assert len(os.listdir("/proc/self/fd")) == open_fds, "each fsync closes the descriptor it opened"
    assert plugin.live[s.id].failed is not None and plugin.live[other.id].failed is not None
    assert h.check("select 2", session=s).action is Action.DENY
    h.pipeline.session_closed(s, "client closed")
    h.pipeline.session_closed(other, "client closed")


def test_a_closing_recording_is_sealed_at_once_and_synced_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = _Pool()
    monkeypatch.setattr("interceptor.plugins.recording.off_thread", pool)
    h, plugin = harness(tmp_path)
    s = open_session(h)
    select(h, s, 3)
    path = plugin.live[s.id].writer.path  # type: ignore[union-attr]
    h.pipeline.session_closed(s, "client closed")
    assert read(path).end is not None and verify(path)[1] is None, "written and sealed before the fsync"
    assert len(pool.jobs) == 1
    pool.finish(OSError(5, "Input/output error"))  # too late to deny anything: it is logged, nothing raises
