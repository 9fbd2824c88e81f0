"""What only the SQLite store does: its file (created 0600 with its folder, WAL mode) and its failures.
The Store contract itself is in test_store.py, run against SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from interceptor.store import SqliteStore, StoreUnavailable, open_store
from tests.interceptor.store.conftest import FakeClock, new_request


def test_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.db"
    store = open_store(f"sqlite:///{path}")
    assert isinstance(store, SqliteStore)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as c:
        assert c.execute("pragma journal_mode").fetchone() == ("wal",)
    store.close()


def test_create_false_does_not_create(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no state store at"):
        open_store(f"sqlite:///{tmp_path / 'state.db'}", create=False)
    assert not (tmp_path / "state.db").exists()


def test_existing_file_is_reused(tmp_path: Path) -> None:
    clock = FakeClock()
    first = open_store(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    req = first.create_approval(new_request(clock))
    first.close()
    again = open_store(f"sqlite:///{tmp_path / 'state.db'}", create=False, clock=clock)
    assert again.get(req.id) == req
    again.close()


def test_memory_store() -> None:
    clock = FakeClock()
    store = open_store("sqlite:///:memory:", clock=clock)
    req = store.create_approval(new_request(clock))
    assert store.get(req.id).statement == req.statement


def test_unusable_folder_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(StoreUnavailable, match="cannot open the state store"):
        open_store(f"sqlite:///{tmp_path / 'afile' / 'state.db'}")


def test_not_a_database_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailable, match="state store"):
        open_store(f"sqlite:///{tmp_path / 'state.db'}")
