"""What the client legs of every protocol share: the loopback test for plaintext logins and backpressure.

Twisted-level, protocol-neutral. A client protocol keeps a set of reasons its reading is paused (``pause(why)`` /
``resume(why)``: a login in progress, a held command, a full upstream send buffer); :class:`Gate` is the producer
it registers on the upstream's transport, so a full upstream buffer becomes one of those reasons.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Pausable(Protocol):
    def pause(self, why: str) -> None: ...
    def resume(self, why: str) -> None: ...


class Gate:
    """Registered as the producer for the upstream's transport: when the upstream's send buffer is full it pauses
    the client's reading, alongside (not instead of) the other reasons the client may be paused."""

    def __init__(self, client: Pausable, why: str) -> None:
        self.client, self.why = client, why

    def pauseProducing(self) -> None:
        self.client.pause(self.why)

    def resumeProducing(self) -> None:
        self.client.resume(self.why)

    def stopProducing(self) -> None:
        pass
