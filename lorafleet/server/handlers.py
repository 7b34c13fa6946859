"""Rebuild a ``grpc.RpcMethodHandler`` around a wrapped behaviour, whatever its streaming kind.

Interceptors of ``grpc.aio`` receive a handler and must return one of the same kind (unary or
streaming request/response) with the same (de)serializers. The four ``grpc.*_rpc_method_handler``
factories differ only in which attribute holds the behaviour, so one table covers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

# (request_streaming, response_streaming) -> (handler attribute, factory, grpc_type label)
_KINDS: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler], str]] = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler, "unary"),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler, "server_stream"),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler, "client_stream"),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler, "bidi_stream"),
}


def _kind(handler: grpc.RpcMethodHandler) -> tuple[str, Callable[..., grpc.RpcMethodHandler], str]:
    return _KINDS[(bool(handler.request_streaming), bool(handler.response_streaming))]


def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    """grpc-prometheus ``grpc_type``: unary, client_stream, server_stream or bidi_stream."""
    return _kind(handler)[2]


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    return getattr(handler, _kind(handler)[0])


def with_behavior(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any], *,
                  request_deserializer: Callable[[bytes], Any] | None = None) -> grpc.RpcMethodHandler:
    """A handler of the same kind and serializers as ``handler`` that runs ``behavior`` (and parses
    requests with ``request_deserializer`` when one is given)."""
    _, factory, _ = _kind(handler)
    return factory(
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def metadata_value(metadata: Any, key: str) -> str | None:
    """First value of ``key`` (lower-case) in invocation metadata, or None."""
    for item in metadata or ():
        k, v = item[0], item[1]
        if k == key:
            return v.decode("latin-1") if isinstance(v, bytes) else v
    return None
