"""The gateway as a Twisted service: listeners, the session registry, cancel keys, reload and drain.

Protocol-neutral: each protocol package provides a Twisted factory taking this Gateway; the relays it builds
register here, and call :meth:`Gateway.session_ended` once. Nothing is global: the reactor, the config and the
plugin manager are passed in, so tests can build several gateways in one process.
"""

from __future__ import annotations

import importlib
import secrets
import signal
import time
from pathlib import Path
from typing import Any, Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from interceptor import config as config_mod
from interceptor.config import Config, ConfigError, ConnectionConfig
from interceptor.identity import Authenticator
from interceptor.model import Identity, Session, new_session_id
from interceptor.pipeline import Pipeline, PluginLoadError, load_plugins, new_plugin_manager
from interceptor.tls import ensure_certificate, server_options

log = Logger(namespace="interceptor.service")

#: protocol name -> "module:factory class"; each factory is built with the Gateway
PROTOCOLS = {
    "postgres": "interceptor.protocols.postgres.client:ClientFactory",
    "mysql": "interceptor.protocols.mysql.client:ClientFactory",
}


class RelayLike(Protocol):
    session: Session
    last_activity: float

    def terminate(self, message: str) -> None: ...
    def send_cancel(self, key: tuple[int, int]) -> None: ...


class Gateway(Service):
    name = "interceptor"

    def __init__(self, config: Config, reactor: Any, pipeline: Pipeline | None = None) -> None:
        self.config = config
        self.reactor = reactor
        if pipeline is None:
            pm = new_plugin_manager()
            load_plugins(pm, config.plugins, config.disabled_plugins)
            pipeline = Pipeline(pm)
        self.pipeline = pipeline
        self.pipeline.configure(config, reactor)
        self.auth = Authenticator(config.identities, reactor)
        self.sessions: dict[str, RelayLike] = {}
        self._keys: dict[tuple[int, int], tuple[RelayLike, tuple[int, int]]] = {}
        self._closing: dict[str, Deferred[None]] = {}
        self.ports: dict[str, Any] = {}
        self.server_tls: Any = None
        self._idle = LoopingCall(self._reap_idle)
        self._idle.clock = reactor

    # -- life cycle --------------------------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        files = raise_open_files_limit()
        log.info("up to {files} open files (about {sessions} sessions)", files=files, sessions=files // 2)
        cert = self.config.tls.cert or self.config.data_dir / "tls" / "gateway.crt"
        key = self.config.tls.key or self.config.data_dir / "tls" / "gateway.key"
        if self.config.tls.cert is None:
            ensure_certificate(cert, key)
        self.server_tls = server_options(cert, key)
        for proto, addr in self.config.listen.items():
            factory = _factory(proto)(self)
            port = self.reactor.listenTCP(addr.port, factory, backlog=LISTEN_BACKLOG, interface=addr.host)
            self.ports[proto] = port
            log.info(
                "listening for {protocol} on {host}:{port}",
                protocol=proto,
                host=addr.host,
                port=port.getHost().port,
            )
        if self.config.timeouts.idle > 0:
            self._idle.start(min(self.config.timeouts.idle / 4, 30.0), now=False)

    def stopService(self) -> Deferred[Any]:
        """Drain: stop accepting, let open sessions finish for up to ``timeouts.drain`` seconds, then end them."""
        super().stopService()
        if self._idle.running:
            self._idle.stop()
        stops = [d for d in (p.stopListening() for p in self.ports.values()) if isinstance(d, Deferred)]
        self.ports.clear()
        log.info("draining {count} open sessions", count=len(self.sessions))
        done = DeferredList([*stops, self._drained()])
        return done

    def _drained(self) -> Deferred[None]:
        if not self.sessions:
            return succeed(None)
        d: Deferred[None] = Deferred()
        deadline = self.reactor.seconds() + self.config.timeouts.drain

        def poll() -> None:
            if not self.sessions:
                d.callback(None)
            elif self.reactor.seconds() >= deadline:
                for relay in list(self.sessions.values()):
                    relay.terminate("the gateway is shutting down")
                # give the reactor a moment to write each client its FATAL before the process ends
                self.reactor.callLater(0.3, d.callback, None)
            else:
                self.reactor.callLater(0.1, poll)

        poll()
        return d

    def install_signal_handlers(self, config_path: Path | None) -> None:
        """SIGHUP reloads identities, connections and policies from ``config_path``."""
        if config_path is None:
            return
        signal.signal(signal.SIGHUP, lambda *_: self.reactor.callFromThread(self.reload, config_path))

    def reload(self, path: Path) -> bool:
        """Re-read the config. Open sessions keep running; new ones see the new identities, connections and
        policies. A bad config is refused and the old one stays in force."""
        try:
            new = config_mod.load(path)
            self.pipeline.configure(new, self.reactor)
        except (ConfigError, PluginLoadError, OSError) as e:
            log.error("reload refused, keeping the running config: {error}", error=str(e))
            self.pipeline.configure(self.config, self.reactor)
            return False
        for what in ("listen", "plugins", "disabled_plugins", "tls", "data_dir"):
            if getattr(new, what) != getattr(self.config, what):
                log.warn("reload: {key} changed; that takes a restart", key=what)
        self.config = new
        self.auth.update(new.identities)
        self.pipeline.event("config.reloaded", None, identities=len(new.identities), connections=len(new.connections))
        log.info(
            "config reloaded: {identities} identities, {connections} connections",
            identities=len(new.identities),
            connections=len(new.connections),
        )
        return True

    # -- sessions ----------------------------------------------------------------------------------------------

    def new_session(self, identity: Identity, conn: ConnectionConfig, protocol: str, peer: str, tls: bool) -> Session:
        return Session(
            id=new_session_id(),
            identity=identity,
            connection=conn.name,
            protocol=protocol,
            client_addr=peer,
            started_at=time.time(),
            policy=conn.policy,
            tls=tls,
        )

    def register(self, relay: RelayLike, upstream_key: tuple[int, int] | None) -> tuple[int, int]:
        """Record an open session; returns the cancel key the client gets (the upstream's stays here)."""
        session = relay.session
        self.sessions[session.id] = relay
        key = (secrets.randbits(31), secrets.randbits(32))
        while key in self._keys:
            key = (secrets.randbits(31), secrets.randbits(32))
        if upstream_key is not None:
            self._keys[key] = (relay, upstream_key)
        log.info(
            "session {session} opened: {identity} to {connection} from {client}",
            session=session.id,
            identity=session.identity.name,
            connection=session.connection,
            client=session.client_addr,
        )
        return key

    def session_ended(self, relay: RelayLike, reason: str) -> None:
        session = relay.session
        if self.sessions.pop(session.id, None) is None:
            return
        for k in [k for k, (r, _) in self._keys.items() if r is relay]:
            del self._keys[k]
        log.info("session {session} closed: {reason}", session=session.id, reason=reason)
        self.pipeline.session_closed(session, reason)

    def cancel(self, pid: int, secret: int) -> None:
        """A CancelRequest from a client: forwarded only when the key is one we handed out."""
        found = self._keys.get((pid, secret))
        if found is None:
            log.info("ignored a cancel request with an unknown key")
            return
        relay, upstream_key = found
        self.pipeline.event("session.cancel", relay.session.id)
        relay.send_cancel(upstream_key)

    def _reap_idle(self) -> None:
        limit = self.reactor.seconds() - self.config.timeouts.idle
        for relay in list(self.sessions.values()):
            if relay.last_activity < limit:
                relay.terminate("idle timeout")


#: Connections the kernel queues before the gateway accepts them (Twisted's default, 50, overflowed when a few
#: dozen clients connected at once: each overflow cost that client a one-second SYN retry). Linux caps it at
#: net.core.somaxconn.
LISTEN_BACKLOG = 1024


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit, as daemons do (each session holds a
    client socket, an upstream socket and its recording file; the usual soft limit of 1,024 would cap the
    gateway at about 340 sessions). Returns the limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


def _factory(protocol: str) -> Any:
    module, _, attr = PROTOCOLS[protocol].partition(":")
    return getattr(importlib.import_module(module), attr)


def serve(path: Path) -> int:
    """Run the gateway from the config at ``path`` in the foreground until SIGTERM/SIGINT (``interceptor run``)."""
    from twisted.internet import reactor as _reactor

    from interceptor import logs

    reactor: Any = _reactor
    config = config_mod.load(path)
    logs.start(config.log_level, config.log_format)
    gateway = Gateway(config, reactor)
    gateway.install_signal_handlers(path)
    reactor.callWhenRunning(gateway.startService)
    reactor.addSystemEventTrigger("before", "shutdown", gateway.stopService)
    reactor.run()
    return 0
