"""Generation through the live InferenceService (the path production traffic takes).

The evaluator never loads a model itself: candidate and baseline answers come from
``InferenceService.Generate`` over gRPC, so what is gated is what would be served (same
quantization, same batching, same adapter bank). Requests are issued concurrently (bounded by
the runner's semaphore) so the server's continuous batching sees many rows at once, and the
candidate's and the baseline's request for a case are sent together so they can share a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from eval_service.suites.models import Message
from lorafleet.client.inference import AsyncInferenceClient
from lorafleet.errors import FailedPrecondition, InvalidArgument, Unavailable
from lorafleet.v1 import common_pb2, inference_pb2

log = logging.getLogger(__name__)
T = TypeVar("T")

# What is left after the channel's retries: the inference service is down or overloaded.
UNAVAILABLE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                     grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters shared by candidate and baseline (greedy by default)."""

    max_tokens: int = 48
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens <= 4096:
            raise InvalidArgument(f"max_tokens {self.max_tokens} must be in 1..4096", field="sampling.max_tokens")
        if not 0 <= self.temperature <= 2:
            raise InvalidArgument(f"temperature {self.temperature} must be in [0, 2]", field="sampling.temperature")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise InvalidArgument(f"top_p {self.top_p} must be in (0, 1]", field="sampling.top_p")
        if self.top_k is not None and self.top_k < 0:
            raise InvalidArgument("top_k must be >= 0", field="sampling.top_k")
        if any(not s for s in self.stop):
            raise InvalidArgument("stop sequences must be non-empty", field="sampling.stop")

    @property
    def deterministic(self) -> bool:
        """Same request, same output: greedy, or sampling with a fixed seed. Only these are cached."""
        return self.temperature == 0 or self.seed is not None

    def as_dict(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "seed": self.seed, "stop": list(self.stop)}

    def sampling_fields(self) -> dict[str, Any]:
        """Keyword fields of ``SamplingParams`` (None = the server's default)."""
        return dict(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                    seed=self.seed, stop=self.stop)


@dataclass(frozen=True)
class EngineInfo:
    """What identifies the serving engine's outputs beyond the adapter: base and numerics."""

    base_model: str
    base_fingerprint: str
    quantization: str
    dtype: str

    @property
    def identity(self) -> str:
        return f"{self.base_fingerprint}:{self.quantization}:{self.dtype}"


@dataclass(frozen=True)
class Generation:
    text: str
    resolved_adapter: str
    finish_reason: str
    completion_tokens: int


class InferenceGenerator:
    """The evaluator's view of InferenceService, on the asyncio client.

    Retries are the channel's (``eval_service.app.INFERENCE_RETRY``: UNAVAILABLE and
    RESOURCE_EXHAUSTED with backoff); what still fails is mapped to the evaluator's errors here.
    """

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float = 600.0) -> None:
        self._client = AsyncInferenceClient(channel, timeout=timeout_s)

    async def engine_info(self) -> EngineInfo:
        resp = await self._guard(self._client.get_model_info(), "GetModelInfo")
        return EngineInfo(resp.base_model, resp.base_fingerprint, common_pb2.Quantization.Name(resp.quantization),
                          resp.dtype)

    async def generate(self, adapter: str, messages: Sequence[Message], params: GenerationParams,
                       request_id: str = "") -> Generation:
        call = self._client.generate(adapter=adapter, messages=[(m.role, m.content) for m in messages],
                                     request_id=request_id, **params.sampling_fields())
        resp = await self._guard(call, f"Generate({adapter or 'base model'})")
        if adapter and resp.resolved_adapter and resp.resolved_adapter != adapter:
            raise FailedPrecondition(f"inference served {resp.resolved_adapter!r} for {adapter!r}", field="adapter")
        return Generation(resp.text, resp.resolved_adapter, inference_pb2.FinishReason.Name(resp.finish_reason),
                          resp.usage.completion_tokens)

    @staticmethod
    async def _guard(call: Awaitable[T], what: str) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in UNAVAILABLE_CODES:
                raise Unavailable(f"inference service: {what}: {code.name}: {exc.details()}",
                                  field="inference") from exc
            raise FailedPrecondition(f"inference service refused {what}: {code.name}: {exc.details()}",
                                     field="inference") from exc
