"""``interceptor demo``: a working gateway on embedded defaults, in one command.

It finds the local PostgreSQL (or, when PostgreSQL's binaries are installed but no server answers, starts a
throwaway cluster with initdb), seeds a demo database with sample customer data, writes a config with a demo
token, prints the psql line to try, and runs the gateway in the foreground. When a local MariaDB/MySQL answers
the ``mariadb`` client as root, it is seeded the same way and served too (connection ``demo_mysql``).
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from interceptor.identity import hash_token, new_token

DEMO_DB = "interceptor_demo"
DEMO_ROLE = "interceptor_demo"
SEED = f"""
create table if not exists customers (
    id int primary key, name text not null, email text, ssn text, card_number text, city text);
insert into customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', '4111111111111111', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', '5500005555555559', 'Wilmslow'),
    (3, 'Grace Hopper', 'grace@example.net', '078-05-1120', '340000000000009', 'Arlington'),
    (4, 'Edsger Dijkstra', 'edsger@example.nl', '219-09-9999', '6011000000000004', 'Nuenen')
on conflict (id) do nothing;
grant select, insert, update, delete on customers to {DEMO_ROLE};
"""


def _psql(host: str, port: int, user: str, db: str, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run SQL through psql on stdin (never in argv, where ``ps`` would show a password)."""
    env = dict(os.environ, PGCONNECT_TIMEOUT="3")
    env.pop("PGPASSWORD", None)
    return subprocess.run(
        ["psql", "-h", host, "-p", str(port), "-U", user, "-d", db, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=sql, capture_output=True, text=True, env=env, check=check, timeout=30,
    )  # fmt: skip


def _find_superuser(host: str, port: int) -> str | None:
    for user in ("postgres", os.environ.get("USER", "root"), "root"):
        if _psql(host, port, user, "postgres", "select 1", check=False).returncode == 0:
            return user
    return None


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _throwaway_cluster(port: int) -> tuple[str, int, str]:
    """initdb + pg_ctl start a private cluster on ``port``; returns (host, port, superuser)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise SystemExit("no PostgreSQL answers on 127.0.0.1:5432 and initdb is not installed")
    base = Path(tempfile.mkdtemp(prefix="interceptor-demo-pg-"))
    run_as: list[str] = []
    user = os.environ.get("USER", "postgres")
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        run_as, user = ["runuser", "-u", "postgres", "--"], "postgres"
    data = base / "data"
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", user], check=True, capture_output=True)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"], check=True)
    print(f"started a throwaway PostgreSQL in {data} on port {port} (stop it: pg_ctl -D {data} stop)")
    return "127.0.0.1", port, user


MY_SEED = f"""
create database if not exists {DEMO_DB};
create table if not exists {DEMO_DB}.customers (
    id int primary key, name text not null, email text, ssn text, card_number text, city text);
insert ignore into {DEMO_DB}.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', '4111111111111111', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', '5500005555555559', 'Wilmslow'),
    (3, 'Grace Hopper', 'grace@example.net', '078-05-1120', '340000000000009', 'Arlington'),
    (4, 'Edsger Dijkstra', 'edsger@example.nl', '219-09-9999', '6011000000000004', 'Nuenen');
"""


def _mysql_demo(password: str) -> bool:
    """Seed the local MariaDB/MySQL (as root, through the ``mariadb`` client) if there is one; True if done."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        return False
    users = "".join(
        f"create user if not exists '{DEMO_ROLE}'@'{h}' identified by '{password}';"
        f"alter user '{DEMO_ROLE}'@'{h}' identified by '{password}';"
        f"grant select, insert, update, delete on {DEMO_DB}.* to '{DEMO_ROLE}'@'{h}';"
        for h in ("127.0.0.1", "localhost")
    )
    try:  # the SQL (with the password) goes on stdin, never in argv
        done = subprocess.run([client, "-uroot"], input=MY_SEED + users, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def run_demo(args: argparse.Namespace) -> int:
    demo = Path(args.dir).resolve()
    demo.mkdir(parents=True, exist_ok=True)
    host, port = "127.0.0.1", 5432
    superuser = _find_superuser(host, port)
    if superuser is None:
        host, port, superuser = _throwaway_cluster(55432)
        for _ in range(50):
            if _find_superuser(host, port):
                break
            time.sleep(0.2)

    pw_file = demo / "upstream.password"
    if not pw_file.exists():
        pw_file.touch(mode=0o600)
        pw_file.write_text(secrets.token_urlsafe(24))
    password = pw_file.read_text().strip()
    known = _psql_value(host, port, superuser, f"select count(*) from pg_roles where rolname = '{DEMO_ROLE}'")
    verb = "alter" if known != "0" else "create"
    _psql(host, port, superuser, "postgres", f"{verb} role {DEMO_ROLE} login password '{password}'")
    if _psql_value(host, port, superuser, f"select count(*) from pg_database where datname = '{DEMO_DB}'") == "0":
        _psql(host, port, superuser, "postgres", f"create database {DEMO_DB}")
    _psql(host, port, superuser, DEMO_DB, SEED)

    mysql = _mysql_demo(password)

    token_file = demo / "demo.token"
    if not token_file.exists():
        token_file.touch(mode=0o600)
        token_file.write_text(new_token())
    token = token_file.read_text().strip()
    config = demo / "interceptor.yaml"
    config.write_text(
        f"""# written by `interceptor demo`; see docs/configuration.md
listen: {{postgres: 127.0.0.1:{args.port}{f", mysql: 127.0.0.1:{args.mysql_port}" if mysql else ""}}}
data_dir: {demo / "var"}
identities:
  - {{name: demo, kind: agent, groups: [agents], token_hash: "{hash_token(token, 10)}"}}
connections:
  - name: demo
    protocol: postgres
    upstream: {host}:{port}
    database: {DEMO_DB}
    username: {DEMO_ROLE}
    password: file:upstream.password
    tls: prefer
    policy: agents
{MYSQL_CONNECTION.format(db=DEMO_DB, role=DEMO_ROLE) if mysql else ""}policies:
  agents:
    unknown: deny
    allow_effects: [select, show, explain, set, transaction]
    block:
      - id: no-ddl
        effect: [create, alter, drop, truncate, grant, revoke]
        reason: "the demo agent may not change the schema"
      - id: no-server-side-effects
        effect: [program, file_read, file_write, admin]
        reason: "no server files or programs"
    mask:
      columns: [customers.ssn]
      detect: [credit_card, email]
      strategy: partial
log: {{level: info, format: text}}
"""
    )
    print(f"\nconfig: {config}")
    print(f"demo token (identity 'demo'): {token}\n")
    print("try it:")
    print(f"  PGPASSWORD={token} psql 'host=127.0.0.1 port={args.port} user=demo dbname=demo sslmode=require'")
    print("  then: select * from customers;       -- cards, SSNs and emails come back masked")
    print("        drop table customers;          -- refused by the policy, the table stays")
    if mysql:
        print(f"  or: mariadb -h 127.0.0.1 -P {args.mysql_port} -u demo -p{token} --ssl demo_mysql")
    print(f"  afterwards: interceptor sessions -c {config}   (and: replay ID, audit verify)\n")
    if args.setup_only:
        return 0
    from interceptor.service import serve

    return serve(config)


MYSQL_CONNECTION = """  - name: demo_mysql
    protocol: mysql
    upstream: 127.0.0.1:3306
    database: {db}
    username: {role}
    password: file:upstream.password
    tls: prefer
    policy: agents
"""


def _psql_value(host: str, port: int, user: str, sql: str) -> str:
    env = dict(os.environ, PGCONNECT_TIMEOUT="3")
    out = subprocess.run(
        ["psql", "-h", host, "-p", str(port), "-U", user, "-d", "postgres", "-X", "-A", "-t", "-c", sql],
        capture_output=True, text=True, env=env, check=True, timeout=30,
    )  # fmt: skip
    return out.stdout.strip()
