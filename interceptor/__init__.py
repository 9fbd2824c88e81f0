"""interceptor: a Layer-7 access gateway."""

__version__ = "0.1.0.dev0"
