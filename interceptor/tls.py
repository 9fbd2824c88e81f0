"""TLS material and contexts (pyOpenSSL through Twisted): the gateway's server certificate, generated
self-signed on first run when none is configured, and the client-side options for upstream TLS modes."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet import ssl
from twisted.logger import Logger

log = Logger(namespace="interceptor.tls")

UPSTREAM_MODES = ("disable", "prefer", "require", "verify-full")


def ensure_certificate(cert: Path, key: Path) -> bool:
    """Make a self-signed certificate and key at these paths unless both exist. True if one was made."""
    if cert.exists() and key.exists():
        return False
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"interceptor on {host}"[:64])])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(host)]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    log.info("generated a self-signed TLS certificate at {cert}", cert=str(cert))
    return True


def server_options(cert: Path, key: Path) -> Any:
    """Twisted TLS options for the client-facing side (TLS 1.2 or newer)."""
    pem = cert.read_bytes() + b"\n" + key.read_bytes()
    private = ssl.PrivateCertificate.loadPEM(pem)
    options = ssl.CertificateOptions(
        privateKey=private.privateKey.original,
        certificate=private.original,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )
    # Twisted always installs an ALPN callback, and with no protocols of its own it answers a client that offers
    # ALPN (libpq 17 and newer offer "postgresql") with an empty choice, which OpenSSL turns into an "internal
    # error" alert: the handshake fails. Ours picks "postgresql" when offered, as PostgreSQL 17 does, and
    # otherwise goes on without ALPN. The options build their context once; this is that context.
    options.getContext().set_alpn_select_callback(_alpn_select)
    return options


def _alpn_select(conn: Any, offered: list[bytes]) -> Any:
    return b"postgresql" if b"postgresql" in offered else SSL.NO_OVERLAPPING_PROTOCOLS


def upstream_options(mode: str, host: str, ca: Path | None = None) -> Any:
    """Twisted TLS options for the upstream leg. ``require`` and ``prefer`` encrypt without checking who answers
    (as libpq does); ``verify-full`` checks the chain against ``ca`` (or the system's roots) and the host name."""
    if mode == "verify-full":
        trust = ssl.Certificate.loadPEM(ca.read_bytes()) if ca else ssl.platformTrust()
        return ssl.optionsForClientTLS(host, trustRoot=trust)
    return ssl.CertificateOptions(verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
