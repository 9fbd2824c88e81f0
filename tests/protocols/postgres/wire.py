"""Raw PostgreSQL wire helpers for tests that must send what no well-behaved client would."""

from __future__ import annotations

import socket
import struct


def recv_all(s: socket.socket, limit: int = 65536) -> bytes:
    s.settimeout(5)
    data = b""
    while len(data) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def error_fields(data: bytes) -> dict[str, str]:
    assert data[:1] == b"E", data[:40]
    (length,) = struct.unpack("!i", data[1:5])
    fields = {}
    for part in data[5 : 1 + length].split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


def startup(user: str, database: str) -> bytes:
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{database}\0\0".encode()
    return struct.pack("!i", len(body) + 4) + body


def password(token: str) -> bytes:
    body = token.encode() + b"\0"
    return b"p" + struct.pack("!i", len(body) + 4) + body


def recv_until_ready(s: socket.socket, timeout: float = 10) -> bytes:
    """Read until a ReadyForQuery arrives; returns everything read."""
    s.settimeout(timeout)
    data = b""
    while b"Z\x00\x00\x00\x05" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def messages(data: bytes) -> list[tuple[str, bytes]]:
    """The backend messages in ``data`` as (type, body) pairs."""
    out, pos = [], 0
    while pos + 5 <= len(data):
        (length,) = struct.unpack_from("!i", data, pos + 1)
        out.append((chr(data[pos]), data[pos + 5 : pos + 1 + length]))
        pos += 1 + length
    return out


def login(s: socket.socket, user: str, database: str, token: str) -> bytes:
    """Log ``s`` in with a token (cleartext password, as on plaintext loopback); returns the answer up to and
    including ReadyForQuery."""
    s.sendall(startup(user, database))
    assert s.recv(9)[:1] == b"R", "the gateway asks for the password"
    s.sendall(password(token))
    return recv_until_ready(s)
