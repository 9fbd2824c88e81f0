"""PostgreSQL v3 backend messages that belong to the session rather than to one query: the authentication
exchange (the Authentication* family, one type byte told apart by an int32 code), BackendKeyData,
NegotiateProtocolVersion and ParameterStatus, and the ErrorResponse, NoticeResponse and NotificationResponse
that can arrive at any time.

:mod:`.backend` dispatches to these; import from :mod:`.codec`. This module depends on nothing but the
standard library (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self, TypeAlias

from .wire import (
    _I32,
    _U32,
    Backend,
    BodyReader,
    ProtocolError,
    _Message,
    encode_cstring,
    encode_fields,
    parse_fields,
)

__all__ = [
    "AuthenticationCleartextPassword",
    "AuthenticationMD5Password",
    "AuthenticationMessage",
    "AuthenticationOk",
    "AuthenticationRequest",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "BackendKeyData",
    "ErrorResponse",
    "NegotiateProtocolVersion",
    "NoticeResponse",
    "NotificationResponse",
    "ParameterStatus",
]

# --- authentication -------------------------------------------------------------------------------------


class _Auth(_Message):
    """An authentication request without payload beyond its code."""

    __slots__ = ()
    type_byte: ClassVar[int] = Backend.AUTHENTICATION
    code: ClassVar[int]

    def body(self) -> bytes:
        return _I32.pack(self.code)

    @classmethod
    def _reader(cls, body: bytes) -> BodyReader:
        reader = BodyReader(body)
        if reader.int32() != cls.code:
            raise ProtocolError(f"not an {cls.__name__} message")
        return reader

    @classmethod
    def decode(cls, body: bytes) -> Self:
        cls._reader(body).finish()
        return cls()


class _AuthData(_Auth):
    """An authentication request whose payload is the rest of the body."""

    __slots__ = ()
    data: bytes

    def body(self) -> bytes:
        return _I32.pack(self.code) + self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(cls._reader(body).rest())  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class AuthenticationOk(_Auth):
    code: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword(_Auth):
    code: ClassVar[int] = 3


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password(_Auth):
    code: ClassVar[int] = 5
    salt: bytes

    def body(self) -> bytes:
        if len(self.salt) != 4:
            raise ValueError("the MD5 salt is 4 bytes")
        return _I32.pack(self.code) + self.salt

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = cls._reader(body)
        salt = reader.take(4)
        reader.finish()
        return cls(salt)


@dataclass(frozen=True, slots=True)
class AuthenticationSASL(_Auth):
    code: ClassVar[int] = 10
    mechanisms: tuple[str, ...]

    def body(self) -> bytes:
        if not all(self.mechanisms):
            raise ValueError("SASL mechanism names must not be empty")
        return _I32.pack(self.code) + b"".join(map(encode_cstring, self.mechanisms)) + b"\0"

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = cls._reader(body)
        mechanisms = []
        while mechanism := reader.cstring():
            mechanisms.append(mechanism)
        reader.finish()
        return cls(tuple(mechanisms))


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue(_AuthData):
    code: ClassVar[int] = 11
    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal(_AuthData):
    code: ClassVar[int] = 12
    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationRequest(_Message):
    """Any other authentication request (KerberosV5 2, GSS 7, GSSContinue 8, SSPI 9, ...), kept raw."""

    type_byte: ClassVar[int] = Backend.AUTHENTICATION
    code: int
    data: bytes = b""

    def body(self) -> bytes:
        return _I32.pack(self.code) + self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        code = reader.int32()
        return cls(code, reader.rest())


AuthenticationMessage: TypeAlias = (
    AuthenticationOk
    | AuthenticationCleartextPassword
    | AuthenticationMD5Password
    | AuthenticationSASL
    | AuthenticationSASLContinue
    | AuthenticationSASLFinal
    | AuthenticationRequest
)

_AUTH_CLASSES: dict[int, Callable[[bytes], AuthenticationMessage]] = {
    auth.code: auth.decode
    for auth in (
        AuthenticationOk,
        AuthenticationCleartextPassword,
        AuthenticationMD5Password,
        AuthenticationSASL,
        AuthenticationSASLContinue,
        AuthenticationSASLFinal,
    )
}


def _decode_authentication(body: bytes) -> AuthenticationMessage:
    code = BodyReader(body).int32()
    return _AUTH_CLASSES.get(code, AuthenticationRequest.decode)(body)


# --- session status and asynchronous messages ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendKeyData(_Message):
    type_byte: ClassVar[int] = Backend.BACKEND_KEY_DATA
    pid: int
    secret: int

    def body(self) -> bytes:
        return _U32.pack(self.pid) + _U32.pack(self.secret)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        pid, secret = reader.uint32(), reader.uint32()
        reader.finish()
        return cls(pid, secret)


@dataclass(frozen=True, slots=True)
class ParameterStatus(_Message):
    type_byte: ClassVar[int] = Backend.PARAMETER_STATUS
    name: str
    value: str

    def body(self) -> bytes:
        return encode_cstring(self.name) + encode_cstring(self.value)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        name, value = reader.cstring(), reader.cstring()
        reader.finish()
        return cls(name, value)


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion(_Message):
    type_byte: ClassVar[int] = Backend.NEGOTIATE_PROTOCOL_VERSION
    minor: int  # newest minor protocol version the server supports
    options: tuple[str, ...] = ()  # protocol options the server did not recognise

    def body(self) -> bytes:
        options = b"".join(map(encode_cstring, self.options))
        return _I32.pack(self.minor) + _I32.pack(len(self.options)) + options

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        minor, count = reader.int32(), reader.int32()
        if count < 0:
            raise ProtocolError(f"invalid option count {count}")
        options = tuple([reader.cstring() for _ in range(count)])
        reader.finish()
        return cls(minor, options)


class _Fields(_Message):
    __slots__ = ()
    fields: tuple[tuple[str, str], ...]

    def body(self) -> bytes:
        return encode_fields(self.fields)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls(tuple(parse_fields(body)))  # type: ignore[call-arg]

    @classmethod
    def build(
        cls,
        sqlstate: str,
        message: str,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
    ) -> Self:
        """Fields S and V (severity), C (sqlstate), M, and D/H when given."""
        if len(sqlstate) != 5 or not sqlstate.isascii() or not sqlstate.isalnum():
            raise ValueError(f"invalid SQLSTATE {sqlstate!r}")
        fields = [("S", severity), ("V", severity), ("C", sqlstate), ("M", message)]
        if detail is not None:
            fields.append(("D", detail))
        if hint is not None:
            fields.append(("H", hint))
        return cls(tuple(fields))  # type: ignore[call-arg]

    def field(self, code: str) -> str | None:
        """The value of the first field with this code, or None."""
        for field_code, value in self.fields:
            if field_code == code:
                return value
        return None

    @property
    def sqlstate(self) -> str:
        return self.field("C") or ""

    @property
    def message(self) -> str:
        return self.field("M") or ""

    @property
    def severity(self) -> str:
        """The non-localized severity (V) when present, else the localized one (S)."""
        return self.field("V") or self.field("S") or ""


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Fields):
    type_byte: ClassVar[int] = Backend.ERROR_RESPONSE
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Fields):
    type_byte: ClassVar[int] = Backend.NOTICE_RESPONSE
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NotificationResponse(_Message):
    type_byte: ClassVar[int] = Backend.NOTIFICATION_RESPONSE
    pid: int
    channel: str
    payload: str = ""

    def body(self) -> bytes:
        return _U32.pack(self.pid) + encode_cstring(self.channel) + encode_cstring(self.payload)

    @classmethod
    def decode(cls, body: bytes) -> Self:
        reader = BodyReader(body)
        pid = reader.uint32()
        channel, payload = reader.cstring(), reader.cstring()
        reader.finish()
        return cls(pid, channel, payload)
