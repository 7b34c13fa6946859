"""Errors that carry their gRPC status code, on both sides of the wire.

Server code raises these; the servicer layer (``lorafleet.server.errors``) turns them into a
gRPC status with the same code and a message of the form ``"<field>: <reason>"``. Bad input
therefore never surfaces as INTERNAL. A client turns a failed call back into the same class with
``from_rpc_error`` (``InvalidArgument`` with ``.field`` and ``.message``, ``NotFound``...).
"""

from __future__ import annotations

import grpc

#: Characters of a bad value an error message quotes; the rest is only counted.
QUOTE_CHARS = 40


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """A bad value for an error message: ``repr`` of at most ``limit`` characters, and the length when cut.

    Errors must never echo a whole input (a 1 MiB name would not fit in gRPC's status metadata):
    ``quote("a" * 10_000)`` is ``'aaaa…'… (10000 characters)``. Control characters come out
    escaped, as ``repr`` writes them.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    return f"{text[:limit]!r}… ({len(text)} characters)"


class LoraFleetError(Exception):
    """Base class. ``field`` names the offending request field (dotted path) when there is one."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(LoraFleetError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LoraFleetError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(LoraFleetError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(LoraFleetError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(LoraFleetError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Aborted(LoraFleetError):
    """A compare-and-set lost a race; the caller may retry with fresh state."""

    code = grpc.StatusCode.ABORTED


class Unavailable(LoraFleetError):
    code = grpc.StatusCode.UNAVAILABLE


class Cancelled(LoraFleetError):
    code = grpc.StatusCode.CANCELLED


class DeadlineExceeded(LoraFleetError):
    """The call's deadline passed before the work ended (a generation stopped part-way)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


_BY_CODE: dict[grpc.StatusCode, type[LoraFleetError]] = {
    cls.code: cls for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, ResourceExhausted,
                              Aborted, Unavailable, Cancelled, DeadlineExceeded)
}


def from_rpc_error(exc: grpc.RpcError) -> LoraFleetError:
    """The typed error of a failed call: the class of its status code, ``field`` and ``message``
    split from the server's ``"<field>: <reason>"`` details (codes without a class keep
    ``LoraFleetError`` with ``.code`` set to the call's code)."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if callable(getattr(exc, "details", None)) else str(exc)) or ""
    field, sep, reason = details.partition(": ")
    looks_like_field = bool(sep) and bool(field) and " " not in field and len(field) <= 128
    cls = _BY_CODE.get(code, LoraFleetError)
    err = cls(reason if looks_like_field else details, field=field if looks_like_field else None)
    if cls is LoraFleetError:
        err.code = code
    return err

