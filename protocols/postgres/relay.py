"""The relay: once both legs are logged in, every frame passes through here in both directions.

Client → upstream: frames are split by the codec; a Query, Parse or FunctionCall becomes a :class:`Command` and is
checked by the pipeline; everything else is forwarded as the original bytes. A denied message is replaced by a
statement that the server rejects at parse time (``interceptor_denied``), so the server's own transaction state
and error skipping stay exactly as if the client had sent a bad statement; the server's error is then swapped
for the gateway's on the way back. A held command (a Deferred verdict) stops the client's stream, in order, until
it is decided; other sessions never wait.

Upstream → client: see :mod:`downstream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from interceptor.model import Action, Command, CommandKind, Session, Verdict
from interceptor.pipeline import Pipeline
from interceptor.protocols.postgres import codec, tracker
from interceptor.protocols.postgres.catalog import Catalog
from interceptor.protocols.postgres.downstream import Downstream
from interceptor.protocols.postgres.tracker import Tracker
from interceptor.protocols.postgres.upstream import send_cancel
from interceptor.protocols.send import send

if TYPE_CHECKING:
    from interceptor.protocols.postgres.client import ClientProtocol
    from interceptor.protocols.postgres.upstream import UpstreamProtocol

log = Logger(namespace="interceptor.postgres.relay")

# frontend type bytes
_Q, _P, _F, _B, _D, _E, _C, _S, _H, _X = (ord(c) for c in "QPFBDECSHX")
_COPY_FROM_CLIENT = frozenset(map(ord, "dcf"))

DENIED_SQL = "interceptor_denied"
#: an approved prepared statement executed a second time (the approval covered one execution)
ONCE = Verdict.deny(
    "the approval of this prepared statement covered one execution; prepare it again to ask for another",
    rule="approval-once",
)


def error_frame(sqlstate: str, message: str, severity: str = "ERROR", detail: str | None = None) -> bytes:
    frame: bytes = codec.ErrorResponse.build(sqlstate, message, severity=severity, detail=detail).encode()
    return frame


def deny_frame(verdict: Verdict) -> bytes:
    detail = f"rule {verdict.rule}" if verdict.rule else None
    if verdict.plugin:
        detail = f"{detail} ({verdict.plugin})" if detail else f"plugin {verdict.plugin}"
    return error_frame("42501", f"interceptor: {verdict.reason or 'denied by policy'}", detail=detail)


def _cstr(body: bytes, start: int) -> tuple[str, int]:
    end = body.index(b"\0", start)
    return body[start:end].decode("utf-8", "replace"), end + 1


class Relay:
    """Both legs of one logged-in session."""

    def __init__(
        self,
        gateway: Any,
        session: Session,
        client: ClientProtocol,
        upstream: UpstreamProtocol,
        catalog: Catalog | None = None,
    ) -> None:
        self.gateway = gateway
        self.pipeline: Pipeline = gateway.pipeline
        self.session = session
        self.client = client
        self.upstream = upstream
        self.tracker = Tracker()
        self.catalog = catalog
        self._wants = self.pipeline.rewrites or self.pipeline.observes
        # raises when a plugin fails: the client code then refuses the session (fail closed)
        self.downstream = Downstream(self, self.pipeline.message_rewriter(session))
        self._seq = 0
        self._holding = False
        self._once: dict[str, bool] = {}  # statement approved by review -> its one execution has run
        self._backlog: list[tuple[bytes, list[tuple[int, int, int]], int]] = []  # only while a command is held
        self.closed = False
        self.last_activity = gateway.reactor.seconds()

    # -- client → upstream -------------------------------------------------------------------------------------

    def client_frames(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        self.last_activity = self.gateway.reactor.seconds()
        if not frames or self.closed:
            return
        if self._holding:
            self._backlog.append((buf, frames, 0))
            return
        self._run(buf, frames, 0)

    def _command(self, kind: CommandKind, text: str, detail: dict[str, Any]) -> Command:
        self._seq += 1
        return Command(self.session.id, self._seq, kind, text, "postgres", detail)

    def _run(self, buf: bytes, frames: list[tuple[int, int, int]], i: int) -> None:
        out: list[bytes] = []
        track = self.tracker.push
        run = frames[i][1]
        n = len(frames)
        try:
            while i < n:
                t, s, e = frames[i]
                i += 1
                if t == _B:
                    portal, pos = _cstr(buf, s + 5)
                    stmt, _ = _cstr(buf, pos)
                    if self._once and self._spent(stmt):  # refused as a denied Parse is: in order, in step
                        spent = self.tracker.statements.get(stmt)
                        assert spent is not None
                        out.append(buf[run:s])
                        out.append(self._denied(_P, "", tracker.PARSE, ONCE, spent))
                        run = e
                        continue
                    self.tracker.portals[portal] = stmt
                    if self._wants:
                        self.tracker.portal_columns.pop(portal, None)
                        self.tracker.portal_formats[portal] = codec.Bind.decode(buf[s + 5 : e]).result_formats
                    track(tracker.BIND)
                elif t == _E:
                    portal = _cstr(buf, s + 5)[0]
                    if self._wants and self.tracker.columns_for_execute(portal) is None:
                        if not self.tracker.describing(portal):
                            # rows whose columns are unknown cannot be masked by column: ask the server first
                            out.append(buf[run:s])
                            out.append(codec.Describe(b"P", portal).encode())
                            run = s
                            track(tracker.DESCRIBE_P, None, portal, None, True)
                    track(tracker.EXECUTE, None, portal)
                elif t == _S:
                    track(tracker.SYNC)
                elif t == _D:
                    which = buf[s + 5 : s + 6]
                    track(tracker.DESCRIBE_S if which == b"S" else tracker.DESCRIBE_P, None, _cstr(buf, s + 6)[0])
                elif t == _C:
                    track(tracker.CLOSE)
                elif t == _H or t in _COPY_FROM_CLIENT:
                    pass
                elif t == _Q or t == _P or t == _F:
                    command, kind, name = self._decode_command(t, buf[s + 5 : e])
                    verdict = self.pipeline.check(self.session, command)
                    if isinstance(verdict, Deferred):
                        out.append(buf[run:s])
                        self._write_upstream(out)
                        self._hold(verdict, buf, frames, i, (t, s, e), command, kind, name)
                        return
                    if verdict.action is Action.ALLOW:
                        track(kind, command, name)
                        if t == _P:
                            self._once.pop(name, None)
                            self.tracker.statements[name] = command
                            self.tracker.statement_columns.pop(name, None)  # described again, or not at all
                    else:
                        out.append(buf[run:s])
                        out.append(self._denied(t, name, kind, verdict, command))
                        run = e
                elif t == _X:
                    out.append(buf[run:e])
                    self._write_upstream(out)
                    self.close("client closed", None)
                    return
                else:
                    raise codec.ProtocolError(f"unexpected frontend message type {chr(t)!r}")
        except (codec.ProtocolError, ValueError) as exc:
            self.close("protocol error", error_frame("08P01", f"invalid message from client: {exc}", "FATAL"))
            return
        out.append(buf[run : frames[-1][2]])
        self._write_upstream(out)

    def _spent(self, stmt: str) -> bool:
        """True when statement ``stmt``'s approval was used up; else marks it used now. The approval covers one
        Bind (one portal: an Execute may fetch it in pieces); a second Bind is refused."""
        if stmt not in self._once:
            return False
        if self._once[stmt]:
            return True
        self._once[stmt] = True
        return False

    def _decode_command(self, t: int, body: bytes) -> tuple[Command, int, str]:
        if t == _Q:
            sql = codec.Query.decode(body).sql
            return self._command(CommandKind.QUERY, sql, {}), tracker.QUERY, ""
        if t == _P:
            p = codec.Parse.decode(body)
            return self._command(CommandKind.PREPARE, p.query, {"statement": p.name}), tracker.PARSE, p.name
        call = codec.FunctionCall.decode(body)
        return self._command(CommandKind.CALL, f"<function call oid={call.oid}>", {"oid": call.oid}), tracker.CALL, ""

    def _denied(self, t: int, name: str, kind: int, verdict: Verdict, command: Command) -> bytes:
        replacement: bytes
        if t == _P:
            self.tracker.push(tracker.PARSE, command, name, verdict)
            self.tracker.statements.pop(name, None)
            replacement = codec.Parse(name, DENIED_SQL, ()).encode()
        else:
            # a FunctionCall is answered like a Query (result, then ReadyForQuery), so a Query stands in for it
            self.tracker.push(kind if t == _Q else tracker.CALL, command, name, verdict)
            replacement = codec.Query(DENIED_SQL).encode()
        return replacement

    def _hold(
        self,
        d: Deferred[Verdict],
        buf: bytes,
        frames: list[tuple[int, int, int]],
        i: int,
        frame: tuple[int, int, int],
        command: Command,
        kind: int,
        name: str,
    ) -> None:
        self._holding = True
        self.client.pause("hold")

        def decided(verdict: Verdict) -> None:
            if self.closed:
                return
            t, s, e = frame
            if verdict.action is Action.ALLOW:
                self.tracker.push(kind, command, name)
                if t == _P:
                    self.tracker.statements[name] = command
                    self.tracker.statement_columns.pop(name, None)
                    if verdict.approved_by is not None:
                        self._once[name] = False  # the approval covers one execution of the statement
                self._write_upstream([buf[s:e]])
            else:
                self._write_upstream([self._denied(t, name, kind, verdict, command)])
            self._holding = False
            self.client.resume("hold")
            if i < len(frames):
                self._run(buf, frames, i)
            while self._backlog and not self._holding and not self.closed:
                b, f, j = self._backlog.pop(0)
                self._run(b, f, j)

        def failed(failure: Failure) -> None:
            log.failure("session {session}: held command failed", failure, session=self.session.id)
            self.close("internal error", error_frame("XX000", "interceptor: internal error", "FATAL"))

        d.addCallback(decided)
        d.addErrback(failed)

    def _write_upstream(self, out: list[bytes]) -> None:
        data = b"".join(out)
        if data:
            send(self.upstream.transport, data)

    # -- upstream → client (see downstream.py) ----------------------------------------------------------------

    def upstream_frames(self, buf: bytes, frames: list[tuple[int, int, int]]) -> None:
        if self.closed:
            return
        self.last_activity = self.gateway.reactor.seconds()
        self.downstream.frames(buf, frames)

    def deny_frame(self, verdict: Verdict) -> bytes:
        return deny_frame(verdict)

    def fail_upstream(self, why: str) -> None:
        log.error("session {session}: upstream stream out of step: {why}", session=self.session.id, why=why)
        self.close("upstream protocol error", error_frame("08P01", "upstream protocol error", "FATAL"))

    def end_unsafe(self, why: str) -> None:
        """A parser setting changed under the gateway's feet: end the session before another statement is read."""
        self.close("parser setting changed", error_frame("0A000", f"interceptor: session ended: {why}", "FATAL"))

    def withhold(self) -> None:
        """A result could not be rewritten: end the session rather than pass unmasked data."""
        self.close("result withheld", error_frame("XX000", "interceptor: result withheld (masking failed)", "FATAL"))

    def upstream_broken(self, why: str) -> None:
        log.error("session {session}: bad frame from upstream: {why}", session=self.session.id, why=why)
        self.close("upstream protocol error", error_frame("08P01", "upstream protocol error", "FATAL"))

    def upstream_lost(self, reason: Failure) -> None:
        self.close("upstream closed", error_frame("08006", "upstream connection closed", "FATAL"))

    # -- both --------------------------------------------------------------------------------------------------

    def close(self, reason: str, to_client: bytes | None) -> None:
        """End the session once: tell the client why (if it should hear), drop both legs."""
        if self.closed:
            return
        self.closed = True
        if to_client is not None and self.client.transport is not None:
            self.client.transport.write(to_client)
        # each leg is the other's registered producer, and a transport does not close while it has one (over TLS
        # it never does): unregister first, so that both legs really close
        for transport in (self.client.transport, self.upstream.transport):
            if transport is not None and transport.connected:
                transport.unregisterProducer()
                transport.loseConnection()
        self.gateway.session_ended(self, reason)

    def terminate(self, message: str) -> None:
        """End the session from the gateway's side (shutdown, idle timeout), telling the client why."""
        self.close(message, error_frame("57P01", f"terminating connection: {message}", "FATAL"))

    def send_cancel(self, key: tuple[int, int]) -> None:
        conn = self.gateway.config.connections.get(self.session.connection)
        if conn is not None:
            send_cancel(self.gateway.reactor, conn, key, self.gateway.config.timeouts.connect)
