"""A small fake MySQL server for the upstream leg's tests, built from the codec, for what the MariaDB 10.11 on
this machine cannot show: caching_sha2_password (fast path, full authentication with RSA or inside TLS),
mysql_clear_password and sha256_password, auth switches between them, and servers that misbehave.

It checks what the client sends the way a server does (scrambles against stored hashes, the RSA-encrypted
password decrypted with its private key), and records every byte it received (inside TLS: the decrypted bytes),
so a test can assert that a password never arrived.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from twisted.internet.protocol import Factory, Protocol

from interceptor.protocols.mysql.auth import (
    CACHING_SHA2_PASSWORD,
    MYSQL_NATIVE_PASSWORD,
    native_password_hash,
    read_full_auth_password,
    sha2_password_hash,
    verify_caching_sha2_scramble,
    verify_native_scramble,
    xor_password,
)
from interceptor.protocols.mysql.codec import (
    AuthMoreData,
    AuthSwitchRequest,
    Capability,
    ERRPacket,
    HandshakeResponse41,
    HandshakeV10,
    OKPacket,
    PacketReader,
    ProtocolError,
    SequenceTracker,
    ServerStatus,
    SSLRequest,
    decode_client_hello,
    split_payload,
)

C = Capability
# a MySQL-8-like greeting (bit 0 set: no MariaDB extended capabilities); COMPRESS is offered but must not be taken
SERVER_CAPS = int(
    C.LONG_PASSWORD | C.FOUND_ROWS | C.LONG_FLAG | C.CONNECT_WITH_DB | C.COMPRESS | C.LOCAL_FILES | C.PROTOCOL_41
    | C.TRANSACTIONS | C.SECURE_CONNECTION | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.PS_MULTI_RESULTS
    | C.PLUGIN_AUTH | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.SESSION_TRACK | C.DEPRECATE_EOF
)  # fmt: skip


def rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Script:
    """How the fake server behaves. ``sha2``: ``fast`` (the scramble is checked), ``full`` (AuthMoreData 0x04)
    or ``pem_first`` (the public key straight away, unasked)."""

    password: str
    greeting_plugin: str = MYSQL_NATIVE_PASSWORD
    account_plugin: str = MYSQL_NATIVE_PASSWORD
    sha2: str = "fast"
    capabilities: int = SERVER_CAPS
    tls: Any = None  # server-side TLS options: the greeting offers SSL when set
    rsa_key: rsa.RSAPrivateKey | None = None
    after_ok: bytes = b""  # written together with the final OK
    bad_seq: bool = False  # the first reply after the client's response carries a wrong sequence id
    second_switch: bool = False  # answer the switched plugin's answer with another switch


@dataclass
class Record:
    received: bytearray = field(default_factory=bytearray)
    ssl_request: SSLRequest | None = None
    response: HandshakeResponse41 | None = None
    answers: list[bytes] = field(default_factory=list)  # every auth packet after the response
    nonce: bytes = b""  # the last nonce the server sent
    rsa_plain: bytes | None = None  # the decrypted RSA payload
    key_requested: bool = False
    logged_in: bool = False
    queries: list[bytes] = field(default_factory=list)
    error: str | None = None


class FakeServer(Protocol):
    transport: Any

    def __init__(self, script: Script, record: Record) -> None:
        self.script, self.record = script, record
        self.reader = PacketReader(1 << 24)
        self.seq = SequenceTracker()
        self.nonce = record.nonce = secrets.token_bytes(20).replace(b"\0", b"\1")
        self.state = "hello"
        self.caps = 0
        self.tls = False

    def connectionMade(self) -> None:
        caps = self.script.capabilities | (C.SSL if self.script.tls else 0)
        greeting = HandshakeV10("8.0.99-fake", 7, self.nonce, caps, 255, 2, self.script.greeting_plugin)
        self.send(greeting.encode())

    def send(self, payload: bytes, extra: bytes = b"") -> None:
        self.transport.write(split_payload(payload, self.seq.next()) + extra)

    def dataReceived(self, data: bytes) -> None:
        self.record.received += data
        try:
            buf, packets = self.reader.feed_offsets(data)
            for seq, start, end in packets:
                if self.state == "command":
                    self.seq.reset()
                self.seq.check(seq)
                self.handle(buf[start + 4 : end])
                if self.tls and self.record.response is None:  # TLS just started: what followed is TLS
                    self.reader = PacketReader(1 << 24)
                    if buf[end:]:
                        self.transport.protocol.dataReceived(buf[end:])
                    return
        except ProtocolError as err:
            self.record.error = str(err)
            self.transport.loseConnection()

    def handle(self, payload: bytes) -> None:
        record, script = self.record, self.script
        if self.state == "hello":
            hello = decode_client_hello(payload)
            if isinstance(hello, SSLRequest):
                record.ssl_request = hello
                self.tls = True
                self.transport.startTLS(script.tls)
                return
            record.response, self.caps = hello, hello.capabilities
            if script.bad_seq:
                self.seq.next()  # skip one: the client must notice
            if hello.auth_plugin_name != script.account_plugin:
                self.switch(script.account_plugin)
            else:
                self.check(hello.auth_response)
        elif self.state == "auth":
            record.answers.append(payload)
            if script.second_switch:
                self.switch(MYSQL_NATIVE_PASSWORD)
            else:
                self.check(payload)
        elif self.state == "full":
            record.answers.append(payload)
            if payload == b"\x02":
                record.key_requested = True
                self.send_key()
            elif self.tls:
                self.finish(read_full_auth_password(payload) == script.password)
            else:  # encrypted with a key the client already had
                self.check_rsa(payload)
        elif self.state == "rsa":
            record.answers.append(payload)
            self.check_rsa(payload)
        elif self.state == "command":
            if payload[:1] == b"\x01":
                self.transport.loseConnection()
                return
            record.queries.append(payload)
            self.send(OKPacket(status=ServerStatus.AUTOCOMMIT, info="fake: " + payload[1:].decode()).encode(self.caps))

    def switch(self, plugin: str) -> None:
        self.nonce = self.record.nonce = secrets.token_bytes(20).replace(b"\0", b"\1")
        self.state = "auth"
        self.send(AuthSwitchRequest(plugin, self.nonce + b"\0").encode())

    def check(self, data: bytes) -> None:
        script, plugin = self.script, self.script.account_plugin
        if not script.password and plugin in (MYSQL_NATIVE_PASSWORD, CACHING_SHA2_PASSWORD):
            self.finish(data == b"")  # an account without a password: the client sends nothing
        elif plugin == MYSQL_NATIVE_PASSWORD:
            self.finish(verify_native_scramble(data, self.nonce, native_password_hash(script.password)))
        elif plugin == CACHING_SHA2_PASSWORD and script.sha2 == "fast":
            if verify_caching_sha2_scramble(data, self.nonce, sha2_password_hash(script.password)):
                self.send(AuthMoreData(b"\x03").encode())
                self.finish(True)
            else:
                self.finish(False)
        elif plugin == CACHING_SHA2_PASSWORD and script.sha2 == "full":
            self.state = "full"
            self.send(AuthMoreData(b"\x04").encode())
        elif plugin == CACHING_SHA2_PASSWORD:
            self.send_key()
        else:  # mysql_clear_password, sha256_password (over TLS: the password and a NUL)
            self.finish(self.tls and data == script.password.encode() + b"\0")

    def check_rsa(self, payload: bytes) -> None:
        assert self.script.rsa_key is not None
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        self.record.rsa_plain = self.script.rsa_key.decrypt(payload, oaep)
        self.finish(self.record.rsa_plain == xor_password(self.script.password, self.nonce))

    def send_key(self) -> None:
        assert self.script.rsa_key is not None
        self.state = "rsa"
        self.send(AuthMoreData(rsa_pem(self.script.rsa_key)).encode())

    def finish(self, ok: bool) -> None:
        if ok:
            self.record.logged_in = True
            self.state = "command"
            self.send(OKPacket(status=ServerStatus.AUTOCOMMIT).encode(self.caps), self.script.after_ok)
        else:
            user = self.record.response.username if self.record.response else "?"
            err = ERRPacket(1045, "28000", f"Access denied for user '{user}'@'localhost' (using password: YES)")
            self.send(err.encode(self.caps))
            self.transport.loseConnection()


class FakeServerFactory(Factory):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.records: list[Record] = []

    def buildProtocol(self, addr: Any) -> FakeServer:
        record = Record()
        self.records.append(record)
        return FakeServer(self.script, record)

    @property
    def record(self) -> Record:
        assert len(self.records) == 1, self.records
        return self.records[0]
