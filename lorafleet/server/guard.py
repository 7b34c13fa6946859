"""The server-wide guard: no exception leaves a handler as UNKNOWN or with a stack trace or the input in it.

``GuardInterceptor`` rebuilds every async handler of the server (services, health, reflection):

* its request deserializer never raises: a body that is not a valid message of the method's request
  type (``DecodeError``: corrupt wire format, invalid UTF-8 in a string field, nesting past
  protobuf's limit) becomes an :class:`Undecodable` marker, and the call ends with INVALID_ARGUMENT
  ``"request: body is not a valid <type> message"`` before the servicer sees it. On a streaming
  request the same happens at the first bad message. grpc.aio itself answers UNKNOWN
  ``Unexpected <class 'DecodeError'>`` there; gRPC's C++ and Go servers answer INTERNAL.
  LoRAFleet answers INVALID_ARGUMENT: the caller sent it, and retrying it can never succeed.
* any exception leaving the behaviour becomes the status ``lorafleet.server.errors.status_for``
  gives it (domain errors keep their code, an unreachable database is UNAVAILABLE, anything else
  INTERNAL with a short message and an incident id; the details are logged, not sent).

It runs inside the auth interceptor, so an unauthenticated caller is refused before its body is
looked at. Cancellation (``CancelledError``) and aborts pass through untouched.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from lorafleet.server.errors import status_for
from lorafleet.server.handlers import behavior_of, split_method, with_behavior

log = logging.getLogger(__name__)


class Undecodable:
    """What the guarded deserializer returns for a body it could not parse."""

    __slots__ = ("size", "type_name")

    def __init__(self, type_name: str, size: int) -> None:
        self.type_name = type_name
        self.size = size

    @property
    def details(self) -> str:
        return f"request: body is not a valid {self.type_name} message"


def _type_name(deserializer: Callable[[bytes], Any]) -> str:
    owner = getattr(deserializer, "__self__", None)  # SomeRequest.FromString is bound to its class
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", None) or "request"


def guard_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` that returns :class:`Undecodable` instead of raising."""
    if deserializer is None:
        return None
    type_name = _type_name(deserializer)

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # any parse failure: the caller's body, never a server bug
            return Undecodable(type_name, len(raw))

    return deserialize


async def _refuse(context: Any, method: str, marker: Undecodable) -> None:
    log.info("undecodable request", extra={"rpc": method, "type": marker.type_name, "bytes": marker.size})
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, marker.details)


async def _fail(context: Any, method: str, exc: Exception) -> None:
    code, details = status_for(exc, method)
    await context.abort(code, details)


def _checked(requests: AsyncIterator[Any], context: Any, method: str) -> AsyncIterator[Any]:
    async def checked() -> AsyncIterator[Any]:
        async for message in requests:
            if isinstance(message, Undecodable):
                await _refuse(context, method, message)
            yield message

    return checked()


def _guard_behavior(behavior: Callable[..., Any], method: str, request_streaming: bool) -> Callable[..., Any]:
    async def prepare(request: Any, context: Any) -> Any:
        if request_streaming:
            return _checked(request, context, method)
        if isinstance(request, Undecodable):
            await _refuse(context, method, request)
        return request

    if inspect.isasyncgenfunction(behavior):

        async def guarded_stream(request: Any, context: Any) -> Any:
            request = await prepare(request, context)
            try:
                async for item in behavior(request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:
                await _fail(context, method, exc)

        return guarded_stream

    async def guarded(request: Any, context: Any) -> Any:
        request = await prepare(request, context)
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _fail(context, method, exc)

    return guarded


def guard_handler(handler: grpc.RpcMethodHandler, full_method: str) -> grpc.RpcMethodHandler:
    """``handler`` with a guarded deserializer and behaviour; a sync behaviour is returned as it is."""
    behavior = behavior_of(handler)
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
        return handler
    service, name = split_method(full_method)
    return with_behavior(handler, _guard_behavior(behavior, f"{service}.{name}", bool(handler.request_streaming)),
                         request_deserializer=guard_deserializer(handler.request_deserializer))


class GuardInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        return guard_handler(handler, details.method)
