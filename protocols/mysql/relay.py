"""Both legs of one logged-in MySQL/MariaDB session: each client command through the plugin pipeline, each server
packet through the response tracker, results through the compiled rewriter and the observers.

Client → upstream. Commands are taken one at a time: while a command's response is arriving (or a held command
waits for its approval) later packets wait in a backlog, so a gateway answer (a deny) is never out of order.

* COM_QUERY and COM_STMT_PREPARE are checked with their text (``Command`` kinds QUERY and PREPARE); the
  classifier reads every statement of a multi-statement text whether or not MULTI_STATEMENTS is on, and the
  relay records that setting (the capability, then COM_SET_OPTION) in ``Command.detail``.
* COM_STMT_EXECUTE, FETCH, SEND_LONG_DATA, RESET and CLOSE must name a statement prepared (and allowed) in this
  session; EXECUTE and FETCH results belong to the PREPARE's command. An unknown statement gets ERR 1243.
* COM_INIT_DB is checked as ``USE `db```; the connection's own name stands for its upstream database.
* COM_CHANGE_USER is refused (reconnect as the other identity); so is every command the gateway does not know.
* LOAD DATA LOCAL: the server's file request reaches the client only when the allowed statement is a LOAD DATA
  LOCAL that names that very file; any other request ends the session (a server must not read a client's files
  uninvited, nor swap the file the client named for another).

Upstream → client. Packets are forwarded as their original bytes; a row is decoded only while a plugin
rewrites or observes results. Binary (prepared-statement) rows are shown to plugins in the text protocol's form,
so column rules and value detectors work the same for both; a masked value that is no longer a value of its
column's type (a masked number, in either protocol) becomes NULL. Error messages go through the message
rewriter. A server status with NO_BACKSLASH_ESCAPES ends the session: the classifier would read later string
literals differently.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.model import Action, Command, CommandKind, ResultObserver, RowRewriter, Session, Verdict
from interceptor.protocols.send import send
from interceptor.sql import classify_command

from .binary import STRING_TYPES, FieldType, binary_to_text, text_to_binary
from .commands import ComQuery
from .generic import EOFPacket, ERRPacket, OKPacket
from .packets import MAX_PAYLOAD, PacketReader, join_payload, split_payload
from .responses import Expect, Kind, ResponseReader, to_model_columns
from .results import LocalInfileRequest, decode_binary_row, decode_text_row, encode_binary_row, encode_text_row
from .wire import Capability, CommandByte, ProtocolError, ServerStatus, to_bytes, to_text

if TYPE_CHECKING:
    from .client import ClientProtocol
    from .upstream import UpstreamProtocol

log = Logger(namespace="interceptor.mysql.relay")

B = CommandByte
_STATEMENT_CMDS: dict[int, Expect] = {
    B.STMT_EXECUTE: Expect.EXECUTE, B.STMT_FETCH: Expect.FETCH, B.STMT_SEND_LONG_DATA: Expect.NONE,
    B.STMT_RESET: Expect.SIMPLE, B.STMT_CLOSE: Expect.NONE,
}  # fmt: skip
_PLAIN_CMDS: dict[int, Expect] = {
    B.PING: Expect.SIMPLE, B.STATISTICS: Expect.STATISTICS, B.FIELD_LIST: Expect.FIELD_LIST,
    B.RESET_CONNECTION: Expect.SIMPLE, B.SET_OPTION: Expect.SIMPLE,
}  # fmt: skip
_DECIMALS = frozenset({FieldType.DECIMAL, FieldType.NEWDECIMAL})
_FREE_TEXT = STRING_TYPES - _DECIMALS  # any bytes are a value of these (masking may put any text there)
_DECIMAL = re.compile(rb"-?\d+(\.\d+)?")
_LAST_PREPARED = 0xFFFFFFFF  # MariaDB: "the statement prepared last"
ER_UNKNOWN_STMT_HANDLER = 1243
ER_NOT_SUPPORTED = 1235
ER_DENIED = 1227  # ER_SPECIFIC_ACCESS_DENIED_ERROR: what a client shows as "access denied"
#: an approved prepared statement executed a second time (the approval covered one execution)
ONCE = Verdict.deny(
    "the approval of this prepared statement covered one execution; prepare it again to ask for another",
    rule="approval-once",
)


def deny_packet(verdict: Verdict) -> ERRPacket:
    rule = f" [rule {verdict.rule}]" if verdict.rule else ""
    return ERRPacket(ER_DENIED, "42000", f"interceptor: {verdict.reason or 'denied by policy'}{rule}")


class _Result:
    """One result set on its way to the client, for the plugins that rewrite or observe it (built once)."""

    __slots__ = ("binary", "count", "observers", "rewrite", "types", "unsigned")

    def __init__(self, defs: Sequence[Any], binary: bool, rewrite: RowRewriter | None, observers: list[Any]) -> None:
        self.binary = binary
        self.types = [d.type for d in defs]
        self.unsigned = [d.unsigned for d in defs]
        self.rewrite = rewrite
        self.observers: list[ResultObserver] = observers
        self.count = 0

    def row(self, payload: bytes) -> bytes | None:
        """A row's payload in; the new payload out, or None to forward the original bytes."""
        self.count += 1
        values: Sequence[bytes | None]
        if self.binary:
            raw = decode_binary_row(payload, self.types)
            types, unsigned = self.types, self.unsigned
            values = [None if v is None else binary_to_text(v, types[i], unsigned[i]) for i, v in enumerate(raw)]
        else:
            values = decode_text_row(payload, len(self.types))
        new = self.rewrite(values) if self.rewrite is not None else None
        if new is not None:
            values = new
        for o in self.observers:
            o.row(values)
        if new is None:
            return None
        if not self.binary:
            types, unsigned = self.types, self.unsigned
            return encode_text_row([_text_value(v, types[i], unsigned[i]) for i, v in enumerate(new)])
        types, unsigned = self.types, self.unsigned
        return encode_binary_row([_to_binary(v, types[i], unsigned[i]) for i, v in enumerate(new)], types)

    def done(self, status: str) -> None:
        for o in self.observers:
            o.done(status, self.count)


def _text_value(value: bytes | None, field_type: int, unsigned: bool) -> bytes | None:
    """A (rewritten) text-protocol value, or None when it is no longer a value of its column's type."""
    if value is None or field_type in _FREE_TEXT:
        return value
    if field_type in _DECIMALS:
        return value if _DECIMAL.fullmatch(value) else None
    return value if _to_binary(value, field_type, unsigned) is not None else None


def _to_binary(value: bytes | None, field_type: int, unsigned: bool) -> bytes | None:
    if value is None:
        return None
    try:
        return text_to_binary(value, field_type, unsigned)
    except (ValueError, OverflowError, struct.error):
        return None  # a masked value that is no longer a value of this type: withheld as NULL


class _Statement:
    __slots__ = ("command", "once", "used")

    def __init__(self, command: Command, once: bool) -> None:
        self.command = command
        self.once = once  # approved by review: the approval covers one execution
        self.used = False


class Relay:
    def __init__(
        self, gateway: Any, session: Session, client: ClientProtocol, upstream: UpstreamProtocol, caps: int
    ) -> None:
        self.gateway = gateway
        self.pipeline = gateway.pipeline
        self.session = session
        self.client = client
        self.upstream = upstream
        self.caps = caps
        self.reader = PacketReader(gateway.config.limits.max_message_size)
        self.responses = ResponseReader(caps)
        self.multi = bool(caps & Capability.MULTI_STATEMENTS)
        self.text = self.pipeline.message_rewriter(session)  # raises when a plugin fails: the session is refused
        self.wants = self.pipeline.rewrites or self.pipeline.observes
        self.statements: dict[int, _Statement] = {}
        self.current: Command | None = None
        self.result: _Result | None = None
        self.busy = False
        self.infile = False  # forwarding the client's LOCAL INFILE data
        self._last_prepared: int | None = None
        self._holding = False
        self._approved: dict[int, bool] = {}  # PREPARE commands (by seq) approved by review
        self._backlog: deque[tuple[int, bytes, bytes]] = deque()
        self._seq = 0
        self.closed = False
        self.last_activity = gateway.reactor.seconds()

    # -- client → upstream -------------------------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        self.last_activity = self.gateway.reactor.seconds()
        if self.closed:
            return
        try:
            buf, packets = self.reader.feed_offsets(data)
        except ProtocolError as e:
            self.close("protocol error", ERRPacket(1153, "08S01", f"malformed packet from the client: {e}"), 0)
            return
        for seq, start, end in packets:
            raw = buf[start:end]
            payload = raw[4:] if end - start - 4 < MAX_PAYLOAD else join_payload(raw)
            if self.infile:
                send(self.upstream.transport, raw)
                if not payload:
                    self.infile = False
                    self.responses.infile_answered()
                continue
            if self.busy or self._holding or self._backlog:
                self._backlog.append((seq, payload, raw))
                continue
            self._command(seq, payload, raw)
            if self.closed:
                return

    def _drain_backlog(self) -> None:
        while self._backlog and not (self.busy or self._holding or self.closed):
            self._command(*self._backlog.popleft())

    def _new(self, kind: CommandKind, text: str, **detail: Any) -> Command:
        self._seq += 1
        return Command(self.session.id, self._seq, kind, text, "mysql", detail)

    def _command(self, seq: int, payload: bytes, raw: bytes) -> None:
        if seq != 0 or not payload:
            why = "an empty command" if not payload else f"a command with sequence id {seq}, expected 0"
            self.close("protocol error", ERRPacket(1835, "08S01", f"malformed packet: {why}"), 0)
            return
        cmd = payload[0]
        try:
            if cmd == B.QUERY:
                text = ComQuery.decode(payload, self.caps).query
                self._check(self._new(CommandKind.QUERY, text, multi_statements=self.multi), raw, Expect.QUERY)
            elif cmd == B.STMT_PREPARE:
                self._check(self._new(CommandKind.PREPARE, to_text(payload[1:])), raw, Expect.PREPARE)
            elif cmd in _STATEMENT_CMDS:
                self._statement_command(cmd, payload, raw)
            elif cmd == B.INIT_DB:
                self._init_db(to_text(payload[1:]))
            elif cmd in _PLAIN_CMDS:
                if cmd == B.SET_OPTION and len(payload) == 3:
                    self.multi = payload[1:3] == b"\x00\x00"  # MYSQL_OPTION_MULTI_STATEMENTS_ON
                if cmd == B.RESET_CONNECTION:
                    self.statements.clear()
                self._forward(None, raw, _PLAIN_CMDS[cmd])
            elif cmd == B.QUIT:
                send(self.upstream.transport, raw)  # the server ends the session cleanly (not "aborted")
                self.close("client quit", None, 0)
            elif cmd == B.CHANGE_USER:
                self._answer(ERRPacket(ER_NOT_SUPPORTED, "42000", "interceptor: COM_CHANGE_USER is not supported;"
                                       " reconnect as the other identity"))  # fmt: skip
            else:
                name = B(cmd).name if cmd in B._value2member_map_ else f"0x{cmd:02x}"
                self._answer(ERRPacket(ER_NOT_SUPPORTED, "42000", f"interceptor: COM_{name} is not supported"))
        except ProtocolError as e:
            self._answer(ERRPacket(e.errno, e.sqlstate, f"malformed command: {e}"))

    def _statement_command(self, cmd: int, payload: bytes, raw: bytes) -> None:
        if len(payload) < 5:
            raise ProtocolError("a statement command without a statement id", 1835, "08S01")
        sid = int.from_bytes(payload[1:5], "little")
        if sid == _LAST_PREPARED and self._last_prepared is not None:
            sid = self._last_prepared
        found = self.statements.get(sid)
        if found is None:
            if _STATEMENT_CMDS[cmd] != Expect.NONE:  # CLOSE and SEND_LONG_DATA get no answer
                self._answer(ERRPacket(ER_UNKNOWN_STMT_HANDLER, "HY000", f"Unknown prepared statement handler ({sid})"))
            return
        if cmd == B.STMT_CLOSE:
            del self.statements[sid]
        elif cmd == B.STMT_EXECUTE and found.once:
            if found.used:
                self._answer(deny_packet(ONCE))
                return
            found.used = True
        expect = _STATEMENT_CMDS[cmd]
        self._forward(found.command, raw, expect, None if cmd == B.STMT_SEND_LONG_DATA else sid)

    def _init_db(self, name: str) -> None:
        conn = self.gateway.config.connections.get(self.session.connection)
        target = (conn.database or conn.name) if conn is not None and name == self.session.connection else name
        command = self._new(CommandKind.QUERY, f"USE `{target.replace('`', '``')}`", init_db=name)
        raw = split_payload(bytes([B.INIT_DB]) + to_bytes(target), 0)
        self._check(command, raw, Expect.SIMPLE)

    def _check(self, command: Command, raw: bytes, expect: Expect) -> None:
        verdict = self.pipeline.check(self.session, command)
        if isinstance(verdict, Deferred):
            self._hold(verdict, command, raw, expect)
        elif verdict.action is Action.ALLOW:
            self._forward(command, raw, expect)
        else:
            self._answer(deny_packet(verdict))

    def _hold(self, d: Deferred[Verdict], command: Command, raw: bytes, expect: Expect) -> None:
        self._holding = True
        self.client.pause("hold")

        def decided(verdict: Verdict) -> None:
            self._holding = False
            if self.closed:
                return
            self.client.resume("hold")
            if verdict.action is Action.ALLOW:
                if verdict.approved_by is not None and command.kind is CommandKind.PREPARE:
                    self._approved[command.seq] = True
                self._forward(command, raw, expect)
            else:
                self._answer(deny_packet(verdict))
            self._drain_backlog()

        def failed(failure: Failure) -> None:
            log.failure("session {session}: held command failed", failure, session=self.session.id)
            self.close("internal error", ERRPacket(1105, "HY000", "interceptor: internal error"), 1)

        d.addCallback(decided)
        d.addErrback(failed)

    def _forward(self, command: Command | None, raw: bytes, expect: Expect, statement: int | None = None) -> None:
        self.current = command
        self.responses.start(expect, statement)
        self.busy = expect != Expect.NONE
        if expect == Expect.FETCH and self.wants and self.responses.columns:
            self._open(self.responses.columns, True)  # a cursor's rows come without column definitions
        send(self.upstream.transport, raw)

    def _answer(self, err: ERRPacket) -> None:
        """The gateway's own answer to the command (sequence id 1)."""
        send(self.client.transport, split_payload(err.encode(self.caps), 1))

    # -- upstream → client -------------------------------------------------------------------------------------

    def upstream_packets(self, buf: bytes, packets: list[tuple[int, int, int]]) -> None:
        if self.closed or not packets:
            return
        self.last_activity = self.gateway.reactor.seconds()
        out: list[bytes] = []
        run = packets[0][1]
        responses, result = self.responses, self.result
        try:
            for seq, start, end in packets:
                payload = buf[start + 4 : end] if end - start - 4 < MAX_PAYLOAD else join_payload(buf[start:end])
                kind = responses.packet(payload)
                if kind == Kind.ROW:
                    if result is not None and (new := result.row(payload)) is not None:
                        out.append(buf[run:start])
                        out.append(split_payload(new, seq))
                        run = end
                    continue
                new_packet = self._other(kind, seq, payload)
                result = self.result
                if new_packet is not None:
                    out.append(buf[run:start])
                    out.append(new_packet)
                    run = end
                if responses.done:
                    self.busy = False
                    self.current = None
        except _Unsafe as e:
            self.end_unsafe(str(e))
            return
        except ProtocolError as e:
            self.fail_upstream(str(e))
            return
        except Exception:
            log.failure("session {session}: a result could not be rewritten", session=self.session.id)
            self.close("result withheld", ERRPacket(1105, "HY000", "interceptor: result withheld (masking failed)"), 1)
            return
        out.append(buf[run : packets[-1][2]])
        send(self.client.transport, b"".join(out))
        if not self.busy and self._backlog:
            self._drain_backlog()

    def _other(self, kind: Kind, seq: int, payload: bytes) -> bytes | None:
        """Every packet but a row; returns a replacement packet, or None to forward it as it is."""
        responses = self.responses
        if kind == Kind.COLUMNS_DONE:
            if self.wants and responses.expect in (Expect.QUERY, Expect.EXECUTE, Expect.FETCH):
                self._open(responses.columns, responses.binary)
        elif kind == Kind.RESULT_END:
            self._end("OK")
            self._status(responses.last)
        elif kind == Kind.OK:
            self._status(responses.last)
        elif kind == Kind.ERR:
            self._end("error")
            return self._error(seq, payload)
        elif kind == Kind.PREPARE_OK:
            prepared = responses.prepared
            if prepared is not None and self.current is not None:
                once = self._approved.pop(self.current.seq, False)
                self.statements[prepared.statement_id] = _Statement(self.current, once)
                self._last_prepared = prepared.statement_id
        elif kind == Kind.LOCAL_INFILE:
            self._local_infile()
        return None

    def _open(self, defs: Sequence[Any], binary: bool) -> None:
        command = self.current
        if command is None:
            return
        columns = to_model_columns(defs, False)  # plugins see binary rows as text (see the module docstring)
        rewrite = self.pipeline.rewriter(self.session, command, columns)
        observers = self.pipeline.observers(self.session, command, columns)
        self.result = _Result(defs, binary, rewrite, observers) if rewrite is not None or observers else None

    def _end(self, status: str) -> None:
        if self.result is not None:
            result, self.result = self.result, None
            result.done(status)

    def _status(self, last: Any) -> None:
        if isinstance(last, OKPacket | EOFPacket) and last.status & ServerStatus.NO_BACKSLASH_ESCAPES:
            raise _Unsafe("the server now reads backslashes in strings literally (NO_BACKSLASH_ESCAPES)")

    def _error(self, seq: int, payload: bytes) -> bytes | None:
        err = self.responses.last
        if not isinstance(err, ERRPacket):
            return None
        message = self.text(err.message) if self.text is not None else err.message
        command = self.current
        self.pipeline.event("command.error", self.session.id, command=command, sqlstate=err.sqlstate, message=message)
        if message == err.message:
            return None
        return split_payload(ERRPacket(err.errno, err.sqlstate, message).encode(self.caps), seq)

    def _local_infile(self) -> None:
        command = self.current
        load = (classify_command(command).detail.get("load_data") if command is not None else None) or {}
        asked = self.responses.last
        name = asked.filename if isinstance(asked, LocalInfileRequest) else None
        if not load.get("local") or name not in load.get("files", ()):
            raise ProtocolError(f"the server asked for a client file the statement did not name: {name!r}")
        self.infile = True

    # -- endings -----------------------------------------------------------------------------------------------

    def fail_upstream(self, why: str) -> None:
        log.error("session {session}: upstream stream out of step: {why}", session=self.session.id, why=why)
        self.close("upstream protocol error", ERRPacket(2027, "HY000", "interceptor: upstream protocol error"), 1)

    def end_unsafe(self, why: str) -> None:
        """A parser setting changed under the gateway's feet: end the session before another statement is read."""
        self.close("parser setting changed", ERRPacket(1927, "70100", f"interceptor: session ended: {why}"), 1)

    def upstream_broken(self, why: str) -> None:
        self.fail_upstream(why)

    def upstream_lost(self, reason: Failure) -> None:
        self.close("upstream closed", ERRPacket(2013, "HY000", "interceptor: upstream connection closed"), 1)

    def close(self, reason: str, err: ERRPacket | None, seq: int) -> None:
        """End the session once: tell the client why (if it should hear), drop both legs."""
        if self.closed:
            return
        self.closed = True
        self._end("aborted")
        if err is not None and self.client.transport is not None:
            self.client.transport.write(split_payload(err.encode(self.caps), seq))
        # each leg is the other's registered producer, and a transport does not close while it has one (over TLS
        # it never does): unregister first, so that both legs really close
        for transport in (self.client.transport, self.upstream.transport):
            if transport is not None and transport.connected:
                transport.unregisterProducer()
                transport.loseConnection()
        self.gateway.session_ended(self, reason)

    def terminate(self, message: str) -> None:
        """End the session from the gateway's side (shutdown, idle timeout), telling the client why."""
        self.close(message, ERRPacket(1927, "70100", f"interceptor: connection killed: {message}"), 0)

    def send_cancel(self, key: tuple[int, int]) -> None:
        """MySQL clients cancel with KILL QUERY on another connection, which the pipeline checks as SQL."""


class _Unsafe(Exception):
    """The server now reads statements differently from the gateway's classifier."""
