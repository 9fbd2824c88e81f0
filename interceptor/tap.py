"""twistd support: ``twistd -n interceptor -c FILE`` builds the same service as ``interceptor run``."""

from __future__ import annotations

from typing import Any

from twisted.python import usage

from interceptor import config as config_mod


class Options(usage.Options):
    optParameters = [["config", "c", None, "config file (default: $INTERCEPTOR_CONFIG, then ./interceptor.yaml)"]]


def makeService(options: Options) -> Any:
    from twisted.internet import reactor

    from interceptor.service import Gateway

    path = config_mod.default_path(options["config"])
    gateway = Gateway(config_mod.load(path), reactor)
    reactor.callWhenRunning(gateway.install_signal_handlers, path)  # type: ignore[attr-defined]
    return gateway
