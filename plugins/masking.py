"""Built-in masking plugin: sensitive values are rewritten before the client sees them.

Per result set (never per row) it compiles one rewriter from the connection's policy: ``mask.columns`` globs
(``customers.card``, ``*.ssn``) matched against the table and real column name the relay resolved from the
catalog, and by output name; ``mask.detect`` detectors (card numbers with Luhn, US SSNs, emails, IBANs with
mod-97, phone numbers) scanning text values. Error, notice and notification text goes through the detectors too.
Rows it leaves unchanged are forwarded as their original bytes. A value it cannot process is redacted, never
passed (fail closed).

The ``hash`` strategy is keyed: the key is read from ``plugin_config.masking.key_file``, or made once in
``<data_dir>/masking.key`` (0600). Give every replica the same key file so hashes agree across the deployment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from interceptor.config import Config
from interceptor.hookspecs import hookimpl
from interceptor.masking.engine import compile_rewriter, mask_text
from interceptor.model import Column, Command, RowRewriter, Session
from interceptor.policy import MaskSpec, load_policies


class MaskingPlugin:
    def __init__(self) -> None:
        self.specs: dict[str, MaskSpec] = {}
        self._key_path: Path | None = None
        self._key: bytes | None = None
        self._compiled: dict[tuple[Any, ...], RowRewriter | None] = {}
        self._by_object: dict[int, tuple[Sequence[Column], MaskSpec, RowRewriter | None]] = {}
        self._text_rewriters: dict[int, tuple[MaskSpec, Callable[[str], str]]] = {}  # per spec, not per session
        self.known: frozenset[str] = frozenset()

    @hookimpl
    def interceptor_configure(self, config: Config, reactor: Any) -> None:
        policies = load_policies(config)
        self.specs = {name: p.mask for name, p in policies.items() if p.mask.active}
        self.known = frozenset(policies)
        self._compiled.clear()
        self._by_object.clear()
        self._text_rewriters.clear()
        key_file = config.plugin_settings("masking").get("key_file")
        self._key_path = Path(str(key_file)) if key_file else config.data_dir / "masking.key"
        if key_file and not self._key_path.is_file():
            raise config.error("plugin_config.masking.key_file", f"{key_file} is not a readable file")
        self._key = None  # read (or made) at first use, so `interceptor check` writes nothing

    def key(self) -> bytes:
        if self._key is None:
            assert self._key_path is not None
            path = self._key_path
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
            self._key = bytes.fromhex(path.read_text().strip())
        return self._key

    def _spec(self, session: Session) -> MaskSpec | None:
        if not session.policy:
            return None
        if session.policy not in self.known:  # removed by a reload: raising makes the relay withhold the result
            raise LookupError(f"policy {session.policy!r} is no longer configured")
        return self.specs.get(session.policy)

    @hookimpl
    def interceptor_result_rewriter(
        self, session: Session, command: Command, columns: Sequence[Column]
    ) -> RowRewriter | None:
        spec = self._spec(session)
        if spec is None:
            return None
        # The relay hands out one columns tuple per statement: that object finds its rewriter in one lookup.
        held = self._by_object.get(id(columns))
        if held is not None and held[0] is columns and held[1] is spec:
            return held[2]
        # the same statement shape describes the same columns: compile once, reuse (the rewriter is stateless)
        shape = (session.policy, tuple((c.name, c.type_name, c.table, c.source, c.binary) for c in columns))
        try:
            rewriter: RowRewriter | None = self._compiled[shape]
        except KeyError:
            rewriter = compile_rewriter(spec, columns, self.key())
            if len(self._compiled) >= 4096:
                self._compiled.clear()
            self._compiled[shape] = rewriter
        if type(columns) is tuple:
            if len(self._by_object) >= 1024:
                self._by_object.clear()
            self._by_object[id(columns)] = (columns, spec, rewriter)  # keeps the tuple alive: its id is not reused
        return rewriter

    @hookimpl
    def interceptor_message_rewriter(self, session: Session) -> Callable[[str], str] | None:
        spec = self._spec(session)
        if spec is None or not spec.detect:
            return None
        found = self._text_rewriters.get(id(spec))
        if found is not None and found[0] is spec:
            return found[1]
        key = self.key()
        rewriter: Callable[[str], str] = lambda text: mask_text(text, spec, key)  # noqa: E731  # one per policy
        self._text_rewriters[id(spec)] = (spec, rewriter)
        return rewriter
