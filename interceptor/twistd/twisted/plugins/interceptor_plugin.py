"""twistd plugin: ``twistd -n interceptor -c FILE``."""

from twisted.application.service import ServiceMaker

interceptor = ServiceMaker(
    "interceptor",
    "interceptor.tap",
    "A Layer-7 access gateway for PostgreSQL, MySQL, SSH and HTTP.",
    "interceptor",
)
