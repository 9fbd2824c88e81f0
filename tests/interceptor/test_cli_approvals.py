"""``interceptor approvals list|approve|deny`` in-process through ``main()``, against a SQLite state store that
the test fills the way the gateway does (through the Store)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from interceptor.cli import main
from interceptor.identity import hash_token, new_token
from interceptor.store import ApprovalRequest, Store, open_store

TOKENS = {name: new_token() for name in ("bot", "alice", "dave", "carol", "erin")}
GROUPS = {"bot": ["agents"], "alice": ["dba"], "dave": ["dba"], "carol": [], "erin": []}
KINDS = {"bot": "agent", "alice": "human", "dave": "human", "carol": "human", "erin": "service"}
HASHES = {name: hash_token(token, 4) for name, token in TOKENS.items()}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INTERCEPTOR_CONFIG", raising=False)
    monkeypatch.delenv("INTERCEPTOR_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = {
        "listen": {"postgres": "127.0.0.1:0"},
        "data_dir": "var",
        "state": "sqlite:///var/state.db",
        "identities": [
            {"name": n, "kind": KINDS[n], "groups": GROUPS[n], "token_hash": HASHES[n]} for n in sorted(TOKENS)
        ],
    }
    path = tmp_path / "interceptor.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def store(config: Path) -> Store:
    return open_store(f"sqlite:///{config.parent / 'var' / 'state.db'}")


def request(store: Store, requester: str = "bot", approvers: tuple[str, ...] = ("group:dba",), **kw: float) -> str:
    req = ApprovalRequest.new(
        created_at=kw.get("created_at", time.time() - 12),
        timeout=kw.get("timeout", 300),
        requester=requester,
        requester_kind=KINDS[requester],
        session_id="s-1",
        connection="orders",
        protocol="postgres",
        statement="DELETE FROM orders\n  WHERE id = 1 AND note = '" + "x" * 80 + "'",
        reason="deletes need a DBA",
        rule="deletes",
        approvers=approvers,
    )
    return store.create_approval(req).id


def as_(monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    monkeypatch.setenv("INTERCEPTOR_TOKEN", TOKENS[who])


def test_list_without_a_store_creates_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approvals", "list", "-c", str(config)]) == 0
    assert capsys.readouterr().out == "no approval requests waiting\n"
    assert not (config.parent / "var" / "state.db").exists()


def test_list_shows_waiting_requests(config: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    rid = request(store)
    done = request(store)
    store.decide(done, "alice", approve=False)
    gone = request(store, created_at=time.time() - 400)  # pending in the table, but past its deadline
    assert main(["approvals", "list"]) == 0
    header, line, *rest = capsys.readouterr().out.splitlines()
    assert rest == []
    assert header.split() == ["ID", "AGE", "EXPIRES", "IN", "REQUESTER", "CONNECTION", "RULE", "STATE", "STATEMENT"]
    assert line.startswith(rid) and re.search(r" 1[23]s +4m4[78]s +bot ", line)
    assert " orders " in line and " deletes " in line and " pending " in line
    assert "DELETE FROM orders WHERE id = 1" in line and line.endswith("…") and "\n" not in line

    assert main(["approvals", "list", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    states = {row.split()[0]: row.split()[6] for row in lines}
    assert states == {rid: "pending", done: "denied", gone: "expired"}


def test_list_json_has_full_records(config: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    rid = request(store)
    assert main(["approvals", "list", "--json", "-c", str(config)]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record == store.get(rid).to_json()
    assert record["statement"].endswith("x" * 80 + "'") and record["approvers"] == ["group:dba"]


def test_approve(
    config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store)
    as_(monkeypatch, "alice")
    assert main(["-c", str(config), "approvals", "approve", rid]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"approved request {rid} as alice: bot on orders: DELETE FROM orders")
    req = store.get(rid)
    assert (req.state, req.decided_by) == ("approved", "alice")


def test_approve_twice(
    config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store)
    as_(monkeypatch, "alice")
    assert main(["approvals", "approve", rid]) == 0
    as_(monkeypatch, "dave")
    assert main(["approvals", "approve", rid]) == 1
    assert f"request {rid} was already approved by alice" in capsys.readouterr().err
    assert main(["approvals", "deny", rid]) == 1


def test_deny_with_token_file(
    config: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store)
    (tmp_path / "token").write_text(TOKENS["dave"] + "\n")
    assert main(["approvals", "deny", rid, "--token-file", str(tmp_path / "token"), "-c", str(config)]) == 0
    assert capsys.readouterr().out.startswith(f"denied request {rid} as dave")
    assert (store.get(rid).state, store.get(rid).decided_by) == ("denied", "dave")


def test_no_self_approval(
    config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store, requester="dave")  # dave is a DBA, but this is his own request
    as_(monkeypatch, "dave")
    assert main(["approvals", "approve", rid]) == 1
    assert "you cannot approve your own request" in capsys.readouterr().err
    assert store.get(rid).state == "pending"


@pytest.mark.parametrize("who", ["carol", "bot", "erin"])
def test_non_approver_refused(
    who: str, config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store)
    as_(monkeypatch, who)
    assert main(["approvals", "approve", rid]) == 1
    assert f"your token does not belong to any approver of request {rid}" in capsys.readouterr().err
    assert store.get(rid).state == "pending"


def test_wrong_or_overlong_token(
    config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rid = request(store)
    for token in (new_token(), TOKENS["alice"] + "x" * 80):
        monkeypatch.setenv("INTERCEPTOR_TOKEN", token)
        assert main(["approvals", "approve", rid]) == 1
        assert "does not belong to any approver" in capsys.readouterr().err


def test_name_and_kind_selectors(config: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    by_name = request(store, approvers=("carol",))
    by_kind = request(store, approvers=("kind:service",))
    as_(monkeypatch, "carol")
    assert main(["approvals", "approve", by_name]) == 0
    assert main(["approvals", "approve", by_kind]) == 1
    as_(monkeypatch, "erin")
    assert main(["approvals", "approve", by_kind]) == 0


def test_refusals_exit_1(
    config: Path, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_(monkeypatch, "alice")
    assert main(["approvals", "approve", "nosuchid"]) == 1
    assert "no approval request nosuchid" in capsys.readouterr().err
    old = request(store, created_at=time.time() - 400)
    assert main(["approvals", "approve", old]) == 1
    assert f"request {old} expired" in capsys.readouterr().err
    assert store.get(old).state == "expired"


def test_missing_store_is_not_found(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    as_(monkeypatch, "alice")
    assert main(["approvals", "approve", "abc"]) == 1
    assert "no approval request abc" in capsys.readouterr().err
    assert not (config.parent / "var" / "state.db").exists()


def test_usage_errors_exit_2(config: Path, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rid = request(store)
    assert main(["approvals", "approve", rid]) == 2  # no token anywhere
    assert "INTERCEPTOR_TOKEN is not set" in capsys.readouterr().err
    assert main(["approvals", "approve", rid, "--token-file", str(tmp_path / "missing")]) == 2
    assert "cannot read the token file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["approvals", "approve"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["approvals"])
    assert info.value.code == 2
    assert store.get(rid).state == "pending"
