"""Settings that would make the server read statements differently from the gateway's classifier: refused at
login (a character set), or the session ends when the server reports one (NO_BACKSLASH_ESCAPES)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.conftest import GatewayProcess, MyUpstream, make_gateway, need


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mysql_upstream: MyUpstream) -> Iterator[GatewayProcess]:
    # no blocking plugin, so a SET sql_mode reaches the server and the relay's own guard has to act
    g = make_gateway(tmp_path_factory.mktemp("mysql-parser"), None, mysql=mysql_upstream,
                     extra={"disabled_plugins": ["blocking"]})  # fmt: skip
    g.start()
    yield g
    g.stop()


@pytest.mark.parametrize("charset", ["sjis", "gbk", "big5"])
def test_a_login_in_a_backslash_hiding_charset_is_refused(gw: GatewayProcess, charset: str) -> None:
    mariadb = need("mariadb")
    cmd = [mariadb, "--ssl", "-h127.0.0.1", f"-P{gw.mysql_port}", "-ubot", f"-p{gw.tokens['bot']}",
           f"--default-character-set={charset}", "shop", "-e", "select 1"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "ERROR 1115" in r.stderr and "is refused" in r.stderr
    ok = subprocess.run([*cmd[:6], "--default-character-set=utf8mb4", "shop", "-e", "select 1"],
                        capture_output=True, text=True, timeout=30)  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_no_backslash_escapes_ends_the_session(gw: GatewayProcess) -> None:
    c = gw.mysql_connect()
    with c.cursor() as cur:
        cur.execute("select 1")
        with pytest.raises(pymysql.err.OperationalError) as e:
            cur.execute("set sql_mode = 'NO_BACKSLASH_ESCAPES'")
            cur.execute("select 'a\\\\'")  # never reaches the server: the session ended with the SET's answer
    assert e.value.args[0] in (1927, 2013)  # the gateway's ERR, or the closed connection behind it
    assert "NO_BACKSLASH_ESCAPES" in str(e.value) or e.value.args[0] == 2013
    c.close()
    with gw.mysql_connect() as c2, c2.cursor() as cur:  # a new session has the server's default mode again
        cur.execute("select @@sql_mode like '%NO_BACKSLASH_ESCAPES%'")
        assert cur.fetchone() == (0,)
    assert "parser setting changed" in Path(gw.log_path).read_text()
