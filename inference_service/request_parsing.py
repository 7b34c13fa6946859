"""Validation of inference requests at the servicer edge: protobuf in, plain dataclasses out.

Every bad field raises InvalidArgument naming it (``sampling.top_p``...), never INTERNAL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference_service.engine.types import SamplingSpec
from lorafleet.errors import InvalidArgument, quote

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from lorafleet.v1 import common_pb2

MAX_TEMPERATURE = 10.0
MAX_STOP_SEQUENCES = 8
MAX_STOP_CHARS = 128
MAX_REQUEST_ID_CHARS = 128
MAX_CACHE_SALT_CHARS = 256
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PromptInput:
    """Exactly one of ``prompt`` and ``messages`` (role, content) is set."""

    prompt: str | None
    messages: tuple[tuple[str, str], ...] | None


def parse_sampling(sampling: common_pb2.SamplingParams, *, default_max_tokens: int,
                   max_tokens_limit: int) -> SamplingSpec:
    """``sampling`` is a ``SamplingParams`` message (unset optional fields take defaults)."""
    has = sampling.HasField
    max_tokens = sampling.max_tokens if has("max_tokens") else default_max_tokens
    if max_tokens < 1:
        raise InvalidArgument("must be >= 1", field="sampling.max_tokens")
    if max_tokens > max_tokens_limit:
        raise InvalidArgument(f"{max_tokens} exceeds the server's limit of {max_tokens_limit} new tokens",
                              field="sampling.max_tokens")
    temperature = float(sampling.temperature) if has("temperature") else 0.0
    if not math.isfinite(temperature) or not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise InvalidArgument(f"must be in [0, {MAX_TEMPERATURE}], got {temperature}", field="sampling.temperature")
    top_p = float(sampling.top_p) if has("top_p") else 1.0
    if not math.isfinite(top_p) or not 0.0 < top_p <= 1.0:
        raise InvalidArgument(f"must be in (0, 1], got {top_p}", field="sampling.top_p")
    top_k = int(sampling.top_k) if has("top_k") else 0
    seed = int(sampling.seed) if has("seed") else None  # any uint64: torch.Generator takes [0, 2**64)
    stops = tuple(sampling.stop)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidArgument(f"at most {MAX_STOP_SEQUENCES} stop sequences, got {len(stops)}", field="sampling.stop")
    for i, s in enumerate(stops):
        if not s:
            raise InvalidArgument("stop sequences must not be empty", field=f"sampling.stop[{i}]")
        if len(s) > MAX_STOP_CHARS:
            raise InvalidArgument(f"longer than {MAX_STOP_CHARS} characters", field=f"sampling.stop[{i}]")
    min_tokens = int(sampling.min_tokens) if has("min_tokens") else 0
    if min_tokens > max_tokens:
        raise InvalidArgument(f"must not exceed max_tokens ({max_tokens}), got {min_tokens}",
                              field="sampling.min_tokens")
    return SamplingSpec(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed, stop=stops,
                        ignore_eos=bool(sampling.ignore_eos) if has("ignore_eos") else False, min_tokens=min_tokens)


def parse_prompt(request) -> PromptInput:
    if request.prompt and len(request.messages):
        raise InvalidArgument("set either prompt or messages, not both", field="prompt")
    if request.prompt:
        return PromptInput(prompt=request.prompt, messages=None)
    if not len(request.messages):
        raise InvalidArgument("a prompt or chat messages are required", field="prompt")
    msgs = []
    for i, m in enumerate(request.messages):
        if m.role not in CHAT_ROLES:
            raise InvalidArgument(f"role {quote(m.role)} is not one of {', '.join(CHAT_ROLES)}",
                                  field=f"messages[{i}].role")
        msgs.append((m.role, m.content))
    return PromptInput(prompt=None, messages=tuple(msgs))


def _short_printable(text: str, *, limit: int, field: str) -> str:
    """``text`` unchanged when it has at most ``limit`` characters, all printable; else InvalidArgument."""
    if len(text) > limit:
        raise InvalidArgument(f"longer than {limit} characters", field=field)
    if any(not c.isprintable() for c in text):
        raise InvalidArgument("must be printable text", field=field)
    return text


def parse_request_id(text: str) -> str:
    return _short_printable(text, limit=MAX_REQUEST_ID_CHARS, field="request_id")


def parse_cache_salt(text: str | None) -> str | None:
    """A request's ``cache_salt`` (``prefix_cache.py``): None when unset or empty."""
    return _short_printable(text, limit=MAX_CACHE_SALT_CHARS, field="cache_salt") if text else None


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: PromptInput) -> list[int]:
    """Token ids of a plain prompt, or of chat messages through the tokenizer's chat template."""
    if prompt.prompt is not None:
        return list(tokenizer(prompt.prompt, add_special_tokens=True)["input_ids"])
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidArgument("the served base model has no chat template; send a plain prompt", field="messages")
    text = tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in prompt.messages],
                                         add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
