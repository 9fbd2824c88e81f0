"""Masking: a pure, protocol-neutral engine that finds and masks sensitive values.

- :mod:`.detectors`: card numbers (Luhn), US SSNs, emails, IBANs (mod 97) and phone numbers in free text;
- :mod:`.strategies`: ``redact``, ``partial`` and ``hash``, each idempotent;
- :mod:`.engine`: :func:`~.engine.mask_text` for free text and :func:`~.engine.compile_rewriter`, which builds
  one row rewriter per result set.
"""

from .engine import compile_rewriter, compile_text_masker, mask_text

__all__ = ["compile_rewriter", "compile_text_masker", "mask_text"]
