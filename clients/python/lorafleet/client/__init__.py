"""Python client of LoRAFleet (the ``lorafleet-client`` distribution: grpcio + protobuf only).

    from lorafleet.client import LoraFleetClient

    with LoraFleetClient() as fleet:                      # addresses from lorafleet.client.addresses
        reply = fleet.inference.generate("Hello", adapter="support-bot", max_tokens=32)
        for v in fleet.registry.iter_adapters(name="support-bot"):
            print(v.name, v.version, v.aliases)

    async with AsyncLoraFleetClient() as fleet:           # the same API, awaited
        reply = await fleet.inference.generate("Hello", adapter="support-bot")

``LoraFleetClient`` holds the connection options and one channel per server address; each
service has a typed client (``lorafleet.client.<service>``) exposed as an attribute. Each
service has its own address (``addresses.service_address``); RegistryService is hosted by every
server, so ``.registry`` talks to the inference address.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lorafleet.client.addresses import service_address
from lorafleet.client.channel import DEFAULT_RETRY, DEFAULT_TIMEOUT_S, RetryPolicy, connect, connect_aio
from lorafleet.client.evaluator import AsyncEvalClient, EvalClient
from lorafleet.client.inference import AsyncInferenceClient, InferenceClient
from lorafleet.client.registry import AsyncRegistryClient, RegistryClient
from lorafleet.client.rollout import AsyncRolloutClient, RolloutClient
from lorafleet.client.trainer import AsyncTrainerClient, TrainerClient

TOKEN_ENV = "LORAFLEET_TOKEN"


class _Fleet:
    _connect: Any
    _clients: dict[str, type]

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
        self.address = service_address("inference", explicit=address)
        self.trainer_address = service_address("trainer", explicit=trainer_address)
        self.eval_address = service_address("eval", explicit=eval_address)
        self._connect_kwargs = dict(
            token=token if token is not None else os.environ.get(TOKEN_ENV) or None,
            tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key, timeout=timeout, retry=retry,
        )
        self.timeout = timeout
        self._channels: dict[str, Any] = {}

    def channel(self, address: str) -> Any:
        """The (shared) channel to ``address``, opened with this client's options."""
        if address not in self._channels:
            self._channels[address] = type(self)._connect(address, **self._connect_kwargs)
        return self._channels[address]

    def _client(self, kind: str, address: str) -> Any:
        return self._clients[kind](self.channel(address), timeout=self.timeout)

    @property
    def registry(self) -> Any:
        return self._client("registry", self.address)

    @property
    def inference(self) -> Any:
        return self._client("inference", self.address)

    @property
    def trainer(self) -> Any:
        return self._client("trainer", self.trainer_address)

    @property
    def evaluator(self) -> Any:
        return self._client("evaluator", self.eval_address)

    @property
    def rollouts(self) -> Any:
        """RolloutService (start, watch, promote, abort rollouts; feedback), on the evaluator."""
        return self._client("rollouts", self.eval_address)


class LoraFleetClient(_Fleet):
    """Blocking clients of every service: ``.registry``, ``.inference``, ``.trainer``, ``.evaluator``,
    ``.rollouts``."""

    _connect = staticmethod(connect)
    _clients = {"registry": RegistryClient, "inference": InferenceClient, "trainer": TrainerClient,
                "evaluator": EvalClient, "rollouts": RolloutClient}

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def __enter__(self) -> LoraFleetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncLoraFleetClient(_Fleet):
    """The asyncio twin of ``LoraFleetClient`` (open it inside the event loop that uses it)."""

    _connect = staticmethod(connect_aio)
    _clients = {"registry": AsyncRegistryClient, "inference": AsyncInferenceClient, "trainer": AsyncTrainerClient,
                "evaluator": AsyncEvalClient, "rollouts": AsyncRolloutClient}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def __aenter__(self) -> AsyncLoraFleetClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AsyncEvalClient",
    "AsyncInferenceClient",
    "AsyncLoraFleetClient",
    "AsyncRegistryClient",
    "AsyncRolloutClient",
    "AsyncTrainerClient",
    "EvalClient",
    "InferenceClient",
    "LoraFleetClient",
    "RegistryClient",
    "RetryPolicy",
    "RolloutClient",
    "TrainerClient",
    "connect",
    "connect_aio",
    "service_address",
]
