"""Wire protocols: one sub-package per protocol (codec + relay)."""
