"""Python client of LoRAFleet.

    from lorafleet.client import LoraFleetClient

    with LoraFleetClient("127.0.0.1:50052", token="...") as fleet:
        for v in fleet.registry.iter_adapters(name="support-bot"):
            print(v.name, v.version, v.aliases)

``LoraFleetClient`` holds the connection options and one channel per server address; each
service has a typed client (``lorafleet.client.<service>.<Service>Client``, a ``ServiceClient``
subclass) exposed as an attribute. RegistryService is hosted by every server, so
``.registry`` talks to ``address``. ``.inference``, ``.trainer`` and ``.evaluator`` are the
typed clients of the other services, each on the shared channel of its server's address.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from lorafleet.client.base import ServiceClient
from lorafleet.client.channel import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, RetryPolicy, connect, connect_aio
from lorafleet.client.registry import RegistryClient

if TYPE_CHECKING:
    from eval_service.client import EvalClient
    from inference_service.client import InferenceClient
    from trainer_service.client import TrainerClient

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
        trainer_address: str | None = None,
        eval_address: str | None = None,
    ) -> None:
        self.address = address or default_address()
        # Each service may live elsewhere; by default all calls go to ``address`` (serve all, or a gateway).
        self.trainer_address = trainer_address or self.address
        self.eval_address = eval_address or self.address
        self._connect_kwargs = dict(
            token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
            tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key, timeout=timeout, retry=retry,
        )
        self.timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self.registry = RegistryClient(self.channel(self.address), timeout=timeout)

    @property
    def inference(self) -> "InferenceClient":
        from inference_service.client import InferenceClient

        return InferenceClient(self.channel(self.address), timeout=self.timeout)

    @property
    def trainer(self) -> "TrainerClient":
        from trainer_service.client import TrainerClient

        return TrainerClient(self.channel(self.trainer_address), timeout=self.timeout)

    @property
    def evaluator(self) -> "EvalClient":
        from eval_service.client import EvalClient

        return EvalClient(self.channel(self.eval_address), timeout=self.timeout)

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
