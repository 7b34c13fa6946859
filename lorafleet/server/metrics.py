"""Prometheus metrics of the gRPC server itself, in grpc-prometheus vocabulary.

``lorafleet_grpc_server_started_total``    RPCs started, by grpc_type/grpc_service/grpc_method
``lorafleet_grpc_server_handled_total``    RPCs completed, additionally by grpc_code (OK, NOT_FOUND...)
``lorafleet_grpc_server_handling_seconds`` histogram of the time from start to completion
``lorafleet_build_info``                   constant 1 with version, role, python and grpcio labels

Labels are bounded: service and method names come from the proto files, never from request
content. The metrics live in the process's default registry, which the HTTP endpoint serves
together with every service's own metrics; each server process hosts one role.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import grpc
from prometheus_client import Counter, Histogram, Info, start_http_server

from lorafleet.server.handlers import behavior_of, rpc_type, split_method, with_behavior

log = logging.getLogger(__name__)

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

SERVER_STARTED = Counter(
    "lorafleet_grpc_server_started", "RPCs started on the server.", _LABELS
)
SERVER_HANDLED = Counter(
    "lorafleet_grpc_server_handled", "RPCs completed on the server, regardless of success or failure.",
    (*_LABELS, "grpc_code"),
)
SERVER_HANDLING_SECONDS = Histogram(
    "lorafleet_grpc_server_handling_seconds",
    "Time from the start of an RPC to its completion on the server.",
    _LABELS,
    # From a health check (~100 us) to a long generation or a streamed training job.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BUILD_INFO = Info("lorafleet_build", "LoRAFleet build and runtime versions of this server process.")


def set_build_info(role: str) -> None:
    BUILD_INFO.info({
        "version": metadata.version("lorafleet"),
        "role": role,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    })


def _code_name(code: Any) -> str:
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status.name
    return "UNKNOWN"


def _final_code(context: Any, exc: BaseException | None) -> str:
    """Status the client will see, following what ``grpc.aio`` itself sends.

    Returned normally: the code the servicer set (``set_code``) or OK. Aborted: the abort code.
    Cancelled task: DEADLINE_EXCEEDED if the deadline passed, else CANCELLED. Any other
    exception: UNKNOWN (grpc.aio answers unexpected exceptions with UNKNOWN).
    """
    code = context.code()
    if exc is None:
        return _code_name(code) if code is not None else "OK"
    if isinstance(exc, grpc.aio.AbortError):
        return _code_name(code)
    if isinstance(exc, asyncio.CancelledError):
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    return _code_name(code) if code not in (None, grpc.StatusCode.OK) else "UNKNOWN"


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every RPC, including those rejected by interceptors further in."""

    async def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED itself
            return None
        service, method = split_method(details.method)
        labels = (rpc_type(handler), service, method)
        return with_behavior(handler, _instrument(behavior_of(handler), labels))


def _instrument(behavior: Callable[..., Any], labels: tuple[str, str, str]) -> Callable[..., Any]:
    def begin() -> float:
        SERVER_STARTED.labels(*labels).inc()
        return time.perf_counter()

    def end(start: float, context: Any, exc: BaseException | None) -> None:
        SERVER_HANDLING_SECONDS.labels(*labels).observe(time.perf_counter() - start)
        SERVER_HANDLED.labels(*labels, _final_code(context, exc)).inc()

    if inspect.isasyncgenfunction(behavior):

        async def stream_behavior(request: Any, context: Any) -> Any:
            start, exc = begin(), None
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as e:
                exc = e
                raise
            finally:
                end(start, context, exc)

        return stream_behavior

    if inspect.iscoroutinefunction(behavior):

        async def async_behavior(request: Any, context: Any) -> Any:
            start, exc = begin(), None
            try:
                return await behavior(request, context)
            except BaseException as e:
                exc = e
                raise
            finally:
                end(start, context, exc)

        return async_behavior

    def sync_behavior(request: Any, context: Any) -> Any:
        start, exc = begin(), None
        try:
            return behavior(request, context)
        except BaseException as e:
            exc = e
            raise
        finally:
            end(start, context, exc)

    return sync_behavior


class MetricsHttpServer:
    """The ``/metrics`` endpoint (prometheus_client's threaded HTTP server)."""

    def __init__(self, host: str, port: int) -> None:
        self._httpd, self._thread = start_http_server(port, addr=host)
        self.host = host
        self.port: int = self._httpd.server_port

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
