"""Pure (sans-IO) codec for the MySQL/MariaDB client/server protocol: the public namespace.

This module re-exports the public names of the modules that hold the codec, so callers only ever need
``from interceptor.protocols.mysql import codec``:

- :mod:`.wire`: ProtocolError/CommandError, the Capability/ServerStatus/CommandByte enums, the payload cursor
  and the integer and string writers;
- :mod:`.packets`: framing (PacketReader, split_payload), SequenceTracker and the packet base classes;
- :mod:`.generic`: OK, ERR and EOF (server packets);
- :mod:`.handshake`: the connection phase (HandshakeV10, SSLRequest, HandshakeResponse41, auth exchange);
- :mod:`.commands` and :mod:`.statements`: the client's commands and ``decode_command``;
- :mod:`.binary`: FieldType and the binary protocol's values;
- :mod:`.results`: result sets, rows and the COM_STMT_PREPARE response.

The authentication helpers are in :mod:`.auth` (not re-exported: it is the one module that may import
``cryptography``, lazily). Those modules import only each other and the standard library, never this one.

Direction lives in the type: server packets derive from :class:`ServerPacket`, client packets from
:class:`ClientPacket`, and each direction has its own decoders. Every packet class has ``encode(caps)`` (the
payload, for the negotiated capabilities) and ``decode(payload, caps)``, so ``P.decode(p.encode(caps), caps)
== p``. Decoding treats its input as hostile: the only exception any decoder lets escape is
:class:`ProtocolError`. Encoding treats its input as trusted and raises :class:`ValueError`.
"""

from __future__ import annotations

from .binary import *  # noqa: F403  (re-exported: see binary.__all__)
from .binary import __all__ as _binary_all
from .commands import *  # noqa: F403  (re-exported: see commands.__all__)
from .commands import __all__ as _commands_all
from .generic import *  # noqa: F403  (re-exported: see generic.__all__)
from .generic import __all__ as _generic_all
from .handshake import *  # noqa: F403  (re-exported: see handshake.__all__)
from .handshake import __all__ as _handshake_all
from .packets import *  # noqa: F403  (re-exported: see packets.__all__)
from .packets import __all__ as _packets_all
from .results import *  # noqa: F403  (re-exported: see results.__all__)
from .results import __all__ as _results_all
from .statements import *  # noqa: F403  (re-exported: see statements.__all__)
from .statements import __all__ as _statements_all
from .wire import *  # noqa: F403  (re-exported: see wire.__all__)
from .wire import __all__ as _wire_all

__all__ = [
    *_wire_all,
    *_packets_all,
    *_generic_all,
    *_handshake_all,
    *_statements_all,
    *_commands_all,
    *_binary_all,
    *_results_all,
]
