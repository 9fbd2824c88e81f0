"""What every framed wire protocol's reader shares: keeping the bytes of an unfinished frame between chunks.

Pure (stdlib only), like the codecs that use it. A reader calls :meth:`ChunkBuffer._take` with each chunk; it
returns the bytes to split (the chunk itself when nothing was pending, so no copy), or ``None`` while the pending
frame is still incomplete. After splitting, :meth:`ChunkBuffer._keep` stores the unfinished tail and how many
bytes it needs before it is worth splitting again. A framing error is final: :meth:`ChunkBuffer._fail` records it
and every later chunk raises it again, because the stream cannot be resynchronised.
"""

from __future__ import annotations


class ChunkBuffer:
    __slots__ = ("_chunks", "_error", "_need", "_pending")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pending = 0
        self._need = 0  # bytes needed before the first pending frame (or its header) is complete
        self._error: Exception | None = None

    @property
    def pending(self) -> int:
        """Number of buffered bytes that are not yet part of a complete frame."""
        return self._pending

    def _fail(self, error: Exception) -> Exception:
        self._error = error
        return error

    def _take(self, data: bytes) -> bytes | None:
        if self._error is not None:
            raise self._error
        if not self._pending:
            return data
        self._chunks.append(data)
        self._pending += len(data)
        if self._pending < self._need:
            return None
        buf = b"".join(self._chunks)
        self._chunks = []
        self._pending = 0
        return buf

    def _keep(self, buf: bytes, pos: int, need: int) -> None:
        if pos < len(buf):
            self._chunks.append(buf[pos:] if pos else buf)
            self._pending = len(buf) - pos
            self._need = need
