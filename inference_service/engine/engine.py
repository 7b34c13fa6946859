"""The generation engine: one worker thread owns the model and runs continuous batching.

Each loop iteration (a *step*): take new requests (an idle engine first lets a burst finish arriving,
``admission_window_s``), stop cancelled / expired sequences (their rows and adapter slots are freed
right away), shed shadow requests by the rules of ``shadow``, admit newcomers into free rows
(``scheduler``: FIFO, adapter slots drained for a blocked head), prefill up to
``prefill_token_budget`` prompt tokens of the admitted sequences (``batch``: chunked and packed
into one forward), run one decode step for every running sequence (``model.fast_llama``),
and hand the step's events to the callers' event loops in one callback per loop
(``requests.Outbox``). Rows of one batch may use different adapters: each row carries its slot.

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

from inference_service import metrics
from inference_service.engine.adapter_cache import AdapterCache
from inference_service.engine.batch import Batch
from inference_service.engine.prefix_cache import PrefixCache
from inference_service.engine.requests import Outbox, RequestHandle, Sequence, validate_request
from inference_service.engine.sampling import choose_tokens, make_generator
from inference_service.engine.scheduler import plan_admission
from inference_service.engine.shadow import may_prefill, over_limit, rows_to_free
from inference_service.engine.stop_text import TextTracker
from inference_service.engine.threads import ThreadGovernor
from inference_service.engine.types import FinishReason, GenerationEvent, GenerationRequest
from lorafleet.errors import ResourceExhausted, Unavailable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from inference_service.model.fast_llama import FastLlama
    from inference_service.model.lora_bank import BankBatch

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
    # an idle engine's first step waits until no request has arrived for this long (5 windows at most)
    admission_window_s: float = 0.0
    shadow_max_waiting: int = 32
    shadow_quiet_steps: int = 2  # steps after a normal admission before a shadow prompt is prefilled
    num_threads: int = 1  # intra-op threads at most (``lorafleet.compute_threads.resolve_num_threads``)
    prefix_cache_bytes: int = 0  # keys and values of prompt prefixes kept for reuse (``prefix_cache.py``); 0: off


class Engine:
    def __init__(self, model: FastLlama, tokenizer: PreTrainedTokenizerBase, bank: BankBatch,
                 adapters: AdapterCache, config: EngineConfig, *, device: torch.device,
                 eos_token_ids: set[int]) -> None:
        self.model, self.tokenizer, self.bank, self.adapters = model, tokenizer, bank, adapters
        self.config, self.device, self.eos = config, device, set(eos_token_ids)
        self._cv = threading.Condition()
        self._inbox: deque[Sequence] = deque()
        self._shadow_inbox: deque[Sequence] = deque()
        self._shadow_waiting: deque[Sequence] = deque()
        self._controls: deque[tuple[Callable[[], Any], concurrent.futures.Future]] = deque()
        self._waiting: list[Sequence] = []
        self.batch = Batch(model, config.max_batch_size, PrefixCache(config.prefix_cache_bytes))
        self._draining = None  # adapter key whose slot is being freed for the blocked head
        self._outbox = Outbox()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._accepting = True
        self.steps = 0
        self._normal_admitted_at_step = -1  # shadow prompts wait a few steps after a normal admission

    @property
    def _running(self) -> list[Sequence]:
        return self.batch.running

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
            return len(self._inbox) + len(self._waiting) + len(self.batch.running) + len(self.batch.prefilling)

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
        # inference mode, not only no-grad: no version counters or view tracking on the ~400 small ops of
        # a decode step. Tensors made here are inference tensors; they stay on this thread's side
        # (controls run here too, through ``call``).
        with torch.inference_mode():
            self._work()

    def _work(self) -> None:
        threads = ThreadGovernor(self.config.num_threads, torch.set_num_threads)
        threads.start()
        while True:
            with self._cv:
                if self._inbox and self.config.admission_window_s > 0 and self._idle():
                    self._gather_burst()
                while self._inbox:
                    self._waiting.append(self._inbox.popleft())
                while self._shadow_inbox:
                    self._shadow_waiting.append(self._shadow_inbox.popleft())
                controls = list(self._controls)
                self._controls.clear()
                busy = not self._idle()
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
            metrics.ENGINE_THREADS.set(threads.tick())
            try:
                self._step()
            except Exception as exc:
                log.exception("engine step failed; failing the sequences in flight")
                self._fail_all(exc)
            self._outbox.flush()
        self._shutdown()
        self._outbox.flush()

    def _idle(self) -> bool:
        return not (self._waiting or self._shadow_waiting or self.batch.running or self.batch.prefilling)

    def _gather_burst(self) -> None:
        """With the lock held, on an idle engine just sent a request: wait while more keep arriving, each
        within ``admission_window_s`` of the last, 5 windows at most. Requests sent together over gRPC
        arrive milliseconds apart; without this the first is prefilled alone and the rest wait a whole
        forward. The cost: one window of time-to-first-token for a request that arrives alone."""
        window = self.config.admission_window_s
        end, seen = time.monotonic() + 5 * window, len(self._inbox)
        while not self._stopping and (left := end - time.monotonic()) > 0:
            self._cv.wait(min(window, left))
            if len(self._inbox) == seen:
                return
            seen = len(self._inbox)

    def _step(self) -> None:
        self._reap()
        self._shed_shadows()
        self._admit()
        if self.batch.prefilling:
            self._prefill()
            self._outbox.flush()  # first tokens go out now, not after this step's decode
        if self.batch.running:
            self._decode()
        metrics.REQUESTS_RUNNING.set(len(self.batch.running) + len(self.batch.prefilling))
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
        for seq in [s for s in self.batch.prefilling if self._expired(s, now)]:
            self.batch.drop_prefilling(seq)
            self._finish(seq, FinishReason.CANCELLED)
        gone = {i for i, s in enumerate(self.batch.running) if self._expired(s, now)}
        if gone:
            for i in gone:
                self._finish(self.batch.running[i], FinishReason.CANCELLED)
            self.batch.drop(gone)

    def _shed_shadows(self) -> None:
        """Cancel the shadow requests to shed (rules in ``shadow``); ``_reap`` frees them like any cancel."""
        victims = over_limit(self._shadow_waiting, self.config.shadow_max_waiting)
        missing = len(self._waiting) - self.batch.free_rows
        prefilling = [s for s in self.batch.prefilling if s.shadow][-max(missing, 0):] if missing > 0 else []
        victims += prefilling
        running = self.batch.running
        victims += [running[i] for i in rows_to_free(running, normal_waiting=len(self._waiting),
                                                     free_rows=self.batch.free_rows + len(prefilling))]
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

    @staticmethod
    def _adapter_of(seq: Sequence):
        return seq.request.adapter.key if seq.request.adapter is not None else None

    def _admit(self) -> None:
        free = self.batch.free_rows
        if free <= 0 or not (self._waiting or self._shadow_waiting):
            return
        plan = plan_admission(self._waiting, free_rows=free, try_reserve=self._reserve, adapter_of=self._adapter_of,
                              draining=self._draining)
        if plan.blocked is None:
            self._draining = None
        elif self._draining is None or not self.adapters.is_held(self._draining):
            self._draining = self.adapters.drain_candidate()
        if len(plan.group) == len(self._waiting) and self._shadow_waiting:  # no normal request waits any more
            plan = plan_admission(list(self._shadow_waiting), free_rows=free, try_reserve=self._reserve,
                                  adapter_of=self._adapter_of, draining=self._draining, chosen=plan.group)
        now = time.monotonic()
        for seq in plan.group:
            (self._shadow_waiting if seq.shadow else self._waiting).remove(seq)
            seq.admitted_at = now
            if not seq.shadow:
                metrics.QUEUE_TIME.observe(now - seq.arrival)
                self._normal_admitted_at_step = self.steps
            self.batch.start_prefill(seq)

    def _forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Every model call goes through here (one place to observe or fail them)."""
        return fn(*args)

    def _prefill(self) -> None:
        """Prefill the next pieces of the prefilling sequences (``Batch.prefill``: which ones, within the
        budget), then sample the first token of each prompt that is now complete."""
        shadows = may_prefill(steps_since_admission=self.steps - self._normal_admitted_at_step,
                              quiet_steps=self.config.shadow_quiet_steps,
                              pending=len(self._shadow_waiting) + sum(s.shadow for s in self.batch.prefilling),
                              limit=self.config.shadow_max_waiting)
        done, hidden = self._forward(self.batch.prefill, self.config.prefill_token_budget, shadows)
        if not done:
            return
        for seq in done:
            metrics.PROMPT_TOKENS.inc(seq.prefill_pos)
        tokens = self._choose(hidden, done)
        for seq, token in zip(done, tokens):
            if self._accept_token(seq, token):
                self.batch.drop_prefilling(seq)
            else:
                self.batch.join(seq)

    def _choose(self, hidden: torch.Tensor, seqs: list[Sequence]) -> list[int]:
        return choose_tokens(self.model.head, hidden, [s.request.sampling for s in seqs],
                             [s.generator for s in seqs], [s.banned(self.eos) for s in seqs])

    def _decode(self) -> None:
        rows = self.batch.running
        metrics.BATCH_SIZE.observe(len(rows))
        hidden = self._forward(self.batch.decode)
        tokens = self._choose(hidden, rows)
        done = {i for i, (s, t) in enumerate(zip(rows, tokens)) if self._accept_token(s, t)}
        if done:
            self.batch.drop(done)

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
            if seq.shadow:
                seq.hold(token, delta)
            else:
                self._outbox.add(seq.handle, GenerationEvent(token_ids=[token], delta=delta))
            return False
        self._finish(seq, reason, last_tokens=[token], delta=delta)
        return True

    def _finish(self, seq: Sequence, reason: FinishReason, last_tokens: list[int] | None = None,
                delta: str = "") -> None:
        if seq.held_tokens:  # a shadow's reply, whole
            last_tokens, delta = seq.release_held(last_tokens or [], delta)
        if reason is FinishReason.CANCELLED:
            delta = ""
        self._release(seq)
        usage = seq.usage()
        if seq.shadow:
            metrics.SHADOW_REQUESTS.labels(outcome="shed" if reason is FinishReason.CANCELLED else "completed").inc()
        else:
            metrics.E2E_LATENCY.observe(usage.total_seconds)
            metrics.REQUESTS_FINISHED.labels(finish_reason=reason.value).inc()
        self._outbox.add(seq.handle, GenerationEvent(token_ids=last_tokens or [], delta=delta, finish_reason=reason,
                                                     usage=usage))

    def _release(self, seq: Sequence) -> None:
        if seq.holds_slot and seq.request.adapter is not None:
            self.adapters.release(seq.request.adapter.key)
            seq.holds_slot = False

    def _fail_all(self, exc: Exception) -> None:
        for seq in self.batch.clear():
            self._release(seq)
            if seq.shadow:
                metrics.SHADOW_REQUESTS.labels(outcome="failed").inc()
            if not seq.handle.done.is_set():
                self._outbox.add(seq.handle, GenerationEvent(error=exc))

    def _shutdown(self) -> None:
        with self._cv:
            waiting = self._waiting + list(self._inbox) + list(self._shadow_waiting) + list(self._shadow_inbox)
            self._waiting, self._inbox, self._shadow_waiting, self._shadow_inbox = [], deque(), deque(), deque()
        for seq in waiting + self.batch.clear():
            self._finish(seq, FinishReason.CANCELLED)
