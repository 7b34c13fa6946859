"""One request as the engine tracks it: the caller's handle and the worker's sequence state.

Split from ``engine`` so the step loop there reads apart from the per-request bookkeeping:
``RequestHandle`` is what ``Engine.submit`` returns to the caller (events, cancel), ``Sequence``
is the worker thread's state of that request (slot, KV length, tokens, timings). Only the
worker thread touches a ``Sequence``; a ``RequestHandle`` is safe to use from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from inference_service.engine.stop_text import TextTracker
from inference_service.engine.types import FinishReason, GenerationEvent, GenerationRequest, Usage
from lorafleet.errors import InvalidArgument

log = logging.getLogger(__name__)


def validate_request(request: GenerationRequest, *, max_context: int, max_new_tokens_limit: int) -> None:
    """InvalidArgument (naming the field) unless the request fits the engine's limits."""
    n = len(request.prompt_ids)
    if n == 0:
        raise InvalidArgument("the prompt is empty after tokenization", field="prompt")
    if n >= max_context:
        raise InvalidArgument(f"the prompt has {n} tokens; the context limit is {max_context} "
                              "tokens including at least one generated token", field="prompt")
    mt = request.sampling.max_tokens
    if not 1 <= mt <= max_new_tokens_limit:
        raise InvalidArgument(f"max_tokens must be in 1..{max_new_tokens_limit}, got {mt}",
                              field="sampling.max_tokens")


class RequestHandle:
    """The caller's side of one request: an asyncio queue of ``GenerationEvent`` and ``cancel``."""

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None) -> None:
        self.request = request
        self.loop = loop
        self.queue: asyncio.Queue[GenerationEvent] | None = asyncio.Queue() if loop else None
        self.events: list[GenerationEvent] = []  # filled when no loop (synchronous use)
        self.done = threading.Event()
        self.shed = False  # set by the worker before the final event when it shed a shadow request
        self._cancelled = threading.Event()
        self._wake: Callable[[], None] = lambda: None

    def cancel(self) -> None:
        if not self.done.is_set():
            self._cancelled.set()
            self._wake()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _push(self, event: GenerationEvent) -> None:
        if event.finish_reason is not None or event.error is not None:
            self.done.set()
        if self.loop is None:
            self.events.append(event)
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the caller's loop is closed: nobody is listening any more
            log.debug("dropped event for closed loop", extra={"request_id": self.request.request_id})

    async def events_async(self) -> AsyncIterator[GenerationEvent]:
        """Yield events until the final one (async iterator for the servicer)."""
        assert self.queue is not None
        while True:
            ev = await self.queue.get()
            yield ev
            if ev.finish_reason is not None or ev.error is not None:
                return

    def wait_sync(self, timeout: float | None = None) -> list[GenerationEvent]:
        if not self.done.wait(timeout):
            raise TimeoutError(f"request {self.request.request_id} did not finish in {timeout}s")
        return self.events


@dataclass
class Sequence:
    """The worker's state of one admitted or waiting request."""

    handle: RequestHandle
    arrival: float
    tracker: TextTracker
    generator: torch.Generator | None
    slot: int = 0
    length: int = 0          # tokens in this row's KV cache
    next_input: int = -1     # last sampled token, fed at the next decode step
    generated: list[int] = field(default_factory=list)
    admitted_at: float = 0.0
    first_token_at: float = 0.0
    last_token_at: float = 0.0
    prefill_pos: int = 0
    prefill_cache: DynamicCache | None = None
    holds_slot: bool = False

    @property
    def request(self) -> GenerationRequest:
        return self.handle.request

    @property
    def shadow(self) -> bool:
        return self.handle.request.shadow

    def take(self, token: int, *, now: float, eos: set[int], max_context: int) -> tuple[FinishReason | None, str]:
        """Record a sampled token: its text delta, and the finish reason when it ends the sequence."""
        if not self.generated:
            self.first_token_at = now
        self.last_token_at = now
        self.generated.append(token)
        self.next_input = token
        reason: FinishReason | None = None
        if token in eos:
            return FinishReason.EOS, self.tracker.add(None) + self.tracker.flush()
        delta = self.tracker.add(token)
        if self.tracker.stopped:
            reason = FinishReason.STOP
        elif len(self.generated) >= self.request.sampling.max_tokens or self.length + 1 >= max_context:
            reason = FinishReason.LENGTH
            delta += self.tracker.flush()
        return reason, delta

    def usage(self) -> Usage:
        """Token counts and timings so far (queue time runs until admission; now if not admitted)."""
        now = time.monotonic()
        ttft = (self.first_token_at - self.arrival) if self.first_token_at else 0.0
        return Usage(prompt_tokens=len(self.request.prompt_ids), completion_tokens=len(self.generated),
                     queue_seconds=(self.admitted_at or now) - self.arrival, time_to_first_token_seconds=ttft,
                     total_seconds=now - self.arrival)
