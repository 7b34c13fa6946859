"""Python client of LoRAFleet.

    from lorafleet.client import LoraFleetClient

    with LoraFleetClient("127.0.0.1:50052", token="...") as fleet:
        for v in fleet.registry.iter_adapters(name="support-bot"):
            print(v.name, v.version, v.aliases)

``LoraFleetClient`` holds the connection options and one channel per server address; each
service has a typed client (``lorafleet.client.<service>.<Service>Client``, a ``ServiceClient``
subclass) exposed as an attribute. RegistryService is hosted by every server, so
``.registry`` talks to ``address``. Service clients for the trainer, inference and evaluator
are attached the same way, each on ``self.channel(<that server's address>)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from lorafleet.client.base import ServiceClient
from lorafleet.client.channel import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, RetryPolicy, connect, connect_aio
from lorafleet.client.registry import RegistryClient

SERVER_ENV = "LORAFLEET_SERVER"
TOKEN_ENV = "LORAFLEET_TOKEN"


def default_address() -> str:
    """``$LORAFLEET_SERVER``, else the configured inference address (``Settings``)."""
    if os.environ.get(SERVER_ENV):
        return os.environ[SERVER_ENV]
    from lorafleet.config import Settings

    return Settings.from_env().resolved_inference_address


class LoraFleetClient:
    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = DEFAULT_RETRY,
    ) -> None:
        self.address = address or default_address()
        self._connect_kwargs = dict(
            token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
            tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key, timeout=timeout, retry=retry,
        )
        self.timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self.registry = RegistryClient(self.channel(self.address), timeout=timeout)

    def channel(self, address: str) -> grpc.Channel:
        """The (shared) channel to ``address``, opened with this client's options."""
        if address not in self._channels:
            self._channels[address] = connect(address, **self._connect_kwargs)  # type: ignore[arg-type]
        return self._channels[address]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self) -> "LoraFleetClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "LoraFleetClient",
    "RegistryClient",
    "RetryPolicy",
    "ServiceClient",
    "connect",
    "connect_aio",
    "default_address",
]
