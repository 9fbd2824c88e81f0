"""Tests for protocols/postgres/tracker.py: which client message each upstream answer belongs to."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interceptor.model import Column, Command, CommandKind, Verdict
from interceptor.protocols.postgres.tracker import (
    BIND,
    CALL,
    CLOSE,
    DESCRIBE_P,
    DESCRIBE_S,
    EXECUTE,
    PARSE,
    QUERY,
    SYNC,
    Tracker,
    TrackerError,
)

KINDS = [QUERY, PARSE, BIND, DESCRIBE_S, DESCRIBE_P, EXECUTE, CLOSE, SYNC, CALL]


def cmd(text: str, seq: int = 1, kind: CommandKind = CommandKind.QUERY) -> Command:
    return Command("s1", seq, kind, text, "postgres")


def kinds(t: Tracker) -> list[int]:
    return [e.kind for e in t.queue]


def test_push_and_pop_in_order() -> None:
    t = Tracker()
    assert t.head is None
    q = cmd("select 1")
    denied = Verdict.deny("no")
    t.push(QUERY, q)
    t.push(PARSE, cmd("select 2", 2, CommandKind.PREPARE), name="s1", denied=denied)
    t.push(SYNC)
    assert t.head is not None and t.head.command is q
    first = t.pop(QUERY)
    assert (first.kind, first.command, first.name, first.denied) == (QUERY, q, "", None)
    second = t.pop(PARSE, BIND)
    assert (second.kind, second.name, second.denied) == (PARSE, "s1", denied)
    assert t.ready().kind == SYNC
    assert t.head is None and not t.queue


def test_pop_of_the_wrong_kind_raises_and_keeps_the_queue() -> None:
    t = Tracker()
    t.push(PARSE)
    with pytest.raises(TrackerError, match="out of turn"):
        t.pop(BIND, EXECUTE)
    assert kinds(t) == [PARSE]
    with pytest.raises(TrackerError):
        Tracker().pop(QUERY)


@given(st.lists(st.sampled_from(KINDS), max_size=20))
def test_pops_come_out_in_push_order(pushed: list[int]) -> None:
    t = Tracker()
    for i, kind in enumerate(pushed):
        t.push(kind, name=str(i))
    popped = [t.pop(kind) for kind in pushed]
    assert [(e.kind, e.name) for e in popped] == [(k, str(i)) for i, k in enumerate(pushed)]
    assert t.head is None


@pytest.mark.parametrize("kind", [QUERY, SYNC, CALL])
def test_ready_ends_a_query_a_sync_or_a_call(kind: int) -> None:
    t = Tracker()
    t.push(kind)
    t.push(QUERY)
    assert t.ready().kind == kind
    assert kinds(t) == [QUERY]


@pytest.mark.parametrize("kind", [PARSE, BIND, DESCRIBE_S, DESCRIBE_P, EXECUTE, CLOSE])
def test_ready_with_a_non_sync_head_raises(kind: int) -> None:
    t = Tracker()
    t.push(kind)
    t.push(SYNC)
    with pytest.raises(TrackerError):
        t.ready()
    assert kinds(t) == [kind, SYNC]


def test_ready_with_nothing_pending_raises() -> None:
    with pytest.raises(TrackerError):
        Tracker().ready()


def test_error_in_an_extended_batch_skips_to_sync() -> None:
    t = Tracker()
    for kind in (PARSE, BIND, DESCRIBE_P, EXECUTE, SYNC, PARSE, SYNC):
        t.push(kind)
    t.pop(PARSE)
    answered = t.error()  # the Bind failed
    assert answered is not None and answered.kind == BIND
    assert kinds(t) == [SYNC, PARSE, SYNC], "Describe and Execute were skipped by the server, not the Sync"
    assert t.ready().kind == SYNC
    assert kinds(t) == [PARSE, SYNC], "the next batch is untouched"


def test_error_on_the_last_message_before_sync() -> None:
    t = Tracker()
    t.push(EXECUTE, name="last")
    t.push(SYNC)
    answered = t.error()
    assert answered is not None and answered.name == "last"
    assert kinds(t) == [SYNC]


def test_error_without_a_sync_empties_the_queue() -> None:
    t = Tracker()
    for kind in (PARSE, BIND, EXECUTE):
        t.push(kind)
    assert t.error() is not None
    assert t.head is None


@pytest.mark.parametrize("kind", [QUERY, CALL, SYNC])
def test_error_on_a_sync_point_keeps_it_until_ready(kind: int) -> None:
    t = Tracker()
    q = cmd("select 1/0")
    t.push(kind, q)
    t.push(PARSE)
    answered = t.error()
    assert answered is not None and answered.command is q
    assert kinds(t) == [kind, PARSE], "a Query still waits for its ReadyForQuery"
    assert t.ready().command is q
    assert kinds(t) == [PARSE]


def test_error_with_nothing_pending() -> None:
    assert Tracker().error() is None


@given(st.lists(st.sampled_from([PARSE, BIND, DESCRIBE_S, DESCRIBE_P, EXECUTE, CLOSE, SYNC]), min_size=1))
def test_error_in_a_batch_leaves_the_queue_from_the_next_sync(pushed: list[int]) -> None:
    t = Tracker()
    for i, kind in enumerate(pushed):
        t.push(kind, name=str(i))
    head = t.error()
    assert head is not None and head.name == "0"
    if pushed[0] == SYNC:
        assert len(t.queue) == len(pushed)
        return
    rest = pushed[1:]
    start = rest.index(SYNC) + 1 if SYNC in rest else len(pushed)
    assert [e.name for e in t.queue] == [str(i) for i in range(start, len(pushed))]
    assert t.head is None or t.head.kind == SYNC


def test_portal_statement_command_lookups() -> None:
    t = Tracker()
    prepared = cmd("select * from users where id = $1", kind=CommandKind.PREPARE)
    t.statements["stmt"] = prepared
    t.portals["portal"] = "stmt"
    t.portals["orphan"] = "gone"
    assert t.command_for_execute("portal") is prepared
    assert t.command_for_execute("orphan") is None
    assert t.command_for_execute("nope") is None
    # unnamed statement and portal are "" and work like any other name
    unnamed = cmd("select 2", kind=CommandKind.PREPARE)
    t.statements[""] = unnamed
    t.portals[""] = ""
    assert t.command_for_execute("") is unnamed


def test_columns_prefer_the_portal_then_its_statement() -> None:
    t = Tracker()
    stmt_cols = (Column("id", 0), Column("email", 1))
    portal_cols = (Column("id", 0, binary=True),)
    t.portals["p"] = "s"
    t.statement_columns["s"] = stmt_cols
    assert t.columns_for_execute("p") == stmt_cols
    t.portal_columns["p"] = portal_cols
    assert t.columns_for_execute("p") == portal_cols
    assert t.columns_for_execute("unknown") is None  # never described: the relay describes it itself
    t.portals["q"] = "undescribed"
    assert t.columns_for_execute("q") is None
    t.portal_columns["empty"] = ()
    t.portals["empty"] = "s"
    assert t.columns_for_execute("empty") == (), "a portal described as returning no columns is not its statement"


def test_describing_sees_a_describe_of_the_portal_or_its_statement_on_its_way() -> None:
    t = Tracker()
    t.portals["p"] = "s"
    assert not t.describing("p")
    t.push(DESCRIBE_S, None, "s")
    assert t.describing("p")
    t.queue.clear()
    t.push(DESCRIBE_P, None, "other")
    assert not t.describing("p")
    t.push(DESCRIBE_P, None, "p")
    assert t.describing("p")
