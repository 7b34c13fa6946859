"""Transports under the typed service clients: one API, a synchronous and an asyncio flavour.

A service's API is written once, as a mixin whose methods build a request and hand it to the
transport (``_unary``, ``_server_stream`` or ``_client_stream``)::

    class InferenceApi:
        def get_model_info(self) -> inference_pb2.GetModelInfoResponse:
            return self._unary("GetModelInfo", inference_pb2.GetModelInfoRequest())

    class InferenceClient(InferenceApi, SyncTransport): ...       # returns the response
    class AsyncInferenceClient(InferenceApi, AsyncTransport): ...  # returns an awaitable of it

So both clients have the same methods with the same parameters: the asyncio client's unary
methods return awaitables and its streaming methods async iterators. ``pick`` extracts a field
of the response (``.job``) and ``item`` one of each streamed message, in both flavours.

Errors surface unchanged as ``grpc.RpcError`` (``grpc.aio.AioRpcError``), with the server's
status code and its ``"<field>: <reason>"`` details; ``lorafleet.errors.from_rpc_error`` turns
one into the matching typed error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar

from lorafleet.client.channel import DEFAULT_TIMEOUT_S

_DEFAULT: Any = object()
Pick = Callable[[Any], Any] | None


class _Transport:
    stub_class: ClassVar[type]

    def __init__(self, channel: Any, *, timeout: float | None = DEFAULT_TIMEOUT_S,
                 metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.channel = channel
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self._stub = self.stub_class(channel)

    def _deadline(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is _DEFAULT else timeout

    def _metadata(self, extra: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return (*self.metadata, *extra)


class SyncTransport(_Transport):
    """Blocking calls on a ``grpc.Channel`` (``lorafleet.client.connect``)."""

    def _unary(self, method: str, request: Any, *, pick: Pick = None, timeout: float | None = _DEFAULT,
               metadata: Sequence[tuple[str, str]] = ()) -> Any:
        """Unary RPC; ``timeout`` defaults to the client's deadline (None: no deadline)."""
        response = getattr(self._stub, method)(request, timeout=self._deadline(timeout),
                                               metadata=self._metadata(metadata))
        return pick(response) if pick else response

    def _server_stream(self, method: str, request: Any, *, item: Pick = None, timeout: float | None = None,
                       metadata: Sequence[tuple[str, str]] = ()) -> Any:
        """Server-streaming RPC; no deadline unless given (watch streams are long-lived).

        Without ``item`` the returned iterator is also a ``grpc.Call``: ``.cancel()`` stops it.
        """
        call = getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata(metadata))
        return call if item is None else _mapped(call, item)

    def _client_stream(self, method: str, requests: Iterable[Any], *, pick: Pick = None,
                       timeout: float | None = _DEFAULT) -> Any:
        """Client-streaming RPC (e.g. a dataset upload in chunks)."""
        response = getattr(self._stub, method)(iter(requests), timeout=self._deadline(timeout), metadata=self.metadata)
        return pick(response) if pick else response


class AsyncTransport(_Transport):
    """The same calls on a ``grpc.aio.Channel`` (``lorafleet.client.connect_aio``)."""

    async def _unary(self, method: str, request: Any, *, pick: Pick = None, timeout: float | None = _DEFAULT,
                     metadata: Sequence[tuple[str, str]] = ()) -> Any:
        response = await getattr(self._stub, method)(request, timeout=self._deadline(timeout),
                                                     metadata=self._metadata(metadata))
        return pick(response) if pick else response

    def _server_stream(self, method: str, request: Any, *, item: Pick = None, timeout: float | None = None,
                       metadata: Sequence[tuple[str, str]] = ()) -> Any:
        """An async iterator; without ``item`` it is the ``grpc.aio`` call itself (``.cancel()``)."""
        call = getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata(metadata))
        return call if item is None else _amapped(call, item)

    async def _client_stream(self, method: str, requests: Iterable[Any], *, pick: Pick = None,
                             timeout: float | None = _DEFAULT) -> Any:
        response = await getattr(self._stub, method)(iter(requests), timeout=self._deadline(timeout),
                                                     metadata=self.metadata)
        return pick(response) if pick else response


def _mapped(call: Iterator[Any], item: Callable[[Any], Any]) -> Iterator[Any]:
    for message in call:
        yield item(message)


async def _amapped(call: AsyncIterator[Any], item: Callable[[Any], Any]) -> AsyncIterator[Any]:
    async for message in call:
        yield item(message)
