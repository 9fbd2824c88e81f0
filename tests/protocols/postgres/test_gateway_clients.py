"""psql, psycopg 3 and pgbench through the gateway to the real PostgreSQL, with a token, by SCRAM upstream."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time

import psycopg
import pytest

from tests.conftest import GatewayProcess, Upstream, need

pytestmark = pytest.mark.postgres


def psql(
    gw: GatewayProcess, sql: str, identity: str = "bot", connection: str = "app", **kw: str
) -> subprocess.CompletedProcess[str]:
    env = dict(gw.env, PGPASSWORD=gw.tokens[identity], PGSSLMODE=kw.pop("sslmode", "prefer"), PGCONNECT_TIMEOUT="10")
    return subprocess.run(
        [need("psql"), "-h", "127.0.0.1", "-p", str(gw.port), "-U", identity, "-d", connection,
         "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_psql_query_over_tls(gateway: GatewayProcess, upstream: Upstream) -> None:
    r = psql(gateway, "select current_user, count(*) from customers, pg_stat_ssl where pg_stat_ssl.pid = 0 or true")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("|")[0] == upstream.role
    # the client leg really is TLS when psql prefers it
    r = psql(gateway, "select 1", sslmode="require")
    assert r.returncode == 0, r.stderr


def test_psycopg_over_tls_with_alpn(gateway: GatewayProcess) -> None:
    """psycopg's libpq (17 and newer) offers ALPN "postgresql"; Twisted's own ALPN callback used to answer that
    with an internal-error alert, so every psycopg TLS login failed."""
    with psycopg.connect(gateway.dsn(sslmode="require"), autocommit=True) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("select 1").fetchone() == (1,)
    openssl = need("openssl")
    r = subprocess.run(
        [openssl, "s_client", "-starttls", "postgres", "-connect", f"127.0.0.1:{gateway.port}", "-alpn", "postgresql"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "ALPN protocol: postgresql" in r.stdout, r.stdout + r.stderr


def test_application_name_names_identity_and_session(gateway: GatewayProcess) -> None:
    with gateway.connect("alice", application_name="myapp") as c:
        name = c.execute("select application_name from pg_stat_activity where pid = pg_backend_pid()").fetchone()[0]
    assert name.startswith("alice [interceptor ")
    assert name.endswith("myapp")


def test_psycopg_parameters_and_prepared_statements(gateway: GatewayProcess) -> None:
    with gateway.connect() as c:
        assert c.execute("select %s::int + %s::int", (2, 3)).fetchone() == (5,)
        for i in range(8):  # psycopg prepares server-side after a few runs of the same query
            assert c.execute("select name from customers where id = %s", (i + 1,), prepare=True).fetchone() == (
                f"name {i + 1}",
            )
        prepared = c.execute("select count(*) from pg_prepared_statements").fetchone()[0]
        assert prepared >= 1
        c.execute("prepare byid(int) as select email from customers where id = $1")
        assert c.execute("execute byid(7)").fetchone() == ("user7@example.com",)


def test_pipeline_mode(gateway: GatewayProcess) -> None:
    with gateway.connect() as c, c.pipeline():
        curs = [c.execute("select %s::int * 2", (i,)) for i in range(20)]
    assert [cur.fetchone()[0] for cur in curs] == [i * 2 for i in range(20)]


def test_copy_both_directions(gateway: GatewayProcess) -> None:
    with gateway.connect() as c:
        c.execute("create temp table t (id int, v text)")
        with c.cursor().copy("copy t from stdin") as cp:
            for i in range(1000):
                cp.write_row((i, f"v{i}"))
        assert c.execute("select count(*), sum(id) from t").fetchone() == (1000, sum(range(1000)))
        out = bytearray()
        with c.cursor().copy("copy (select * from t order by id) to stdout") as cp:
            for chunk in cp:
                out += chunk
        lines = bytes(out).decode().splitlines()
        assert len(lines) == 1000 and lines[0] == "0\tv0" and lines[-1] == "999\tv999"


def test_listen_notify_between_two_sessions(gateway: GatewayProcess) -> None:
    with gateway.connect() as listener, gateway.connect("alice") as sender:
        listener.execute("listen icp_channel")
        sender.execute("notify icp_channel, 'hello from alice'")
        got = next(listener.notifies(timeout=5, stop_after=1))
        assert (got.channel, got.payload) == ("icp_channel", "hello from alice")


def test_large_result(gateway: GatewayProcess) -> None:
    with gateway.connect() as c:
        rows = c.execute("select g, md5(g::text) from generate_series(1, 100000) g").fetchall()
    assert len(rows) == 100_000
    assert rows[-1] == (100000, hashlib.md5(b"100000").hexdigest())
    assert rows[12345] == (12346, hashlib.md5(b"12346").hexdigest())


def test_cancel_long_query(gateway: GatewayProcess) -> None:
    with gateway.connect() as c:
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(30)")
        assert time.monotonic() - started < 2.5
        assert c.execute("select 42").fetchone() == (42,)


def test_forged_cancel_key_is_ignored(gateway: GatewayProcess) -> None:
    import socket
    import struct

    with gateway.connect() as c:
        pid = c.pgconn.backend_pid  # the gateway's pid for this session; the secret is what we cannot know
        result: dict[str, object] = {}
        t = threading.Thread(target=lambda: result.update(row=c.execute("select pg_sleep(1.0), 1").fetchone()))
        t.start()
        time.sleep(0.3)  # the query is running now
        for secret in (0, 12345, 2**32 - 1):
            with socket.create_connection(("127.0.0.1", gateway.port)) as s:
                s.sendall(struct.pack("!iiII", 16, 80877102, pid, secret))
                assert s.recv(10) == b""
        t.join(5)
        assert result["row"] == ("", 1)  # not cancelled


def test_pgbench_select_only(gateway: GatewayProcess, upstream: Upstream) -> None:
    env = dict(gateway.env, PGPASSWORD=upstream.password)
    direct = ["-h", upstream.host, "-p", str(upstream.port), "-U", upstream.role]
    subprocess.run([need("pgbench"), *direct, "-i", "-s", "1", "-q", upstream.database], env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    env = dict(gateway.env, PGPASSWORD=gateway.tokens["bot"], PGSSLMODE="disable")
    via = ["-h", "127.0.0.1", "-p", str(gateway.port), "-U", "bot"]
    for mode in ("simple", "extended", "prepared"):
        r = subprocess.run(
            [need("pgbench"), *via, "-S", "-M", mode, "-c", "2", "-t", "200", "-n", "app"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "number of transactions actually processed: 400/400" in r.stdout
