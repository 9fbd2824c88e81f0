"""What only the PostgreSQL store does: replicas opening it together, and a connection that breaks.
The Store contract itself is in test_store.py, run against SQLite and PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from interceptor.store import PostgresStore, Store, StoreUnavailable, open_store
from tests.interceptor.store.conftest import FakeClock, new_request
from tests.interceptor.store.test_store import _race


@pytest.fixture
def pg_url(pg_state_url: str) -> str:
    with psycopg.connect(pg_state_url, autocommit=True) as c:
        c.execute("drop table if exists interceptor_approvals")
    return pg_state_url


def test_replicas_starting_together_share_one_table(pg_url: str) -> None:
    results = _race(4, lambda _i: open_store(pg_url))
    assert all(isinstance(s, PostgresStore) for s in results), results
    clock = FakeClock()
    req = results[0].create_approval(new_request(clock))
    assert all(s.get(req.id) == req for s in results)
    for s in results:
        s.close()


def test_broken_connection_fails_once_then_reconnects(pg_url: str) -> None:
    clock = FakeClock()
    store: Store = open_store(pg_url, clock=clock)
    req = store.create_approval(new_request(clock))
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database()"
            " and pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailable, match="state store postgresql://"):
        store.get(req.id)
    assert store.get(req.id) == req
    store.close()


def test_unreachable_database_is_store_unavailable(pg_url: str) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        open_store(pg_url.rsplit("/", 1)[0] + "/icp_no_such_database")
