"""Built-in plugins, registered through the entry-point group ``interceptor``."""
