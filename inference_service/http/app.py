"""The Starlette application: OpenAI's routes over the inference server's front door.

``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed as server-sent events when
``stream`` is true), ``GET /v1/models`` (and ``/v1/models/{model}``), ``GET /health``. A body is
read up to ``http_max_body_bytes`` (413 beyond, decided from ``Content-Length`` when the client
sends one), decoded (400 when it is not JSON), validated (``openai_schema``), mapped
(``translate``) and only then handed to ``FrontDoor.start``, so a refused request never reaches the
engine's queue. Routing, canary and shadow rollouts and live reports are the front door's, as for
gRPC. A non-streamed request whose client disconnects is cancelled in the engine as a stream is
(``sse``): a task waits for the disconnect while the reply is generated.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from inference_service.http.errors import OpenAIError, from_lorafleet, internal, invalid
from inference_service.http.lifecycle import Backend, FrontState
from inference_service.http.middleware import FrontMiddleware
from inference_service.http.models import list_models, retrieve_model
from inference_service.http.openai_schema import ignored_fields, parse_body, reject_stream_options
from inference_service.http.responses import Reply
from inference_service.http.sse import GenerationStream
from inference_service.http.translate import ParamNames, front_request, param_names
from inference_service.routing import ROUTE_KEY_HEADER
from lorafleet.errors import LoraFleetError

if TYPE_CHECKING:
    from starlette.types import Receive

    from inference_service.front_door import Generation
    from lorafleet.server.auth import Token

log = logging.getLogger(__name__)

RESOLVED_HEADER = "x-lorafleet-resolved-adapter"


def json_response(data: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False), status_code=status,
                    media_type="application/json", headers=headers)


async def read_json(request: Request, limit: int) -> object:
    """The decoded body; 413 past ``limit`` bytes (nothing more is read), 400 when it is not JSON."""
    too_large = OpenAIError(413, f"the request body exceeds {limit} bytes", code="request_too_large")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect:  # gone before its body arrived: nothing to answer, nothing started
        raise OpenAIError(499, "the client disconnected while sending the body", code="cancelled") from None
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid(f"the body is not valid JSON ({exc})", None, code="invalid_json") from None


async def cancel_on_disconnect(receive: Receive, generation: Generation) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    generation.handle.cancel()


@dataclass(frozen=True)
class Started:
    generation: Generation
    reply: Reply
    stream: bool
    names: ParamNames


class Endpoints:
    def __init__(self, state: FrontState, max_body_bytes: int) -> None:
        self.state = state
        self.max_body_bytes = max_body_bytes

    @property
    def backend(self) -> Backend:
        assert self.state.backend is not None  # the middleware answers 503 until the backend is set
        return self.state.backend

    async def chat_completions(self, request: Request) -> Response:
        return await self._generate(request, "chat")

    async def completions(self, request: Request) -> Response:
        return await self._generate(request, "completion")

    async def _start(self, request: Request, kind: Literal["chat", "completion"]) -> Started:
        """Read, validate, map, start; an ``OpenAIError`` for whatever refuses the request."""
        backend = self.backend
        body = parse_body(kind, await read_json(request, self.max_body_bytes))
        reject_stream_options(body)
        if ignored_fields(body):
            log.debug("ignored request fields", extra={"fields": ignored_fields(body)})
        route_key = request.headers.get(ROUTE_KEY_HEADER)
        names = param_names(body, route_key)
        front = front_request(body, request_id=request.scope["state"]["request_id"], route_key_header=route_key,
                              settings=backend.settings, base_model=backend.base_model, names=names)
        try:
            generation = await backend.front_door.start(front)
        except LoraFleetError as exc:
            raise from_lorafleet(exc, names) from None
        reply = Reply(chat=kind == "chat", request_id=front.request_id,
                      model=generation.resolved_ref or backend.base_model, fingerprint=backend.fingerprint,
                      include_usage=bool(body.stream and body.stream_options and body.stream_options.include_usage))
        return Started(generation, reply, bool(body.stream), names)

    async def _generate(self, request: Request, kind: Literal["chat", "completion"]) -> Response:
        try:
            started = await self._start(request, kind)
        except OpenAIError as exc:
            return exc.response()
        generation, names = started.generation, started.names
        headers = {RESOLVED_HEADER: generation.resolved_ref}
        if started.stream:
            return GenerationStream(generation, started.reply, lambda e: error_of(e, names), headers)
        watcher = asyncio.ensure_future(cancel_on_disconnect(request.receive, generation))
        try:
            text: list[str] = []
            async for ev in generation.events():
                if ev.error is not None:
                    return error_of(ev.error, names).response(headers)
                text.append(ev.delta)
                if ev.finish_reason is not None:
                    return json_response(started.reply.completion("".join(text), ev.finish_reason, ev.usage),
                                         headers=headers)
            raise RuntimeError("the generation ended without a final event")
        finally:
            watcher.cancel()
            generation.close()

    async def models(self, request: Request) -> Response:
        b = self.backend
        return json_response(await list_models(b.registry, base_model=b.base_model, fingerprint=b.fingerprint,
                                               created=b.created))

    async def model(self, request: Request) -> Response:
        b = self.backend
        try:
            return json_response(await retrieve_model(b.front_door.resolver, request.path_params["model"],
                                                      base_model=b.base_model, created=b.created))
        except LoraFleetError as exc:
            return from_lorafleet(exc, lambda field: "model" if field == "adapter" else field).response()

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})


def error_of(exc: BaseException, names: ParamNames) -> OpenAIError:
    if isinstance(exc, LoraFleetError):
        return from_lorafleet(exc, names)
    log.error("generation failed", exc_info=exc)
    return internal(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
    return OpenAIError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("http request failed", extra={"path": request.url.path}, exc_info=exc)
    return internal(exc).response()


def build_app(state: FrontState, *, tokens: list[Token], max_body_bytes: int) -> Starlette:
    e = Endpoints(state, max_body_bytes)
    routes = [Route("/v1/chat/completions", e.chat_completions, methods=["POST"]),
              Route("/v1/completions", e.completions, methods=["POST"]),
              Route("/v1/models", e.models, methods=["GET"]),
              Route("/v1/models/{model:path}", e.model, methods=["GET"]),
              Route("/health", e.health, methods=["GET"])]
    return Starlette(routes=routes, middleware=[Middleware(FrontMiddleware, state=state, tokens=tokens)],
                     exception_handlers={HTTPException: _http_error, Exception: _server_error})
