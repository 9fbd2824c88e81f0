"""Upstream TLS modes and login methods against a throwaway PostgreSQL cluster with SSL on.

The cluster is started with initdb/pg_ctl (as the postgres user when the tests run as root), with a certificate
made by the gateway's own generator. Roles log in by SCRAM, md5 and trust, so each login path is proven.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from interceptor.tls import ensure_certificate
from tests.conftest import free_port, make_gateway

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _bin(name: str) -> str:
    found = shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [None])[-1]
    if not found:
        pytest.fail(f"{name} is not installed (PostgreSQL server binaries)")
    return found


@dataclass
class Cluster:
    port: int
    cert: Path
    other_ca: Path


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[Cluster]:
    base = Path(tempfile.mkdtemp(prefix="icp-tlspg-"))  # outside pytest's root-only tmp, for the postgres user
    run_as: list[str] = []
    user = os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        run_as, user = ["runuser", "-u", "postgres", "--"], "postgres"
    data, port = base / "data", free_port()
    cert, key = base / "server.crt", base / "server.key"
    ensure_certificate(cert, key)
    ensure_certificate(base / "other.crt", base / "other.key")
    for p in (base, cert, key):
        if run_as:
            shutil.chown(p, "postgres")
    subprocess.run([*run_as, _bin("initdb"), "-D", str(data), "-U", user, "-A", "trust"], check=True,
                   capture_output=True)  # fmt: skip
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all scram_user 127.0.0.1/32 scram-sha-256\n"
        "host all scram_user 127.0.0.1/32 scram-sha-256\n"
        "host all md5_user 127.0.0.1/32 md5\n"
        "host all trust_user 127.0.0.1/32 trust\n"
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"
    subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        with psycopg.connect(host=str(base), port=port, user=user, dbname="postgres", autocommit=True) as c:
            c.execute("create role scram_user login password 'scram-canary'")
            c.execute("set password_encryption = 'md5'")
            c.execute("create role md5_user login password 'md5-canary'")
            c.execute("create role trust_user login")
        yield Cluster(port, cert, base / "other.crt")
    finally:
        subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _conn(
    name: str, port: int, user: str, tls: str, env: str | None = None, ca: Path | None = None
) -> dict[str, object]:
    c: dict[str, object] = {"name": name, "protocol": "postgres", "upstream": f"127.0.0.1:{port}",
                            "database": "postgres", "username": user, "tls": tls}  # fmt: skip
    if env:
        c["password"] = "${" + env + "}"
    if ca:
        c["ca"] = str(ca)
    return c


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory, tls_cluster: Cluster):
    p = tls_cluster.port
    conns = [
        _conn("scram_require", p, "scram_user", "require", "SCRAM_PW"),
        _conn("scram_verify", p, "scram_user", "verify-full", "SCRAM_PW", tls_cluster.cert),
        _conn("scram_wrong_ca", p, "scram_user", "verify-full", "SCRAM_PW", tls_cluster.other_ca),
        _conn("md5_disable", p, "md5_user", "disable", "MD5_PW"),
        _conn("trust_prefer", p, "trust_user", "prefer"),
    ]
    gw = make_gateway(tmp_path_factory.mktemp("tlsgw"), None, connections=conns)
    gw.env.update(SCRAM_PW="scram-canary", MD5_PW="md5-canary")
    gw.start()
    yield gw
    gw.stop()


def _ssl_and_user(gw, connection: str) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    with gw.connect(connection=connection) as c:
        row = c.execute("select ssl, current_user from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
    return bool(row[0]), str(row[1])


def test_scram_over_required_tls(tls_gateway) -> None:
    assert _ssl_and_user(tls_gateway, "scram_require") == (True, "scram_user")


def test_verify_full_with_the_right_ca(tls_gateway) -> None:
    assert _ssl_and_user(tls_gateway, "scram_verify") == (True, "scram_user")


def test_verify_full_with_the_wrong_ca_refuses(tls_gateway) -> None:
    with pytest.raises(psycopg.OperationalError, match="scram_wrong_ca"):
        tls_gateway.connect(connection="scram_wrong_ca")


def test_md5_without_tls(tls_gateway) -> None:
    assert _ssl_and_user(tls_gateway, "md5_disable") == (False, "md5_user")


def test_trust_with_prefer_gets_tls(tls_gateway) -> None:
    assert _ssl_and_user(tls_gateway, "trust_prefer") == (True, "trust_user")


def test_require_against_a_server_without_tls(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(tmp_path, upstream)
    gw.config_path.write_text(gw.config_path.read_text().replace("tls: prefer", "tls: require"))
    gw.start()
    try:
        with pytest.raises(psycopg.OperationalError, match="upstream does not offer TLS"):
            gw.connect()
    finally:
        gw.stop()
