"""One request as the engine tracks it: the caller's handle and the worker's sequence state.

Split from ``engine`` so the step loop there reads apart from the per-request bookkeeping:
``RequestHandle`` is what ``Engine.submit`` returns to the caller (events, cancel), ``Sequence``
is the worker thread's state of that request (slot, KV row and length, tokens, timings). Only the
worker thread touches a ``Sequence``; a ``RequestHandle`` is safe to use from any thread.

Events cross threads in batches (``Outbox``): the worker collects every event of a step and hands
each event loop ONE callback per step, instead of one ``call_soon_threadsafe`` (a self-pipe write
and a wake-up of the loop) per token per row. On the asyncio side ``events_async`` merges the
events that are already queued into one, so a transport that fell behind sends one chunk for
several tokens instead of one message per token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import torch

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
        self.outcome: FinishReason | str | None = None  # how it ended: finish reason or error, once final
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
        """Deliver one event now (outside a step's ``Outbox``)."""
        outbox = Outbox()
        outbox.add(self, event)
        outbox.flush()

    async def events_async(self, interval: int = 1) -> AsyncIterator[GenerationEvent]:
        """Yield events until the final one; events already queued are merged into one.

        With ``interval`` > 1, after the first event (the first token goes out at once: time to first
        token is unchanged) events are merged until they carry ``interval`` tokens or the final one
        arrives. Each yielded event costs a streaming transport one message to encode, write and decode;
        on a CPU shared with the decode step that cost is taken from decoding (16 streams x 32 tokens
        are 512 messages), so gathering ``interval`` tokens divides it by ``interval`` at the price of
        up to ``interval - 1`` steps of extra latency on the tokens after the first.
        """
        assert self.queue is not None
        pending: GenerationEvent | None = None
        first = True
        while True:
            ev = await self.queue.get()  # returns at once while events are queued
            pending = ev if pending is None else merge_events(pending, ev)
            ready = len(pending.token_ids) >= interval or (first and pending.token_ids)
            if not pending.final and (not ready or not self.queue.empty()):
                continue  # an event without tokens is held too: it carries nothing a client waits for
            out, pending = pending, None
            first = False
            yield out
            if out.final:
                return

    def wait_sync(self, timeout: float | None = None) -> list[GenerationEvent]:
        if not self.done.wait(timeout):
            raise TimeoutError(f"request {self.request.request_id} did not finish in {timeout}s")
        return self.events


def merge_events(first: GenerationEvent, second: GenerationEvent) -> GenerationEvent:
    """One event carrying both: tokens and text concatenated, the second's ending (if any)."""
    return GenerationEvent(token_ids=first.token_ids + second.token_ids, delta=first.delta + second.delta,
                           finish_reason=second.finish_reason, usage=second.usage, error=second.error)


def _deliver(batch: list[tuple[RequestHandle, GenerationEvent]]) -> None:
    for handle, event in batch:
        handle.queue.put_nowait(event)


class Outbox:
    """The events of one engine step, handed to each caller's event loop in one callback."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, list[tuple[RequestHandle, GenerationEvent]]] = {}

    def add(self, handle: RequestHandle, event: GenerationEvent) -> None:
        if handle.loop is None:
            handle.events.append(event)
        else:
            self._by_loop.setdefault(handle.loop, []).append((handle, event))
        if event.final:  # after the append: wait_sync reads the events once this is set
            handle.outcome = event.finish_reason or event.error
            handle.done.set()

    def flush(self) -> None:
        by_loop, self._by_loop = self._by_loop, {}
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, batch)
            except RuntimeError:  # the callers' loop is closed: nobody is listening any more
                log.debug("dropped events for a closed loop", extra={"events": len(batch)})


@dataclass
class Sequence:
    """The worker's state of one admitted or waiting request."""

    handle: RequestHandle
    arrival: float
    tracker: TextTracker
    generator: torch.Generator | None
    slot: int = 0
    row: int = -1            # KV cache row (``engine.batch``)
    length: int = 0          # tokens in this row's KV cache
    next_input: int = -1     # last sampled token, fed at the next decode step
    generated: list[int] = field(default_factory=list)
    admitted_at: float = 0.0
    first_token_at: float = 0.0
    last_token_at: float = 0.0
    prefill_pos: int = 0     # prompt tokens already in the cache
    cached_tokens: int = 0   # of them, those the prefix cache supplied (``batch.start_prefill``)
    holds_slot: bool = False
    held_tokens: list[int] = field(default_factory=list)  # a shadow's reply so far: it goes out whole,
    held_text: list[str] = field(default_factory=list)    # at its end (``hold``, ``release_held``)

    def hold(self, token: int, delta: str) -> None:
        """Keep a shadow token instead of streaming it: nobody reads a shadow reply before its end, and
        one event per shadow request spares the callers' event loop (and the GIL) a wake-up per token."""
        self.held_tokens.append(token)
        self.held_text.append(delta)

    def release_held(self, last_tokens: list[int], delta: str) -> tuple[list[int], str]:
        """The held tokens and text followed by the final ones; nothing is held afterwards."""
        tokens, text = self.held_tokens + last_tokens, "".join(self.held_text) + delta
        self.held_tokens, self.held_text = [], []
        return tokens, text

    @property
    def request(self) -> GenerationRequest:
        return self.handle.request

    @property
    def shadow(self) -> bool:
        return self.handle.request.shadow

    def banned(self, eos: set[int]) -> set[int]:
        """Tokens this row must not sample now: EOS until ``min_tokens`` are generated."""
        spec = self.request.sampling
        return eos if spec.min_tokens and len(self.generated) < spec.min_tokens and not spec.ignore_eos else set()

    def take(self, token: int, *, now: float, eos: set[int], max_context: int) -> tuple[FinishReason | None, str]:
        """Record a sampled token: its text delta, and the finish reason when it ends the sequence.

        ``ignore_eos``: an EOS token is an ordinary token. Before ``min_tokens`` tokens, neither EOS
        (banned from sampling) nor a stop sequence ends the sequence (vLLM's rule).
        """
        if not self.generated:
            self.first_token_at = now
        self.last_token_at = now
        self.generated.append(token)
        self.next_input = token
        spec = self.request.sampling
        reason: FinishReason | None = None
        if token in eos and not spec.ignore_eos:
            return FinishReason.EOS, self.tracker.add(None) + self.tracker.flush()
        delta = self.tracker.add(token, stops_active=len(self.generated) >= spec.min_tokens)
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
                     total_seconds=now - self.arrival, cached_prompt_tokens=self.cached_tokens)
