"""Errors in OpenAI's JSON shape, with the HTTP status that matches the failure.

Every failure the HTTP front answers is ``{"error": {"message", "type", "param", "code"}}``, as the
OpenAI API (and the official SDKs, which raise ``BadRequestError``, ``AuthenticationError``,
``NotFoundError``, ``RateLimitError``... from the status) expect. ``from_lorafleet`` translates the
domain errors that validation, routing and the engine raise (``lorafleet.errors``): their gRPC code
picks the status, their ``field`` (``adapter``, ``sampling.temperature``...) becomes the request's
own parameter name (``model``, ``temperature``) through the caller's ``param_of``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
from starlette.responses import Response

from lorafleet.errors import LoraFleetError

RETRY_AFTER_S = "1"

# gRPC status -> (HTTP status, OpenAI error type, default code)
_BY_CODE: dict[grpc.StatusCode, tuple[int, str, str | None]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error", None),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid_request_error", "model_not_servable"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_request_error", None),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid_request_error", "invalid_api_key"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_error", "permission_denied"),
    grpc.StatusCode.NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limit_error", "queue_full"),
    grpc.StatusCode.CANCELLED: (499, "invalid_request_error", "cancelled"),
    grpc.StatusCode.UNAVAILABLE: (503, "service_unavailable_error", "unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout_error", "deadline_exceeded"),
}
_RETRYABLE = frozenset({429, 503})


class OpenAIError(Exception):
    """A failure to answer with ``status`` and OpenAI's error body."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        out = {"retry-after": RETRY_AFTER_S} if self.status in _RETRYABLE else {}
        if self.status == 401:
            out["www-authenticate"] = "Bearer"
        return out

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(self.body()), status_code=self.status, media_type="application/json",
                        headers={**self.headers(), **(headers or {})})


def invalid(message: str, param: str | None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, f"{param}: {message}" if param else message, param=param, code=code)


def from_lorafleet(exc: LoraFleetError, param_of: Callable[[str | None], str | None] = lambda f: f) -> OpenAIError:
    """The OpenAI-shaped error of a domain error (``param_of`` renames its field)."""
    status, type_, code = _BY_CODE.get(exc.code, (500, "server_error", None))
    param = param_of(exc.field)
    message = f"{param}: {exc.message}" if param else exc.message
    return OpenAIError(status, message, type_=type_, param=param, code=code)


def internal(exc: BaseException) -> OpenAIError:
    return OpenAIError(500, f"internal error: {type(exc).__name__}: {exc}"[:500], type_="server_error",
                       code="internal_error")
