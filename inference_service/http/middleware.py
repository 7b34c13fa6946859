"""What every HTTP request goes through before its endpoint, as one pure ASGI middleware.

In order: a request id (the client's ``x-request-id`` when valid, else a new one; echoed on every
response, errors included), bearer-token auth with the gRPC server's tokens and rules
(``lorafleet.server.auth.authorize``: the endpoints count as the read-only RPCs they mirror, so
``token:read`` may call them; ``/health`` needs no token, like gRPC health checks), the life-cycle
gate (503 while starting or draining), then the endpoint, counted in flight (so a drain can wait
for it) and measured (``lorafleet_http_*``, status and whole-response time, streams included).

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: no extra task per request, and
streaming responses and disconnects pass through untouched.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from inference_service.http import metrics
from inference_service.http.errors import OpenAIError, from_lorafleet, invalid
from inference_service.http.lifecycle import FrontState, Phase
from inference_service.request_parsing import parse_request_id
from lorafleet.errors import InvalidArgument, LoraFleetError
from lorafleet.server.auth import Token, authorize

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
EXEMPT_PATHS = frozenset({"/health"})
# The RPC each route mirrors, for the token's scope (read-only tokens may call all of them).
GENERATE_RPC = "/lorafleet.v1.InferenceService/Generate"
LIST_RPC = "/lorafleet.v1.RegistryService/ListAdapters"


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def request_id_of(scope: Scope) -> tuple[str, OpenAIError | None]:
    """The client's request id when valid, else a fresh one and the 400 to answer."""
    given = header(scope, REQUEST_ID_HEADER.encode())
    if not given:
        return uuid.uuid4().hex, None
    try:
        return parse_request_id(given), None
    except InvalidArgument as exc:
        return uuid.uuid4().hex, invalid(exc.message, REQUEST_ID_HEADER)


class FrontMiddleware:
    def __init__(self, app: ASGIApp, *, state: FrontState, tokens: list[Token]) -> None:
        self.app = app
        self.state = state
        self.tokens = list(tokens)

    def _unauthorized(self, scope: Scope) -> OpenAIError | None:
        path = scope["path"]
        if not self.tokens or path in EXEMPT_PATHS:
            return None
        rpc = LIST_RPC if path.startswith("/v1/models") else GENERATE_RPC
        rejected = authorize(self.tokens, rpc, header(scope, b"authorization"))
        if rejected is None:
            return None
        code, message = rejected
        err = LoraFleetError(message)
        err.code = code
        return from_lorafleet(err)

    def _unavailable(self) -> OpenAIError | None:
        if self.state.phase is not Phase.SERVING:
            return OpenAIError(503, f"the inference server is {self.state.phase.value}; retry shortly",
                               type_="service_unavailable_error", code=self.state.phase.value)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id, bad_id = request_id_of(scope)
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        labels = (metrics.method_label(scope["method"]), metrics.route_label(scope["path"]))
        try:
            refusal = self._unauthorized(scope) or bad_id or self._unavailable()
            if refusal is not None:
                await refusal.response()(scope, receive, send_with_id)
                return
            scope.setdefault("state", {})["request_id"] = request_id
            self.state.in_flight += 1
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self.state.in_flight -= 1
        finally:
            metrics.HTTP_REQUESTS.labels(*labels, str(status[0])).inc()
            metrics.HTTP_REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
