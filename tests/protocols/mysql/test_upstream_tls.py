"""The upstream leg over TLS against a throwaway MariaDB (mariadb-install-db, then mariadbd with SSL and
performance_schema on, as the current user, on a free port, in a temporary folder; about two seconds), with a
certificate made by the gateway's own generator. The MariaDB on this machine has SSL disabled and
performance_schema off, so this is where TLS modes and the connection attributes meet a real server."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from interceptor.tls import ensure_certificate
from tests.conftest import free_port
from tests.protocols.mysql.loop import Loop, private_loop
from tests.protocols.mysql.upstream_kit import (
    ATTRS,
    MARIADB_CLIENT_CAPS,
    PASSWORD_ENV,
    C,
    Sink,
    config,
    error_of,
    login,
    query,
    ready_of,
)

PASSWORD = "canary-tls-5d1e0b"


@dataclass
class Server:
    port: int
    cert: Path
    other_cert: Path


def _bin(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed (MariaDB server binaries)")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    base = Path(tempfile.mkdtemp(prefix="icp-tlsmaria-"))
    user = getpass.getuser()
    data, sock, port = base / "data", base / "mysqld.sock", free_port()
    cert, key = base / "server.crt", base / "server.key"
    ensure_certificate(cert, key)
    ensure_certificate(base / "other.crt", base / "other.key")
    proc = None
    try:
        subprocess.run([_bin("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={data}",
                        f"--user={user}", "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        proc = subprocess.Popen(
            [_bin("mariadbd", "mysqld"), "--no-defaults", f"--user={user}", f"--datadir={data}", f"--socket={sock}",
             f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve", f"--ssl-cert={cert}",
             f"--ssl-key={key}", "--performance-schema=ON", "--innodb-buffer-pool-size=16M", "--skip-log-bin",
             f"--pid-file={base / 'mysqld.pid'}", f"--log-error={base / 'error.log'}",
             "--plugin-load-add=auth_ed25519"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                admin = pymysql.connect(unix_socket=str(sock), user=user, autocommit=True)
                break
            except pymysql.err.OperationalError:
                log = (base / "error.log").read_text(errors="replace") if (base / "error.log").exists() else ""
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the throwaway mariadbd did not start:\n{log}")
                time.sleep(0.1)
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER 'tls_user'@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE SSL")
            cur.execute("GRANT SELECT ON performance_schema.* TO 'tls_user'@'%'")
            cur.execute(f"CREATE USER 'ed_user'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{PASSWORD}')")
        admin.close()
        yield Server(port, cert, base / "other.crt")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loop]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with private_loop() as lp:
        yield lp


@pytest.mark.parametrize("mode", ["require", "prefer"])
def test_tls_login_query_and_connection_attributes(loop: Loop, server: Server, mode: str) -> None:
    ready = ready_of(login(loop, config(server.port, "tls_user", tls=mode), MARIADB_CLIENT_CAPS))
    assert ready.tls and ready.caps & C.SSL and not ready.caps & C.COMPRESS
    sink = Sink()
    ready.protocol.set_sink(sink)
    rows = query(loop, ready, sink, "SELECT CURRENT_USER(), VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
                                    " WHERE VARIABLE_NAME = 'Ssl_version'")  # fmt: skip
    assert rows[0][0] == b"tls_user@%" and (rows[0][1] or b"").startswith(b"TLSv1.")
    rows = query(loop, ready, sink, "SELECT ATTR_NAME, ATTR_VALUE FROM performance_schema.session_connect_attrs"
                                    " WHERE PROCESSLIST_ID = CONNECTION_ID()")  # fmt: skip
    assert {bytes(k or b"").decode(): bytes(v or b"").decode() for k, v in rows} == ATTRS


def test_verify_full(loop: Loop, server: Server) -> None:
    ready = ready_of(login(loop, config(server.port, "tls_user", tls="verify-full", ca=server.cert)))
    assert ready.tls
    err = error_of(login(loop, config(server.port, "tls_user", tls="verify-full", ca=server.other_cert)))
    assert err.public == "TLS with the upstream of connection 'orders' failed (tls: verify-full)"
    assert err.sqlstate == "08001" and PASSWORD not in str(err)


def test_an_account_that_requires_ssl_refuses_plaintext(loop: Loop, server: Server) -> None:
    err = error_of(login(loop, config(server.port, "tls_user", tls="disable")))
    assert err.public == "upstream login failed for connection 'orders' (server error 1045)"
    assert PASSWORD not in str(err)


def test_ed25519_is_refused_by_name(loop: Loop, server: Server) -> None:
    err = error_of(login(loop, config(server.port, "ed_user", tls="require")))
    assert err.public == ("the upstream of connection 'orders' asks for authentication plugin 'client_ed25519', "
                          "which the gateway does not support")  # fmt: skip
