"""Stores to test against: a SQLite file in a temporary folder, and a throwaway database on the local PostgreSQL."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from interceptor.store import ApprovalRequest, Store, open_store
from tests.conftest import PG_HOST, PG_PORT, PG_SUPERUSER, pg_admin


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def pg_state_url() -> Iterator[str]:
    """A fresh database for the PostgreSQL store, dropped at the end."""
    try:
        admin = pg_admin()
    except psycopg.OperationalError as e:
        pytest.fail(f"the local PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {e}")
    name = f"icp_state_{secrets.token_hex(4)}"
    admin.execute(f"create database {name}")
    try:
        yield f"postgresql://{PG_SUPERUSER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        time.sleep(0.1)
        admin.execute(f"drop database if exists {name}")
        admin.close()


StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'state.db'}"
        return
    url: str = request.getfixturevalue("pg_state_url")
    yield url
    with psycopg.connect(url, autocommit=True) as c:  # each test starts from an empty table
        c.execute("drop table if exists interceptor_approvals")


@pytest.fixture
def open_one(store_url: str, clock: FakeClock) -> Iterator[StoreFactory]:
    """Opens stores on the same backend (each its own connection), closed after the test."""
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(store_url, clock=clock)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_one: StoreFactory) -> Store:
    return open_one()


def new_request(clock: FakeClock, timeout: float = 60.0, **kw: str) -> ApprovalRequest:
    values = {
        "requester": "bot",
        "requester_kind": "agent",
        "session_id": "s-1",
        "connection": "orders",
        "protocol": "postgres",
        "statement": "DELETE FROM orders WHERE id = 1",
        "reason": "deletes need a DBA",
        "rule": "deletes",
    }
    values.update(kw)
    return ApprovalRequest.new(created_at=clock(), timeout=timeout, approvers=("group:dba", "carol"), **values)
