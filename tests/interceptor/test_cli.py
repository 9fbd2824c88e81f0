"""Tests for interceptor.cli: ``check``, ``token new`` and ``audit verify``, run in-process through ``main()`` (and
once as ``python -m interceptor.cli``). ``run`` and ``demo`` start servers and are tested elsewhere."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from interceptor import __version__, identity
from interceptor.audit import ChainWriter
from interceptor.cli import main
from interceptor.config import loads
from interceptor.identity import hash_token, new_token

HASH = hash_token(new_token(), 4)

GOOD = f"""\
listen: {{postgres: 127.0.0.1:0}}
data_dir: var
identities:
  - {{name: bot, kind: agent, groups: [agents], token_hash: "{HASH}"}}
  - {{name: alice, kind: human, token_hash: "{HASH}"}}
connections:
  - name: app
    protocol: postgres
    upstream: 127.0.0.1:5432
    password: ${{APP_DB_PASSWORD}}
    policy: default
policies:
  default: {{unknown: allow}}
"""
TYPO_LINE = 9  # "upstrem" below
BAD = GOOD.replace("    upstream: 127.0.0.1:5432", "    upstrem: 127.0.0.1:5432")
assert BAD.splitlines()[TYPO_LINE - 1].strip().startswith("upstrem")


@pytest.fixture(autouse=True)
def no_env_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INTERCEPTOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def assert_typo_reported(err: str, path: Path) -> None:
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"{path}:{TYPO_LINE}: connections[0].upstrem: "), err
    assert "unknown key" in line and "'upstream'" in line, "names the closest valid key"


# -- check ---------------------------------------------------------------------------------------------------------


def test_check_reports_file_line_key_message(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert_typo_reported(err, bad)


def test_check_accepts_a_good_config(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{good}: ok (2 identities, 1 connections)"
    assert err == ""
    assert not (good.parent / "var").exists(), "check starts nothing and writes nothing"


def test_check_runs_the_plugins_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plugin.yaml"
    path.write_text(GOOD + "plugin_config:\n  audit: {flush_interval: 0}\n")
    assert main(["check", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert re.match(rf"{re.escape(str(path))}:\d+: plugin_config\.audit\.flush_interval: must be above 0", err), err


def test_check_reports_a_plugin_that_cannot_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plugin.yaml"
    path.write_text(GOOD + "plugins: [no_such_plugin_module_xyz]\n")
    assert main(["check", "-c", str(path)]) == 1
    assert "no_such_plugin_module_xyz" in capsys.readouterr().err


def test_check_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["check", "-c", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{missing}: ") and "cannot read" in err


@pytest.mark.parametrize("before", [True, False])
def test_config_option_before_or_after_the_subcommand(
    before: bool, good: Path, bad: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = (lambda p: ["-c", str(p), "check"]) if before else (lambda p: ["check", "-c", str(p)])
    assert main(argv(bad)) == 1
    assert_typo_reported(capsys.readouterr().err, bad)
    assert main(argv(good)) == 0
    assert capsys.readouterr().out.startswith(f"{good}: ok")


def test_long_config_option(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"--config={good}"]) == 0
    assert capsys.readouterr().out.startswith(f"{good}: ok")


def test_config_comes_from_the_environment_by_default(
    good: Path, bad: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTERCEPTOR_CONFIG", str(bad))
    assert main(["check"]) == 1
    assert_typo_reported(capsys.readouterr().err, bad)
    assert main(["check", "-c", str(good)]) == 0, "-c wins over the environment"
    capsys.readouterr()
    monkeypatch.setenv("INTERCEPTOR_CONFIG", str(good))
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith(f"{good}: ok")


def test_config_defaults_to_interceptor_yaml_in_the_current_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 1
    assert capsys.readouterr().err.startswith("interceptor.yaml: ")
    (tmp_path / "interceptor.yaml").write_text(GOOD)
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("interceptor.yaml: ok")


def test_check_as_a_subprocess(bad: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "interceptor.cli", "check", "-c", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert_typo_reported(proc.stderr, bad)
    assert "Traceback" not in proc.stderr


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"interceptor {__version__}"
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2, "a subcommand is required"


# -- token new -----------------------------------------------------------------------------------------------------


def test_token_new_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "new", "alice", "--json", "--kind", "human", "--group", "dba", "--group", "ops"]) == 0
    printed = json.loads(capsys.readouterr().out)
    token, entry = printed["token"], printed["identity"]
    assert token.startswith("itk_")
    assert entry == {"name": "alice", "kind": "human", "groups": ["dba", "ops"], "token_hash": entry["token_hash"]}
    assert entry["token_hash"].startswith("$2b$12$"), "the production cost"
    assert bcrypt.checkpw(token.encode(), entry["token_hash"].encode())


def test_token_new_prints_a_hash_line_to_paste(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(identity, "hash_token", lambda token: hash_token(token, 4))  # cost 12 takes 0.5 s a check
    assert main(["token", "new", "alice", "--group", "dba"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"give it to alice\): (itk_\S+)$", out, re.M)
    assert token is not None, out
    entry = [line for line in out.splitlines() if "token_hash" in line]
    assert len(entry) == 1
    # the line pastes into a config as it is, and the token verifies against it
    cfg = loads("identities:\n" + entry[0] + "\n")
    alice = cfg.identities["alice"]
    assert (alice.kind.value, alice.groups) == ("agent", frozenset({"dba"}))
    assert bcrypt.checkpw(token.group(1).encode(), alice.token_hash.encode())


def test_token_new_needs_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["token", "new"])
    assert info.value.code == 2


# -- audit verify --------------------------------------------------------------------------------------------------


def chain(path: Path, n: int = 5) -> Path:
    writer = ChainWriter(path)
    for i in range(n):
        writer.append({"text": f"select {i}"})
    writer.close()
    return path


def test_audit_verify_a_good_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = chain(tmp_path / "audit.jsonl")
    assert main(["audit", "verify", str(log)]) == 0
    assert capsys.readouterr().out.strip() == f"{log}: ok, 5 lines, chain intact"
    assert main(["audit", "verify", str(log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": str(log), "lines": 5, "ok": True, "problem": ""}


def test_audit_verify_a_tampered_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = chain(tmp_path / "audit.jsonl")
    lines = log.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("select 2", "select 9")
    log.write_text("".join(lines))
    assert main(["audit", "verify", str(log)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{log}: BROKEN at line 3: ")
    assert main(["audit", "verify", "--json", str(log)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["lines"] == 3 and report["problem"].startswith("line 3: ")


def test_audit_verify_defaults_to_the_configs_audit_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(GOOD + "audit_log: logs/audit.jsonl\n")
    assert main(["audit", "verify", "-c", str(config)]) == 1
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'logs' / 'audit.jsonl'}: no audit log yet"
    (tmp_path / "logs").mkdir()
    chain(tmp_path / "logs" / "audit.jsonl", 2)
    assert main(["-c", str(config), "audit", "verify"]) == 0
    assert "ok, 2 lines" in capsys.readouterr().out


def test_audit_verify_with_a_bad_config(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("interceptor: ") and f"{bad}:{TYPO_LINE}: connections[0].upstrem" in err
