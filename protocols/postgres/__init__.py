"""PostgreSQL protocol v3: ``codec`` (sans-IO frames and messages), ``client`` (the client-facing leg),
``upstream`` (the server-facing leg), ``relay`` (both legs once logged in) and ``tracker`` (which response
answers which message)."""
