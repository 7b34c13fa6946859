"""The generation engine: one worker thread owns the model and runs continuous batching.

Each loop iteration (a *step*): take new requests, stop cancelled / expired sequences (their
rows and adapter slots are freed right away), admit newcomers under the prefill budget
(``scheduler``; shadow requests are shed and admitted by the rules of ``shadow``), run one
batched decode step for every running sequence, and push each
sequence's new text to its asyncio queue with ``loop.call_soon_threadsafe``. Rows of one batch
may use different adapters: the bank's slot vector (``BankBatch``) carries one slot per row.

The per-request state (``RequestHandle``, ``Sequence``) lives in ``engine.requests``;
``RequestHandle`` is importable from here too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from transformers import DynamicCache

from inference_service import metrics
from inference_service.engine import kv_batch
from inference_service.engine.adapter_cache import AdapterCache
from inference_service.engine.requests import RequestHandle, Sequence, validate_request
from inference_service.engine.sampling import make_generator, select_tokens
from inference_service.engine.scheduler import Admission, plan_admission
from inference_service.engine.shadow import over_limit, rows_to_free
from inference_service.engine.stop_text import TextTracker
from inference_service.engine.types import FinishReason, GenerationEvent, GenerationRequest
from inference_service.model.lora_bank import BankBatch
from lorafleet.errors import ResourceExhausted, Unavailable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["Engine", "EngineConfig", "RequestHandle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    max_batch_size: int = 16
    max_queue: int = 256
    max_context: int = 2048
    max_new_tokens_limit: int = 1024
    prefill_token_budget: int = 512
    idle_wait_s: float = 0.05
    shadow_max_waiting: int = 32


class Engine:
    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, bank: BankBatch,
                 adapters: AdapterCache, config: EngineConfig, *, device: torch.device,
                 eos_token_ids: set[int]) -> None:
        self.model, self.tokenizer, self.bank, self.adapters = model, tokenizer, bank, adapters
        self.config, self.device, self.eos = config, device, set(eos_token_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._cv = threading.Condition()
        self._inbox: deque[Sequence] = deque()
        self._shadow_inbox: deque[Sequence] = deque()
        self._shadow_waiting: deque[Sequence] = deque()
        self._controls: deque[tuple[Callable[[], Any], concurrent.futures.Future]] = deque()
        self._waiting: list[Sequence] = []
        self._running: list[Sequence] = []
        self._chunking: Sequence | None = None
        self._admitting: list[Sequence] = []  # admitted, prefill in progress (for failure cleanup)
        self._kv: DynamicCache | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._accepting = True
        self.steps = 0

    # -- public, any thread ------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="lorafleet-engine", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float = 0.0) -> None:
        """Refuse new requests, let running ones finish for ``grace_s``, cancel the rest, join."""
        self._accepting = False
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.pending:
            time.sleep(0.02)
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def pending(self) -> int:
        """Normal requests not finished yet (running rows include shadow sequences)."""
        with self._cv:
            return len(self._inbox) + len(self._waiting) + len(self._running) + (1 if self._chunking else 0)

    @property
    def queue_depth(self) -> int:
        """Normal requests waiting for admission (what ``max_queue`` bounds)."""
        with self._cv:
            return len(self._inbox) + len(self._waiting)

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None = None) -> RequestHandle:
        """Queue a request; raises InvalidArgument / ResourceExhausted / Unavailable.

        A shadow request never raises ResourceExhausted: its own queue sheds its oldest instead.
        """
        validate_request(request, max_context=self.config.max_context,
                         max_new_tokens_limit=self.config.max_new_tokens_limit)
        if not self._accepting:
            raise Unavailable("the inference engine is shutting down")
        handle = RequestHandle(request, loop)
        handle._wake = self._notify
        seq = Sequence(handle=handle, arrival=time.monotonic(),
                       tracker=TextTracker(self.tokenizer, request.sampling.stop),
                       generator=make_generator(request.sampling))
        with self._cv:
            if request.shadow:
                self._shadow_inbox.append(seq)
                self._cv.notify_all()
                return handle
            if len(self._inbox) + len(self._waiting) >= self.config.max_queue:
                raise ResourceExhausted(f"{self.config.max_queue} requests are already waiting; retry later",
                                        field="queue")
            self._inbox.append(seq)
            self._cv.notify_all()
        return handle

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Run ``fn`` on the worker thread between steps (slot writes); inline if not started."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if self._thread is None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
            return fut
        with self._cv:
            self._controls.append((fn, fut))
            self._cv.notify_all()
        return fut

    def _notify(self) -> None:
        with self._cv:
            self._cv.notify_all()

    # -- worker ------------------------------------------------------------------------------
    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._cv:
                while self._inbox:
                    self._waiting.append(self._inbox.popleft())
                while self._shadow_inbox:
                    self._shadow_waiting.append(self._shadow_inbox.popleft())
                controls = list(self._controls)
                self._controls.clear()
                busy = self._waiting or self._shadow_waiting or self._running or self._chunking
                if self._stopping:
                    break
                if not busy and not controls:
                    self._cv.wait(self.config.idle_wait_s)
                    continue
            for fn, fut in controls:
                try:
                    fut.set_result(fn())
                except BaseException as exc:
                    fut.set_exception(exc)
            try:
                self._step()
            except Exception as exc:
                log.exception("engine step failed; failing the sequences in flight")
                self._fail_all(exc)
        self._shutdown()

    def _step(self) -> None:
        self._reap()
        self._shed_shadows()
        self._admit()
        if self._running:
            self._decode()
        metrics.REQUESTS_RUNNING.set(len(self._running) + (1 if self._chunking else 0))
        metrics.REQUESTS_WAITING.set(len(self._waiting))
        self.steps += 1

    def _expired(self, seq: Sequence, now: float) -> bool:
        return seq.handle.cancelled or (seq.request.deadline is not None and now >= seq.request.deadline)

    def _reap(self) -> None:
        now = time.monotonic()
        for queue in (self._waiting, self._shadow_waiting):
            for seq in [s for s in queue if self._expired(s, now)]:
                queue.remove(seq)
                self._finish(seq, FinishReason.CANCELLED)
        if self._chunking is not None and self._expired(self._chunking, now):
            seq, self._chunking = self._chunking, None
            seq.prefill_cache = None
            self._finish(seq, FinishReason.CANCELLED)
        gone = [i for i, s in enumerate(self._running) if self._expired(s, now)]
        if gone:
            for i in gone:
                self._finish(self._running[i], FinishReason.CANCELLED)
            self._drop_rows(set(gone))

    def _shed_shadows(self) -> None:
        """Cancel the shadow requests to shed (rules in ``shadow``); ``_reap`` frees them like any cancel."""
        victims = over_limit(self._shadow_waiting, self.config.shadow_max_waiting)
        victims += [self._running[i] for i in rows_to_free(self._running, normal_waiting=len(self._waiting),
                                                           free_rows=self.config.max_batch_size - len(self._running))]
        if self._chunking is not None and self._chunking.shadow and self._waiting:
            victims.append(self._chunking)
        for seq in victims:
            seq.handle.shed = True
            seq.handle.cancel()
        if victims:
            self._reap()

    def _reserve(self, seq: Sequence) -> bool:
        adapter = seq.request.adapter
        if adapter is None:
            seq.slot = 0
            return True
        slot = self.adapters.acquire(adapter)
        if slot is None:
            return False
        seq.slot, seq.holds_slot = slot, True
        return True

    def _admit(self) -> None:
        if self._chunking is not None:
            self._prefill_chunk(self._chunking)
            return
        free = self.config.max_batch_size - len(self._running)
        if free <= 0 or not (self._waiting or self._shadow_waiting):
            return
        plan = self._plan(self._waiting, free, Admission(group=[]))
        if len(plan.group) == len(self._waiting) and plan.chunked is None and self._shadow_waiting:
            plan = self._plan(list(self._shadow_waiting), free, plan)  # no normal request waits any more
        now = time.monotonic()
        for seq in plan.group + ([plan.chunked] if plan.chunked else []):
            (self._shadow_waiting if seq.shadow else self._waiting).remove(seq)
            seq.admitted_at = now
            if not seq.shadow:
                metrics.QUEUE_TIME.observe(now - seq.arrival)
        if plan.chunked is not None:
            self._chunking = plan.chunked
            self._chunking.prefill_cache = DynamicCache()
            self._prefill_chunk(self._chunking)
        elif plan.group:
            self._admitting = plan.group
            self._prefill_group(plan.group)
            self._admitting = []

    def _plan(self, waiting: list[Sequence], free: int, chosen: Admission[Sequence]) -> Admission[Sequence]:
        if not waiting:
            return chosen
        return plan_admission(waiting, free_rows=free, token_budget=self.config.prefill_token_budget,
                              prompt_len=lambda s: len(s.request.prompt_ids), try_reserve=self._reserve,
                              chosen=chosen.group)

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 cache: DynamicCache | None, slots: list[int]) -> torch.Tensor:
        if any(slots):
            self.bank.set_slots(slots, self.device)
        else:
            self.bank.clear()
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]

    def _prefill_group(self, group: list[Sequence]) -> None:
        lens = [len(s.request.prompt_ids) for s in group]
        width = max(lens)
        ids = torch.full((len(group), width), self.pad_id, dtype=torch.long)
        for i, s in enumerate(group):
            ids[i, width - lens[i]:] = torch.tensor(s.request.prompt_ids, dtype=torch.long)
        mask = kv_batch.attention_mask(lens, width, "cpu")
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        logits = self._forward(ids.to(self.device), mask.to(self.device), pos.to(self.device), cache,
                               [s.slot for s in group])
        kv_batch.zero_left_padding(cache, [width - n for n in lens])
        for s, n in zip(group, lens):
            s.length = n
            metrics.PROMPT_TOKENS.inc(n)
        self._join(group, cache, logits)

    def _prefill_chunk(self, seq: Sequence) -> None:
        prompt = seq.request.prompt_ids
        start, end = seq.prefill_pos, min(len(prompt), seq.prefill_pos + self.config.prefill_token_budget)
        ids = torch.tensor([prompt[start:end]], dtype=torch.long, device=self.device)
        mask = torch.ones((1, end), dtype=torch.long, device=self.device)
        pos = torch.arange(start, end, device=self.device)[None, :]
        logits = self._forward(ids, mask, pos, seq.prefill_cache, [seq.slot])
        seq.prefill_pos = end
        if end < len(prompt):
            return
        self._chunking = None
        cache, seq.prefill_cache = seq.prefill_cache, None
        seq.length = len(prompt)
        metrics.PROMPT_TOKENS.inc(len(prompt))
        self._join([seq], cache, logits)

    def _join(self, group: list[Sequence], cache: DynamicCache, logits: torch.Tensor) -> None:
        """Sample each newcomer's first token; the unfinished ones join the running batch."""
        tokens = select_tokens(logits, [s.request.sampling for s in group], [s.generator for s in group])
        keep = [i for i, (s, t) in enumerate(zip(group, tokens)) if not self._accept_token(s, t)]
        if not keep:
            return
        if len(keep) < len(group):
            cache = kv_batch.keep_rows(cache, keep, [group[i].length for i in keep])
        self._kv = kv_batch.merge(self._kv, cache)
        self._running.extend(group[i] for i in keep)

    def _decode(self) -> None:
        rows = self._running
        width = kv_batch.cache_width(self._kv) + 1
        lengths = [s.length + 1 for s in rows]
        ids = torch.tensor([[s.next_input] for s in rows], dtype=torch.long, device=self.device)
        mask = kv_batch.attention_mask(lengths, width, self.device)
        pos = torch.tensor([[s.length] for s in rows], dtype=torch.long, device=self.device)
        metrics.BATCH_SIZE.observe(len(rows))
        logits = self._forward(ids, mask, pos, self._kv, [s.slot for s in rows])
        for s in rows:
            s.length += 1
        tokens = select_tokens(logits, [s.request.sampling for s in rows], [s.generator for s in rows])
        done = {i for i, (s, t) in enumerate(zip(rows, tokens)) if self._accept_token(s, t)}
        if done:
            self._drop_rows(done)

    def _drop_rows(self, drop: set[int]) -> None:
        keep = [i for i in range(len(self._running)) if i not in drop]
        self._kv = kv_batch.keep_rows(self._kv, keep, [self._running[i].length for i in keep]) if self._kv else None
        self._running = [self._running[i] for i in keep]

    def _accept_token(self, seq: Sequence, token: int) -> bool:
        """Record a sampled token, stream its text; True when the sequence is finished."""
        now = time.monotonic()
        if not seq.shadow and not seq.generated:
            metrics.TIME_TO_FIRST_TOKEN.observe(now - seq.arrival)
        elif not seq.shadow:
            metrics.INTER_TOKEN_LATENCY.observe(now - seq.last_token_at)
        metrics.GENERATION_TOKENS.inc()
        reason, delta = seq.take(token, now=now, eos=self.eos, max_context=self.config.max_context)
        if reason is None:
            seq.handle._push(GenerationEvent(token_ids=[token], delta=delta))
            return False
        self._finish(seq, reason, last_tokens=[token], delta=delta)
        return True

    def _finish(self, seq: Sequence, reason: FinishReason, last_tokens: list[int] | None = None,
                delta: str = "") -> None:
        if reason is FinishReason.CANCELLED:
            delta = ""
        self._release(seq)
        usage = seq.usage()
        if seq.shadow:
            metrics.SHADOW_REQUESTS.labels(outcome="shed" if reason is FinishReason.CANCELLED else "completed").inc()
        else:
            metrics.E2E_LATENCY.observe(usage.total_seconds)
            metrics.REQUESTS_FINISHED.labels(finish_reason=reason.value).inc()
        seq.handle._push(GenerationEvent(token_ids=last_tokens or [], delta=delta, finish_reason=reason,
                                         usage=usage))

    def _release(self, seq: Sequence) -> None:
        if seq.holds_slot and seq.request.adapter is not None:
            self.adapters.release(seq.request.adapter.key)
            seq.holds_slot = False

    def _fail_all(self, exc: Exception) -> None:
        victims = self._running + self._admitting + ([self._chunking] if self._chunking else [])
        self._running, self._admitting, self._chunking, self._kv = [], [], None, None
        for seq in victims:
            self._release(seq)
            if seq.shadow:
                metrics.SHADOW_REQUESTS.labels(outcome="failed").inc()
            if not seq.handle.done.is_set():
                seq.handle._push(GenerationEvent(error=exc))

    def _shutdown(self) -> None:
        with self._cv:
            waiting = self._waiting + list(self._inbox) + list(self._shadow_waiting) + list(self._shadow_inbox)
            self._waiting, self._inbox, self._shadow_waiting, self._shadow_inbox = [], deque(), deque(), deque()
        for seq in waiting + self._running + ([self._chunking] if self._chunking else []):
            self._finish(seq, FinishReason.CANCELLED)
        self._running, self._chunking, self._kv = [], None, None
