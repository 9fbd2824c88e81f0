"""One MySQL gateway for the whole session, with the test plugins, in front of the real MariaDB and a few special
upstreams: ``shop`` (policy ``default``: unknown statements allowed), ``nofiles`` (the same database, a policy
that blocks file reads), ``dba_only`` (only alice may use it), ``trap`` (a listener that counts connections),
``down`` (nothing listens), ``pgonly`` (a PostgreSQL connection, at the trap) and ``spy`` (a fake server that
records the gateway's login, see gateway_kit)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GatewayProcess, MyUpstream, free_port, make_gateway, my_admin
from tests.protocols.mysql.gateway_kit import CountingListener, SpyUpstream

MAX_MESSAGE = 1 << 20  # limits.max_message_size of the session gateway


@dataclass
class MyGateway:
    gw: GatewayProcess
    up: MyUpstream
    trap: CountingListener
    spy: SpyUpstream
    spy_file: Path  # the local file the spy asks for
    spy_marker: str  # what that file holds


def _conn(name: str, up: MyUpstream, **kw: Any) -> dict[str, Any]:
    return {"name": name, "protocol": "mysql", "upstream": f"{up.host}:{up.port}", "database": up.database,
            "username": up.user, "password": "${ICP_TEST_MYSQL_PASSWORD}", "policy": "default", **kw}  # fmt: skip


@pytest.fixture(scope="session")
def mysql_gateway(tmp_path_factory: pytest.TempPathFactory, mysql_upstream: MyUpstream) -> Iterator[MyGateway]:
    up = mysql_upstream
    admin = my_admin(up.database)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), secret_col VARCHAR(50), n INT)")
        cur.execute("INSERT INTO items SELECT seq, CONCAT('item ', seq), CONCAT('s', seq), seq FROM seq_1_to_20")
        cur.execute("CREATE TABLE loaded (id INT, v VARCHAR(20))")
        cur.execute("CREATE TABLE bystander (v INT)")
        cur.execute("CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))")
    admin.close()
    tmp = tmp_path_factory.mktemp("mysql_gateway")
    marker = f"local-file-{secrets.token_hex(8)}"
    spy_file = tmp / "private.csv"
    spy_file.write_text(f"1,{marker}\n")
    trap, spy = CountingListener(), SpyUpstream(str(spy_file))
    connections = [
        _conn("nofiles", up, policy="nofiles"),
        _conn("dba_only", up, allow=["alice"]),
        {"name": "trap", "protocol": "mysql", "upstream": f"127.0.0.1:{trap.port}", "username": "x",
         "password": "${ICP_TEST_MYSQL_PASSWORD}", "tls": "disable", "policy": "default"},
        {"name": "down", "protocol": "mysql", "upstream": f"127.0.0.1:{free_port()}", "username": "x",
         "password": "${ICP_TEST_MYSQL_PASSWORD}", "tls": "disable", "policy": "default"},
        {"name": "pgonly", "protocol": "postgres", "upstream": f"127.0.0.1:{trap.port}", "username": "x",
         "password": "${ICP_TEST_MYSQL_PASSWORD}", "policy": "default"},
        {"name": "spy", "protocol": "mysql", "upstream": f"127.0.0.1:{spy.port}", "database": "spydb",
         "username": "spy_user", "password": "${ICP_TEST_MYSQL_PASSWORD}", "tls": "disable", "policy": "default"},
    ]  # fmt: skip
    policies = {
        "default": {"unknown": "allow"},
        "nofiles": {"unknown": "allow", "block": [{"effect": ["file_read"], "reason": "no file reads here"}]},
    }
    gw = make_gateway(
        tmp, None, connections=connections, mysql=up, plugins=["icp_test_plugins:TestPolicy"],
        extra={"policies": policies, "limits": {"max_message_size": MAX_MESSAGE}},
    )  # fmt: skip
    gw.start()
    try:
        yield MyGateway(gw, up, trap, spy, spy_file, marker)
    finally:
        gw.stop()
        trap.close()
        spy.close()
    # whatever the tests did to it, the gateway never failed in a way it did not handle
    assert "Traceback" not in gw.log(), gw.log()
