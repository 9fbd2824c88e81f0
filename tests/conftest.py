"""Shared fixtures: the real PostgreSQL on this machine, a SCRAM-only upstream role, and gateway processes."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from interceptor.identity import hash_token, new_token

ROOT = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("INTERCEPTOR_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("INTERCEPTOR_TEST_PGPORT", "5432"))
PG_SUPERUSER = os.environ.get("INTERCEPTOR_TEST_PGUSER", "postgres")
MY_HOST = os.environ.get("INTERCEPTOR_TEST_MYSQL_HOST", "127.0.0.1")
MY_PORT = int(os.environ.get("INTERCEPTOR_TEST_MYSQL_PORT", "3306"))
MY_ADMIN = os.environ.get("INTERCEPTOR_TEST_MYSQL_USER", "root")
HBA_MARK = "# interceptor-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_admin(dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_SUPERUSER, dbname=dbname, autocommit=True)


@dataclass
class Upstream:
    """A database and a role that logs in only by SCRAM with a canary password."""

    role: str
    database: str
    password: str
    host: str = PG_HOST
    port: int = PG_PORT


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    try:
        admin = pg_admin()
    except psycopg.OperationalError as e:
        pytest.fail(f"the local PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {e}")
    tag = secrets.token_hex(4)
    up = Upstream(role=f"icp_app_{tag}", database=f"icp_db_{tag}", password=f"canary-{secrets.token_hex(12)}")
    hba = Path(admin.execute("show hba_file").fetchone()[0])  # type: ignore[index]
    # lines left by a run that was killed before its clean-up would pile up: drop those whose role is gone (a test
    # run going on at the same time keeps its own), and at the end drop only this run's lines (marked with its tag)
    roles = {r[0] for r in admin.execute("select rolname from pg_roles").fetchall()}
    original = "".join(
        line
        for line in hba.read_text().splitlines(True)
        if HBA_MARK not in line or (len(line.split()) > 2 and line.split()[2] in roles)
    )
    mark = f"{HBA_MARK} {tag}"
    lines = [
        f"host {up.database} {up.role} 127.0.0.1/32 scram-sha-256 {mark}",
        f"host {up.database} {up.role} ::1/128 scram-sha-256 {mark}",
    ]
    admin.execute("set password_encryption = 'scram-sha-256'")
    admin.execute(f"create role {up.role} login password '{up.password}'")
    admin.execute(f"create database {up.database} owner {up.role}")
    hba.write_text("\n".join(lines) + "\n" + original)
    admin.execute("select pg_reload_conf()")
    time.sleep(0.3)
    try:
        # prove the role really needs its password: a wrong one must be refused by the server itself
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=PG_HOST, port=PG_PORT, user=up.role, dbname=up.database, password="wrong")
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=up.role, dbname=up.database, password=up.password, autocommit=True
        ) as c:
            c.execute("create table customers (id int primary key, name text, email text, card text)")
            c.execute(
                "insert into customers select g, 'name ' || g, 'user' || g || '@example.com', '4111111111111111'"
                " from generate_series(1, 100) g"
            )
        yield up
    finally:
        hba.write_text("".join(line for line in hba.read_text().splitlines(True) if mark not in line))
        admin.execute("select pg_reload_conf()")
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (up.database,))
        time.sleep(0.2)
        admin.execute(f"drop database if exists {up.database}")
        admin.execute(f"drop role if exists {up.role}")
        admin.close()


@dataclass
class MyUpstream:
    """A MariaDB database and a user that logs in with a canary password (mysql_native_password)."""

    user: str
    database: str
    password: str
    host: str = MY_HOST
    port: int = MY_PORT


def my_admin(database: str | None = None) -> Any:
    import pymysql

    return pymysql.connect(host=MY_HOST, port=MY_PORT, user=MY_ADMIN, database=database, autocommit=True)


@pytest.fixture(scope="session")
def mysql_upstream() -> Iterator[MyUpstream]:
    try:
        admin = my_admin()
    except Exception as e:  # pymysql.err.OperationalError
        pytest.fail(f"the local MariaDB at {MY_HOST}:{MY_PORT} is not reachable: {e}")
    tag = secrets.token_hex(4)
    up = MyUpstream(user=f"icp_my_{tag}", database=f"icp_my_{tag}", password=f"canary-{secrets.token_hex(12)}")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {up.database}")
        for host in ("%", "localhost", "127.0.0.1"):
            cur.execute(f"CREATE USER '{up.user}'@'{host}' IDENTIFIED BY '{up.password}'")
            cur.execute(f"GRANT ALL ON {up.database}.* TO '{up.user}'@'{host}'")
    try:
        yield up
    finally:
        with admin.cursor() as cur:
            for host in ("%", "localhost", "127.0.0.1"):
                cur.execute(f"DROP USER IF EXISTS '{up.user}'@'{host}'")
            cur.execute(f"DROP DATABASE IF EXISTS {up.database}")
        admin.close()


@dataclass
class GatewayProcess:
    """An ``interceptor run`` child process with its own config, data dir and log."""

    config_path: Path
    data_dir: Path
    port: int
    tokens: dict[str, str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    extra: dict[str, Any] = field(default_factory=dict)
    mysql_port: int = 0  # the gateway's MySQL listener (0: none)

    def start(self, timeout: float = 20.0) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interceptor.cli", "run", "-c", str(self.config_path)],
            stdout=self._log,
            stderr=self._log,
            env=self.env,
            cwd=str(self.data_dir.parent),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                for port in (self.port, self.mysql_port) if self.mysql_port else (self.port,):
                    socket.create_connection((self.host, port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway did not listen on {self.port}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def dsn(self, identity: str = "bot", connection: str = "app", token: str | None = None, **kw: Any) -> str:
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": identity,
            "dbname": connection,
            "password": self.tokens[identity] if token is None else token,
            "sslmode": "disable",
            "connect_timeout": "10",
        }
        parts.update({k: str(v) for k, v in kw.items()})
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def connect(self, identity: str = "bot", connection: str = "app", **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(identity, connection, **kw), autocommit=True)

    def mysql_connect(
        self, identity: str = "bot", connection: str = "shop", token: str | None = None, **kw: Any
    ) -> Any:
        """PyMySQL through the gateway's MySQL listener. PyMySQL (1.1.1+) prefers TLS when it is offered: pass
        ``ssl_disabled=True`` for plaintext on loopback."""
        import pymysql

        password = self.tokens[identity] if token is None else token
        args: dict[str, Any] = {"connect_timeout": 10, "autocommit": True, **kw}
        return pymysql.connect(
            host=self.host, port=self.mysql_port, user=identity, password=password, database=connection, **args
        )


def make_gateway(
    tmp: Path,
    upstream: Upstream | None,
    *,
    connections: list[dict[str, Any]] | None = None,
    plugins: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    mysql: MyUpstream | None = None,
) -> GatewayProcess:
    """Write a config (two identities with fresh tokens, the SCRAM upstream as ``app``; with ``mysql``, a MySQL
    listener too and that upstream as ``shop``) and return the process."""
    tmp.mkdir(parents=True, exist_ok=True)
    tokens = {"bot": new_token(), "alice": new_token()}
    port = free_port()
    conns = connections if connections is not None else []
    if upstream is not None and connections is None:
        conns = [
            {
                "name": "app",
                "protocol": "postgres",
                "upstream": f"{upstream.host}:{upstream.port}",
                "database": upstream.database,
                "username": upstream.role,
                "password": "${ICP_TEST_UPSTREAM_PASSWORD}",
                "tls": "prefer",
                "policy": "default",
            }
        ]
    listen = {"postgres": f"127.0.0.1:{port}"}
    mysql_port = 0
    if mysql is not None:
        mysql_port = free_port()
        listen["mysql"] = f"127.0.0.1:{mysql_port}"
        conns = [
            *conns,
            {
                "name": "shop",
                "protocol": "mysql",
                "upstream": f"{mysql.host}:{mysql.port}",
                "database": mysql.database,
                "username": mysql.user,
                "password": "${ICP_TEST_MYSQL_PASSWORD}",
                "tls": "prefer",
                "policy": "default",
            },
        ]
    cfg: dict[str, Any] = {
        "listen": listen,
        "data_dir": str(tmp / "var"),
        "timeouts": {"connect": "3s", "auth": "10s"},
        "identities": [
            {"name": "bot", "kind": "agent", "groups": ["agents"], "token_hash": hash_token(tokens["bot"], 4)},
            {"name": "alice", "kind": "human", "groups": ["dba"], "token_hash": hash_token(tokens["alice"], 4)},
        ],
        "connections": conns,
        "policies": {"default": {"unknown": "allow"}},
        "plugins": plugins or [],
        "log": {"level": "debug", "format": "json"},
    }
    if extra:
        cfg.update(extra)
    path = tmp / "interceptor.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "support"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if upstream is not None:
        env["ICP_TEST_UPSTREAM_PASSWORD"] = upstream.password
    if mysql is not None:
        env["ICP_TEST_MYSQL_PASSWORD"] = mysql.password
    return GatewayProcess(path, tmp / "var", port, tokens, env, tmp / "gateway.log", mysql_port=mysql_port)


@pytest.fixture(scope="session")
def gateway(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway for the whole session, with the test plugins loaded (see tests/support/test_plugins.py)."""
    gw = make_gateway(tmp_path_factory.mktemp("gateway"), upstream, plugins=["icp_test_plugins:TestPolicy"])
    gw.start()
    yield gw
    gw.stop()


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed (the README's setup installs it)")
    return path
