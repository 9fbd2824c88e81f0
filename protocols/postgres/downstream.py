"""Upstream → client: walk the server's frames by their headers and forward them as the original bytes.

Per frame this does the least it can: a DataRow with no active :class:`ResultStream` costs one comparison. The
tracker tells which client message each answer belongs to, so a result is tied to its command, a denied
message's error is swapped for the gateway's, and errors are reported per command. When a plugin rewrites
results and a RowDescription names tables not yet in the catalog cache, the stream stalls (the upstream is
paused) until they are looked up, so column rules never see an unnamed table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.model import Column, Command, CommandKind
from interceptor.protocols.postgres import codec, tracker
from interceptor.protocols.postgres.results import ResultStream, columns_from, copy_codec
from interceptor.protocols.postgres.tracker import TrackerError
from interceptor.protocols.send import send
from interceptor.sql.settings import value_problem

if TYPE_CHECKING:
    from interceptor.protocols.postgres.relay import Relay

log = Logger(namespace="interceptor.postgres.downstream")

_ROW, _ERROR, _READY, _ROWDESC, _NOTICE = (ord(c) for c in "DEZTN")
_NOTIFY, _PARAM, _COPY_OUT, _COPY_DATA, _NO_DATA = (ord(c) for c in "ASHdn")
_QUIET = frozenset(map(ord, "tGWc"))  # ParameterDescription, CopyIn/Both, CopyDone
_CALL_RESULT = ord("V")
_DONE = frozenset(map(ord, "CIs"))
_ANSWER = {ord("1"): tracker.PARSE, ord("2"): tracker.BIND, ord("3"): tracker.CLOSE}
_UNSET: Any = object()


class ParserStateChanged(Exception):
    """The server now reads statements differently from the gateway; the session must end."""


class Stall(Exception):
    """Raised inside the pump to stop at a frame until the catalog has answered."""

    def __init__(self, wait: Deferred[None]) -> None:
        self.wait = wait


class Downstream:
    def __init__(self, relay: Relay, text_rewriter: Callable[[str], str] | None) -> None:
        self.relay = relay
        self.pipeline = relay.pipeline
        self.session = relay.session
        self.tracker = relay.tracker
        self.catalog = relay.catalog
        self.text = text_rewriter
        self.wants = self.pipeline.rewrites or self.pipeline.observes
        self.result: Any = None
        self._stalled: list[tuple[bytes, list[tuple[int, int, int]], int]] | None = None
        # named columns for one second (a catalog change shows within it), by the fields and result formats, or
        # by a simple query's RowDescription bytes
        self._columns: dict[Any, tuple[float, tuple[Column, ...]]] = {}

    # -- the pump ----------------------------------------------------------------------------------------------

    def frames(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        if self._stalled is not None:
            self._stalled.append((buf, frames, 0))
        elif frames:
            self._pump(buf, frames, 0)

    def _pump(self, buf: bytes, frames: list[tuple[int, int, int]], i: int) -> None:
        out: list[bytes] = []
        run = frames[i][1]
        n = len(frames)
        tr = self.tracker
        try:
            while i < n:
                t, s, e = frames[i]
                new: bytes | None = None
                if t == _ROW:
                    res = self.result
                    if res is not None:
                        if res is _UNSET:
                            res = self.result = self._open_execute()
                        if res is not None:
                            new = res.data_row(buf[s + 5 : e])
                elif t == _READY:
                    self._end("aborted")
                    tr.ready()
                elif t == _ERROR:
                    new = self._error(buf[s + 5 : e])
                elif t == _ROWDESC:
                    if self._row_description(buf[s + 5 : e]):
                        new = b""  # the answer to the relay's own Describe: not the client's
                elif t in _DONE:
                    self._end(buf[s + 5 : e - 1].decode("utf-8", "replace") if t == ord("C") else "")
                    head = tr.head
                    if head is not None and head.kind == tracker.EXECUTE:
                        tr.queue.popleft()
                elif t == _COPY_DATA:
                    res = self.result
                    if res is not None and res.copy is not None:
                        new = res.copy_data(buf[s + 5 : e])
                elif t == _COPY_OUT:
                    self._copy_out(buf[s + 5 : e])
                elif t in (_NOTICE, _NOTIFY, _PARAM):
                    if t == _PARAM:
                        self._check_parser_state(buf[s + 5 : e])
                    if self.text is not None:
                        new = self._rewrite_text(t, buf[s + 5 : e])
                elif t == _NO_DATA:
                    done = tr.pop(tracker.DESCRIBE_S, tracker.DESCRIBE_P)
                    if self.wants:  # described: no rows (so an Execute needs no Describe of the relay's)
                        cols = tr.statement_columns if done.kind == tracker.DESCRIBE_S else tr.portal_columns
                        cols[done.name] = ()
                    if done.internal:
                        new = b""
                elif t in _ANSWER:
                    tr.pop(_ANSWER[t])
                elif t == _CALL_RESULT:
                    if self.wants:
                        new = self._call_result(buf[s + 5 : e])
                elif t not in _QUIET:
                    raise codec.ProtocolError(f"unexpected backend message type {chr(t)!r}")
                if new is not None:
                    out.append(buf[run:s])
                    out.append(new)
                    run = e
                i += 1
                if self.result is None and t != _ROW and self.wants:  # an Execute's result starts at its first row
                    head = tr.head
                    if head is not None and head.kind == tracker.EXECUTE:
                        self.result = _UNSET
        except Stall as stall:
            out.append(buf[run : frames[i][1]])
            self._write(out)
            self._stall(stall.wait, buf, frames, i)
            return
        except (codec.ProtocolError, TrackerError) as exc:
            self.relay.fail_upstream(str(exc))
            return
        except ParserStateChanged as exc:
            log.warn("session {session}: ended: {why}", session=self.session.id, why=str(exc))
            self.relay.end_unsafe(str(exc))
            return
        except Exception:
            log.failure("session {session}: result rewriting failed", session=self.session.id)
            self.relay.withhold()
            return
        out.append(buf[run : frames[-1][2]])
        self._write(out)

    def _write(self, out: list[bytes]) -> None:
        data = b"".join(out)
        if data:
            send(self.relay.client.transport, data)

    # -- stalls (catalog look-ups) -----------------------------------------------------------------------------

    def _stall(self, wait: Deferred[None], buf: bytes, frames: list[tuple[int, int, int]], i: int) -> None:
        self._stalled = [(buf, frames, i)]
        upstream = self.relay.upstream.transport
        upstream.pauseProducing()

        def go_on(_: object) -> None:
            pending, self._stalled = self._stalled or [], None
            upstream.resumeProducing()
            for b, f, j in pending:
                if self.relay.closed:
                    return
                if self._stalled is not None:
                    self._stalled.append((b, f, j))
                else:
                    self._pump(b, f, j)

        def failed(f: Failure) -> None:
            log.error("session {session}: cannot name result columns: {why}", session=self.session.id,
                      why=f.getErrorMessage())  # fmt: skip
            self.relay.withhold()

        wait.addCallbacks(go_on, failed)

    def _named(self, fields: Sequence[Any], formats: Sequence[int] = ()) -> tuple[Column, ...]:
        """Columns with table and real column names from the catalog; stalls the stream if it must look up.
        A prepared statement describes the same fields at every execution: the answer is kept for a second."""
        key = (tuple(fields), tuple(formats))
        now = self.relay.gateway.reactor.seconds()
        hit = self._columns.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        columns = self._name_columns(fields, formats)
        if len(self._columns) > 256:
            self._columns.clear()
        self._columns[key] = (now + 1.0, columns)
        return columns

    def _name_columns(self, fields: Sequence[Any], formats: Sequence[int]) -> tuple[Column, ...]:
        columns: tuple[Column, ...] = columns_from(fields, formats)
        if not self.pipeline.rewrites or self.catalog is None:
            return columns
        conn_name = self.session.connection
        oids = {f.table_oid for f in fields if f.table_oid}
        missing = self.catalog.missing(conn_name, oids)
        if missing:
            conn = self.relay.gateway.config.connections.get(conn_name)
            if conn is None:
                raise TrackerError("connection vanished from the config")
            raise Stall(self.catalog.resolve(conn, missing, self.relay.gateway.config.timeouts.connect))
        named = []
        for f, c in zip(fields, columns, strict=True):
            info = self.catalog.get(conn_name, f.table_oid) if f.table_oid else None
            if info is None:
                named.append(c)
            else:
                named.append(Column(c.name, c.index, c.type_name, info.name, f.column, c.binary,
                                    info.columns.get(f.column)))  # fmt: skip
        return tuple(named)

    # -- results -----------------------------------------------------------------------------------------------

    def _open(self, command: Command | None, columns: Sequence[Column], copy_format: int | None = None) -> Any:
        if command is None:
            return None
        rewrite = self.pipeline.rewriter(self.session, command, columns) if self.pipeline.rewrites else None
        observers = self.pipeline.observers(self.session, command, columns) if self.pipeline.observes else []
        if rewrite is None and not observers:
            return None
        copy = copy_codec(command, copy_format) if copy_format is not None else None
        return ResultStream(rewrite, observers, copy)

    def _row_description(self, body: bytes) -> bool:
        """Note the columns; True when this answers the relay's own Describe (not to be forwarded)."""
        head = self.tracker.head
        if head is None:
            raise TrackerError("RowDescription with nothing outstanding")
        if head.kind == tracker.QUERY:
            if self.wants:
                now = self.relay.gateway.reactor.seconds()
                hit = self._columns.get(body)  # the same statement describes the same bytes: skip decoding them
                if hit is not None and hit[0] > now:
                    columns = hit[1]
                else:
                    columns = self._named(codec.RowDescription.decode(body).fields)
                    if len(self._columns) > 256:
                        self._columns.clear()
                    self._columns[body] = (now + 1.0, columns)
                self.result = self._open(head.command, columns)
            return False
        if head.kind not in (tracker.DESCRIBE_S, tracker.DESCRIBE_P):
            raise TrackerError("RowDescription out of turn")
        if self.wants:
            fields = codec.RowDescription.decode(body).fields
            table = self.tracker.statement_columns if head.kind == tracker.DESCRIBE_S else self.tracker.portal_columns
            table[head.name] = fields
        self.tracker.queue.popleft()
        return bool(head.internal)

    def _call_result(self, body: bytes) -> bytes | None:
        """A FunctionCallResponse is a one-value result: it goes through the same rewriters and observers."""
        head = self.tracker.head
        stream = self._open(head.command if head is not None else None, (Column("", 0),))
        if stream is None:
            return None
        value = codec.FunctionCallResponse.decode(body).value
        row = stream.rewrite([value]) if stream.rewrite is not None else None
        final = row[0] if row is not None else value
        for o in stream.observers:
            o.row([final])
            o.done("function call", 1)
        return codec.FunctionCallResponse(final).encode() if row is not None else None  # type: ignore[no-any-return]

    def _open_execute(self) -> ResultStream | None:
        head = self.tracker.head
        if head is None or head.kind != tracker.EXECUTE:
            return None
        # a portal whose statement the tracker does not know still gets the rewriters (fail closed)
        command = self.tracker.command_for_execute(head.name) or Command(
            self.session.id, 0, CommandKind.PREPARE, "<unknown statement>", "postgres"
        )
        fields = self.tracker.columns_for_execute(head.name) or ()
        return self._open(command, self._named(fields, self.tracker.portal_formats.get(head.name, ())))

    def _copy_out(self, body: bytes) -> None:
        self._end("aborted")
        head = self.tracker.head
        if not self.wants or head is None:
            return
        if head.kind == tracker.QUERY:
            command = head.command
        elif head.kind == tracker.EXECUTE:
            command = self.tracker.command_for_execute(head.name)
        else:
            return
        if command is None:
            return
        msg = codec.CopyOutResponse.decode(body)
        columns = [Column("", i, "", None, 0, f == 1) for i, f in enumerate(msg.column_formats)]
        self.result = self._open(command, columns, msg.format)

    def _end(self, status: str) -> None:
        res, self.result = self.result, None
        if res is not None and res is not _UNSET:
            res.done(status)

    # -- errors and text ---------------------------------------------------------------------------------------

    def _error(self, body: bytes) -> bytes | None:
        self._end("error")
        answered = self.tracker.error()
        command = answered.command if answered is not None else None
        frame: bytes | None
        if answered is not None and answered.denied is not None:
            frame = self.relay.deny_frame(answered.denied)
            message = codec.ErrorResponse.decode(frame[5:])
        else:
            message = codec.ErrorResponse.decode(body)
            frame = None
            if self.text is not None:
                masked = self._mask_fields(message)
                if masked is not None:
                    message, frame = masked, masked.encode()
        if command is not None:
            self.pipeline.event("command.error", self.session.id, command=command.seq, sqlstate=message.sqlstate,
                                message=message.message)  # fmt: skip
        return frame

    def _check_parser_state(self, body: bytes) -> None:
        """Defence in depth: the server reports standard_conforming_strings and client_encoding whenever they
        change. If one ever takes a value that makes the server read text differently from the gateway (by any path
        the classifier did not see, such as a function that calls set_config), the session cannot be trusted."""
        p = codec.ParameterStatus.decode(body)
        problem = value_problem(p.name.lower(), p.value)
        if problem is not None:
            raise ParserStateChanged(problem)

    def _mask_fields(self, msg: Any) -> Any:
        assert self.text is not None
        fields = tuple((k, self.text(v) if k not in "SVCRLF" else v) for k, v in msg.fields)
        return type(msg)(fields) if fields != msg.fields else None

    def _rewrite_text(self, t: int, body: bytes) -> bytes | None:
        assert self.text is not None
        if t == _NOTICE:
            masked = self._mask_fields(codec.NoticeResponse.decode(body))
            return masked.encode() if masked is not None else None
        if t == _NOTIFY:
            n = codec.NotificationResponse.decode(body)
            payload = self.text(n.payload)
            return codec.NotificationResponse(n.pid, n.channel, payload).encode() if payload != n.payload else None
        p = codec.ParameterStatus.decode(body)
        value = self.text(p.value)
        frame: bytes | None = codec.ParameterStatus(p.name, value).encode() if value != p.value else None
        return frame
