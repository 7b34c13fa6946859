"""Base class of the typed service clients: one stub, a default deadline, extra metadata.

A service client subclasses ``ServiceClient``, names its stub class, and writes one small typed
method per RPC on top of ``_call`` (unary), ``_stream`` (server streaming) or ``_upload``
(client streaming)::

    class RegistryClient(ServiceClient):
        stub_class = registry_pb2_grpc.RegistryServiceStub

        def get_adapter(self, ref: str) -> registry_pb2.GetAdapterResponse:
            return self._call("GetAdapter", registry_pb2.GetAdapterRequest(adapter=ref))

Errors surface as ``grpc.RpcError`` (``.code()``, ``.details()``), unchanged, so callers see the
server's status code and its ``"<field>: <reason>"`` message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import grpc

from lorafleet.client.channel import DEFAULT_TIMEOUT_S

_DEFAULT: Any = object()


class ServiceClient:
    stub_class: ClassVar[type]

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.channel = channel
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self._stub = self.stub_class(channel)

    def _call(self, method: str, request: Any, timeout: float | None = _DEFAULT) -> Any:
        """Unary RPC; ``timeout`` defaults to the client's deadline (None: no deadline)."""
        rpc = getattr(self._stub, method)
        return rpc(request, timeout=self.timeout if timeout is _DEFAULT else timeout, metadata=self.metadata)

    def _stream(self, method: str, request: Any, timeout: float | None = None) -> Iterator[Any]:
        """Server-streaming RPC; no deadline unless given (watch streams are long-lived).

        The returned iterator is also a ``grpc.Call``: ``.cancel()`` stops the stream.
        """
        rpc = getattr(self._stub, method)
        return rpc(request, timeout=timeout, metadata=self.metadata)

    def _upload(self, method: str, requests: Iterable[Any], timeout: float | None = _DEFAULT) -> Any:
        """Client-streaming RPC (e.g. dataset upload in chunks)."""
        rpc = getattr(self._stub, method)
        return rpc(iter(requests), timeout=self.timeout if timeout is _DEFAULT else timeout, metadata=self.metadata)
