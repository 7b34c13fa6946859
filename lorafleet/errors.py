"""Domain errors that carry their gRPC status code.

Core code raises these; the servicer layer (``lorafleet.server.errors``) turns them into a
gRPC status with the same code and a message of the form ``"<field>: <reason>"``. Bad input
therefore never surfaces as INTERNAL.
"""

from __future__ import annotations

import grpc


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


class DeadlineExceeded(LoraFleetError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(LoraFleetError):
    code = grpc.StatusCode.CANCELLED
