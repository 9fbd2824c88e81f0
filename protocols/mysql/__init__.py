"""MySQL/MariaDB client/server protocol: ``codec`` (sans-IO packets and framing) and ``auth`` (the pure
authentication-plugin helpers)."""
