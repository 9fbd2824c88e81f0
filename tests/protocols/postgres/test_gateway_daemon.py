"""The daemon: reload on SIGHUP, drain on SIGTERM, twistd, and a canary secret that must never travel."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from interceptor.identity import hash_token, new_token
from tests.conftest import ROOT, GatewayProcess, Upstream, make_gateway

pytestmark = pytest.mark.postgres


def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_sighup_reloads_identities_without_dropping_sessions(tmp_path: Path, upstream: Upstream) -> None:
    gw = make_gateway(tmp_path, upstream)
    gw.start()
    try:
        open_session = gw.connect("bot")
        cfg = yaml.safe_load(gw.config_path.read_text())
        carol = new_token()
        cfg["identities"] = [i for i in cfg["identities"] if i["name"] != "bot"]
        cfg["identities"].append({"name": "carol", "kind": "human", "token_hash": hash_token(carol, 4)})
        gw.config_path.write_text(yaml.safe_dump(cfg))
        gw.tokens["carol"] = carol
        gw.signal(signal.SIGHUP)
        _wait_for(lambda: "config reloaded" in gw.log())
        with gw.connect("carol") as c:
            assert c.execute("select 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            gw.connect("bot")
        assert open_session.execute("select 'still here'").fetchone() == ("still here",)
        open_session.close()

        gw.config_path.write_text("identities: [oops\n")  # a broken config is refused; the old one stays
        gw.signal(signal.SIGHUP)
        _wait_for(lambda: "reload refused" in gw.log())
        with gw.connect("carol") as c:
            assert c.execute("select 1").fetchone() == (1,)
    finally:
        gw.stop()


def test_sigterm_drains_then_ends_sessions(tmp_path: Path, upstream: Upstream) -> None:
    gw = make_gateway(tmp_path, upstream, extra={"timeouts": {"connect": "3s", "auth": "10s", "drain": "2s"}})
    gw.start()
    busy = gw.connect("bot")
    idle = gw.connect("alice")
    result: dict[str, object] = {}

    def run() -> None:
        result["value"] = busy.execute("select pg_sleep(0.8), 'finished'").fetchone()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.2)
    started = time.monotonic()
    gw.signal(signal.SIGTERM)
    t.join(5)
    assert result["value"] == ("", "finished")  # the running query was allowed to finish
    with pytest.raises(psycopg.OperationalError):
        gw.connect("bot")  # no new sessions while draining
    assert gw.proc is not None
    gw.proc.wait(10)
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 6, elapsed
    with pytest.raises(psycopg.OperationalError, match="shutting down"):
        idle.execute("select 1")
    assert gw.stop() == 0


def test_twistd_runs_the_gateway(tmp_path: Path, upstream: Upstream) -> None:
    twistd = Path(sys.executable).parent / "twistd"
    listed = subprocess.run([str(twistd), "--help"], capture_output=True, text=True, check=False).stdout
    assert "interceptor" in listed, "twistd does not see the interceptor plugin (run make setup)"
    gw = make_gateway(tmp_path, upstream)
    log = gw.log_path.open("ab")
    proc = subprocess.Popen(
        [str(twistd), "-n", "--pidfile=", "interceptor", "-c", str(gw.config_path)],
        stdout=log, stderr=log, env=gw.env, cwd=str(tmp_path),
    )  # fmt: skip
    try:
        _wait_for(lambda: "listening for postgres" in gw.log(), 20)
        with gw.connect() as c:
            assert c.execute("select current_database()").fetchone() == (upstream.database,)
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_canary_password_never_travels(tmp_path: Path, upstream: Upstream, gateway: GatewayProcess) -> None:
    """Plant the upstream password as a canary, exercise logins, errors and queries, then grep everywhere."""
    canary = upstream.password
    gw = make_gateway(tmp_path, upstream, extra={"log": {"level": "debug", "format": "json"}})
    # a second connection whose secret lives in a file, and a third whose variable is missing
    (tmp_path / "pw").write_text(canary + "\n")
    cfg = yaml.safe_load(gw.config_path.read_text())
    file_conn = dict(cfg["connections"][0], name="viafile", password="file:pw")
    missing = dict(cfg["connections"][0], name="missing", password="${ICP_NOT_SET_ANYWHERE}")
    bad = dict(cfg["connections"][0], name="badpw", password="${ICP_BAD_PASSWORD}")
    cfg["connections"] += [file_conn, missing, bad]
    gw.config_path.write_text(yaml.safe_dump(cfg))
    gw.env["ICP_BAD_PASSWORD"] = "not-" + canary[::-1]
    gw.start()
    seen: list[str] = []
    try:
        with gw.connect() as c:
            c.execute("select 1")
            with pytest.raises(psycopg.Error) as e:
                c.execute("select * from no_such_table")
            seen.append(str(e.value))
        with gw.connect(connection="viafile") as c:
            assert c.execute("select current_user").fetchone() == (upstream.role,)
        for conn in ("missing", "badpw"):
            with pytest.raises(psycopg.OperationalError) as e:
                gw.connect(connection=conn)
            seen.append(str(e.value))
        with pytest.raises(psycopg.OperationalError) as e:
            gw.connect(token="wrong")
        seen.append(str(e.value))
        ps = subprocess.run(["ps", "auxww"], capture_output=True, text=True, check=True).stdout
    finally:
        gw.stop()
    assert "upstream credential is unavailable" in seen[1]
    assert "upstream refused the login" in seen[2]
    places = {"client errors": "\n".join(seen), "ps output": ps, "gateway log": gw.log()}
    for path in gw.data_dir.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    places["session gateway log"] = gateway.log()
    for name, text in places.items():
        assert canary not in text, f"the canary password leaked into {name}"
    assert (gw.data_dir / "audit.jsonl").exists()


def test_demo_setup_only(tmp_path: Path) -> None:
    """`interceptor demo --setup-only` seeds the local server and writes a config that `check` accepts."""
    if shutil.which("psql") is None:
        pytest.fail("psql is not installed")
    demo = tmp_path / "demo"
    out = subprocess.run(
        [sys.executable, "-m", "interceptor.cli", "demo", "--setup-only", "--dir", str(demo), "--port", "25432",
         "--mysql-port", "23306"],
        capture_output=True, text=True, check=False, cwd=str(ROOT), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "psql 'host=127.0.0.1 port=25432 user=demo dbname=demo sslmode=require'" in out.stdout
    # this machine has a local MariaDB: the demo seeds it too and serves it as demo_mysql
    assert "mariadb -h 127.0.0.1 -P 23306 -u demo" in out.stdout and "demo_mysql" in out.stdout
    config = (demo / "interceptor.yaml").read_text()
    assert "mysql: 127.0.0.1:23306" in config and "protocol: mysql" in config
    assert "password:" not in out.stdout and "identified by" not in out.stdout.lower()
    check = subprocess.run(
        [sys.executable, "-m", "interceptor.cli", "check", "-c", str(demo / "interceptor.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_idle_timeout_ends_quiet_sessions(tmp_path: Path, upstream: Upstream) -> None:
    gw = make_gateway(tmp_path, upstream, extra={"timeouts": {"connect": "3s", "auth": "10s", "idle": "1s"}})
    gw.start()
    try:
        with gw.connect() as busy, gw.connect("alice") as quiet:
            for _ in range(8):  # 2 s of steady traffic keeps a session alive
                busy.execute("select 1")
                time.sleep(0.25)
            with pytest.raises(psycopg.OperationalError):
                quiet.execute("select 1")
            assert busy.execute("select 2").fetchone() == (2,)
        assert "idle timeout" in gw.log()
        # over TLS too, the ended session's socket really closes (both legs were each other's producers, and a TLS
        # transport with a producer never closed): the client sees the FATAL and then end-of-file, promptly
        with gw.connect("alice", sslmode="require") as tls:
            assert tls.pgconn.ssl_in_use
            started = time.monotonic()
            time.sleep(2.5)
            with pytest.raises(psycopg.OperationalError, match=r"idle timeout|closed|terminat"):
                tls.execute("select 1")
            assert time.monotonic() - started < 6
    finally:
        gw.stop()
