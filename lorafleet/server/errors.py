"""Turn domain errors into gRPC statuses at the servicer edge.

``@grpc_errors`` wraps an async unary method or an async-generator streaming method. A
``LoraFleetError`` becomes its own status code with ``"<field>: <reason>"`` as details; anything
else is logged with the method name and becomes INTERNAL (a bug, never a user error).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

import grpc

from lorafleet.errors import LoraFleetError

log = logging.getLogger(__name__)


async def _abort(context: Any, method: str, exc: BaseException) -> None:
    if isinstance(exc, LoraFleetError):
        log.info("rpc rejected",
                 extra={"rpc": method, "code": exc.code.name, "field": exc.field, "reason": exc.message})
        await context.abort(exc.code, str(exc))
    log.exception("rpc failed", extra={"rpc": method}, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}: {type(exc).__name__}: {exc}")


def grpc_errors(fn: Any) -> Any:
    name = fn.__qualname__
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream_wrapper(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in fn(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:
                await _abort(context, name, exc)

        return stream_wrapper

    @functools.wraps(fn)
    async def unary_wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await fn(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, name, exc)

    return unary_wrapper
