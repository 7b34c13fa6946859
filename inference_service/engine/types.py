"""Plain dataclasses crossing the servicer/engine boundary (no protobuf here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from inference_service.model.adapter_weights import HostAdapter


class FinishReason(str, enum.Enum):
    LENGTH = "length"
    STOP = "stop"
    EOS = "eos"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class SamplingSpec:
    """Validated sampling parameters. ``temperature == 0`` means greedy; ``top_k == 0`` disables it.

    ``ignore_eos``: EOS is generated like any token (the sequence runs to ``max_tokens`` or a stop
    sequence). ``min_tokens``: EOS cannot be sampled, and stop sequences do not end the sequence,
    before that many tokens (``min_tokens <= max_tokens``).
    """

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    min_tokens: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class GenerationRequest:
    """What the engine needs for one request. ``adapter`` None = the bare base model.

    ``shadow`` puts the request in the low-priority class (a candidate re-running a production
    request's input): admitted only when no normal request waits, held in a bounded queue of its
    own (``EngineConfig.shadow_max_waiting``, the oldest shed beyond it), shed first under load,
    and outside the ``max_queue`` limit and the latency histograms of normal requests.
    """

    request_id: str
    prompt_ids: list[int]
    sampling: SamplingSpec
    adapter: HostAdapter | None = None
    deadline: float | None = None  # time.monotonic() after which generation stops
    shadow: bool = False
    cache_salt: str | None = None  # cached prompt prefixes are shared only between equal salts (``prefix_cache.py``)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    queue_seconds: float = 0.0
    time_to_first_token_seconds: float = 0.0
    total_seconds: float = 0.0
    cached_prompt_tokens: int = 0  # of prompt_tokens, those the prefix cache supplied

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class GenerationEvent:
    """One delta for a request. The last event has ``finish_reason`` and ``usage`` set;
    ``error`` is set instead when the engine failed the request."""

    token_ids: list[int] = field(default_factory=list)
    delta: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    error: BaseException | None = None

    @property
    def final(self) -> bool:
        return self.finish_reason is not None or self.error is not None
