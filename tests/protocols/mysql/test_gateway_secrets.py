"""The upstream password is a canary: after logins, errors and queries over both client paths, it must appear in
no client error, no log line (at debug level), no ``ps`` output and no file under the data dir."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import mysql.connector
import pymysql
import pytest
import yaml

from tests.conftest import MyUpstream, make_gateway
from tests.protocols.mysql.conftest import MyGateway

pytestmark = pytest.mark.mysql


def test_canary_password_never_travels(tmp_path: Path, mysql_upstream: MyUpstream, mysql_gateway: MyGateway) -> None:
    canary = mysql_upstream.password
    gw = make_gateway(tmp_path, None, mysql=mysql_upstream, plugins=["icp_test_plugins:TestPolicy"])
    (tmp_path / "pw").write_text(canary + "\n")
    cfg = yaml.safe_load(gw.config_path.read_text())
    shop = next(c for c in cfg["connections"] if c["name"] == "shop")
    cfg["connections"] += [
        dict(shop, name="viafile", password="file:pw"),
        dict(shop, name="missing", password="${ICP_NOT_SET_ANYWHERE}"),
        dict(shop, name="badpw", password="${ICP_BAD_PASSWORD}"),
    ]
    gw.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    gw.env["ICP_BAD_PASSWORD"] = "not-" + canary[::-1]
    gw.start()
    seen: list[str] = []
    try:
        for kw in ({"ssl_disabled": True}, {"ssl": {"check_hostname": False, "verify_mode": ssl.CERT_NONE}}):
            with gw.mysql_connect(**kw) as conn, conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                for bad in ("SELECT * FROM no_such_table", "SELECT 'forbidden_marker'", "SET PASSWORD = 'x'"):
                    with pytest.raises(pymysql.err.MySQLError) as exc:
                        cur.execute(bad)
                    seen.append(str(exc.value))
        with gw.mysql_connect(connection="viafile") as conn, conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].split("@")[0] == mysql_upstream.user
        for name in ("missing", "badpw"):
            with pytest.raises(pymysql.err.MySQLError) as exc:
                gw.mysql_connect(connection=name)
            seen.append(str(exc.value))
        with pytest.raises(mysql.connector.Error) as cexc:
            mysql.connector.connect(host=gw.host, port=gw.mysql_port, user="bot", password=gw.tokens["bot"],
                                    database="badpw", connection_timeout=10)  # fmt: skip
        seen.append(str(cexc.value))
        with pytest.raises(pymysql.err.MySQLError) as exc:
            gw.mysql_connect(token="wrong")
        seen.append(str(exc.value))
        ps = subprocess.run(["ps", "auxww"], capture_output=True, text=True, check=True).stdout
    finally:
        gw.stop()
    assert "1429" in seen[-4] and "the credential for connection 'missing' is unavailable" in seen[-4]
    assert "1429" in seen[-3] and "upstream login failed for connection 'badpw' (server error 1045)" in seen[-3]
    assert "server error 1045" in gw.log()  # the server's refusal is logged (with its detail) ...
    places = {"client errors": "\n".join(seen), "ps output": ps, "gateway log": gw.log()}
    for path in gw.data_dir.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    places["session gateway log"] = mysql_gateway.gw.log()
    for path in mysql_gateway.gw.data_dir.rglob("*"):
        if path.is_file():
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for name, text in places.items():  # ... but the password never is
        assert canary not in text, f"the canary password leaked into {name}"
    assert any("recordings" in name for name in places)  # the recordings were written, and searched
    assert (gw.data_dir / "audit.jsonl").exists()
