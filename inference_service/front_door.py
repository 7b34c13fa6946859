"""The front door: from a validated request to a running generation, for every transport.

The gRPC servicer (and later the HTTP front) parses its own wire format into a ``FrontRequest``
and calls ``FrontDoor.start``, which

1. routes it (``routing.Router``: canary split, shadow sampling, text sampling),
2. encodes the prompt and hands it to the engine,
3. when the rollout asks for it, re-runs the same prompt token ids and sampling parameters on the
   candidate as a *shadow* request (the engine's low-priority class), in a background task that
   never delays or fails the production reply and whose output is never returned,
4. reports an observation of each routed request and of each shadow re-run to the live reporter
   when it ends (``Generation.events`` / ``Generation.close``).

The transport iterates ``Generation.events()`` and must call ``Generation.close()`` when it is
done (a ``finally``): it cancels the engine request if it is still running (the client went away)
and reports the observation once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from inference_service import metrics
from inference_service.engine.types import FinishReason, GenerationEvent, GenerationRequest, SamplingSpec
from inference_service.live_reporter import LiveObservation
from inference_service.request_parsing import PromptInput, encode_prompt
from inference_service.routing import Arm, Route, Router
from lorafleet.errors import InvalidArgument, LoraFleetError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from inference_service.adapter_resolver import AdapterResolver, ResolvedAdapter
    from inference_service.engine.engine import Engine, RequestHandle
    from inference_service.model.adapter_weights import HostAdapter
    from inference_service.rollouts import RolloutTable
    from lorafleet.registry.models import RolloutRecord

log = logging.getLogger(__name__)


class ObservationSink(Protocol):
    def report(self, observation: LiveObservation) -> bool: ...


@dataclass(frozen=True)
class FrontRequest:
    """A validated request, whatever the transport. ``deadline`` is a ``time.monotonic()`` value."""

    request_id: str
    adapter: str
    prompt: PromptInput
    sampling: SamplingSpec
    route_key: str | None = None
    deadline: float | None = None
    cache_salt: str | None = None  # prompts share cached prefixes only with equal salts (``prefix_cache.py``)


def error_code(exc: BaseException) -> str:
    """The gRPC status name a failure ends the call with."""
    return exc.code.name if isinstance(exc, LoraFleetError) else "INTERNAL"


class _Tally:
    """What one request produced: tokens, text (when kept), and how it ended."""

    def __init__(self, keep_text: bool) -> None:
        self.keep_text = keep_text
        self.started = time.monotonic()
        self.text: list[str] = []
        self.tokens = 0
        self.first_token_s = 0.0
        self.finish: FinishReason | None = None
        self.usage_total_s: float | None = None
        self.error = ""

    def add(self, ev: GenerationEvent) -> None:
        if ev.token_ids and not self.tokens:
            self.first_token_s = time.monotonic() - self.started
        self.tokens += len(ev.token_ids)
        if self.keep_text and ev.delta:
            self.text.append(ev.delta)
        if ev.error is not None:
            self.error = error_code(ev.error)
        if ev.finish_reason is not None:
            self.finish = ev.finish_reason
            if ev.usage is not None:
                self.tokens, self.usage_total_s = ev.usage.completion_tokens, ev.usage.total_seconds
                self.first_token_s = ev.usage.time_to_first_token_seconds

    def observation(self, *, request_id: str, route: Route, arm: Arm, rollout_id: str, prompt: PromptInput,
                    paired_request_id: str = "") -> LiveObservation:
        key = route.resolved.key  # routed requests always name an adapter
        total = self.usage_total_s if self.usage_total_s is not None else time.monotonic() - self.started
        return LiveObservation(
            request_id=request_id, adapter_name=key.name, version=key.version, arm=arm.value, time=time.time(),
            rollout_id=rollout_id, paired_request_id=paired_request_id, sampled=self.keep_text,
            prompt=(prompt.prompt or "") if self.keep_text else "",
            messages=(prompt.messages or ()) if self.keep_text else (), reply="".join(self.text),
            finish_reason=self.finish, completion_tokens=self.tokens, time_to_first_token_seconds=self.first_token_s,
            total_seconds=total, error_code=self.error)


class Generation:
    """One request in the engine, as the transport sees it: events out, then ``close()``."""

    def __init__(self, handle: RequestHandle, route: Route, request: FrontRequest,
                 sink: ObservationSink | None, *, stream_interval: int = 1) -> None:
        self.handle = handle
        self.stream_interval = stream_interval
        self.route = route
        self.request = request
        self._sink = sink if route.arm is not None else None
        self._tally = _Tally(keep_text=route.sampled) if self._sink is not None else None
        self._reported = False

    @property
    def request_id(self) -> str:
        return self.request.request_id

    @property
    def resolved_ref(self) -> str:
        """``name@version`` that serves the request ("" for the bare base model)."""
        return self.route.ref

    def deadline_passed(self) -> bool:
        deadline = self.request.deadline
        return deadline is not None and time.monotonic() >= deadline

    def stopped_by_deadline(self, ev: GenerationEvent) -> bool:
        """``ev`` ends the request because its deadline passed (the engine stops it at the deadline)."""
        return ev.finish_reason == FinishReason.CANCELLED and self.deadline_passed()

    async def events(self) -> AsyncIterator[GenerationEvent]:
        async for ev in self.handle.events_async(self.stream_interval):
            if self._tally is not None:
                self._tally.add(ev)
            yield ev

    def close(self) -> None:
        """Cancel the engine request unless it finished, and report the observation (once)."""
        self.handle.cancel()
        if self._tally is None or self._reported:
            return
        self._reported = True
        tally = self._tally
        if not tally.error and tally.finish in (None, FinishReason.CANCELLED):  # stopped before its end
            tally.error = "DEADLINE_EXCEEDED" if self.deadline_passed() else "CANCELLED"
        self._sink.report(tally.observation(request_id=self.request_id, route=self.route, arm=self.route.arm,
                                            rollout_id=self.route.rollout_id, prompt=self.request.prompt))


class FrontDoor:
    def __init__(self, *, resolver: AdapterResolver, rollouts: RolloutTable, engine: Engine,
                 tokenizer: PreTrainedTokenizerBase, live_sample_rate: float,
                 sink: ObservationSink | None = None, stream_interval: int = 1) -> None:
        self.resolver = resolver
        self.stream_interval = stream_interval
        self.router = Router(resolver, rollouts, live_sample_rate=live_sample_rate)
        self.engine = engine
        self.tokenizer = tokenizer
        self.sink = sink
        self._shadows: set[asyncio.Task[None]] = set()

    async def start(self, request: FrontRequest) -> Generation:
        """Route, submit, start the shadow re-run if any; raises what routing or the engine raise."""
        route = await self.router.route(request.adapter, request_id=request.request_id, route_key=request.route_key)
        adapter = await self.resolver.host_adapter(route.resolved) if route.resolved else None
        ids = encode_prompt(self.tokenizer, request.prompt)
        engine_request = GenerationRequest(request_id=request.request_id, prompt_ids=ids, sampling=request.sampling,
                                           adapter=adapter, deadline=request.deadline, cache_salt=request.cache_salt)
        try:
            handle = self.engine.submit(engine_request, asyncio.get_running_loop())
        except LoraFleetError as exc:
            if route.arm is not None and self.sink is not None and not isinstance(exc, InvalidArgument):
                tally = _Tally(keep_text=route.sampled)
                tally.error = error_code(exc)
                self.sink.report(tally.observation(request_id=request.request_id, route=route, arm=route.arm,
                                                   rollout_id=route.rollout_id, prompt=request.prompt))
            raise
        if route.rollout is not None:
            metrics.ROUTED_REQUESTS.labels(arm=route.arm.value.lower()).inc()
        if route.shadow is not None:
            self._spawn_shadow(route, request, engine_request)
        log.info("generate", extra={"request_id": request.request_id, "adapter": route.ref,
                                    "arm": route.arm.value if route.arm else "", "rollout_id": route.rollout_id,
                                    "prompt_tokens": len(ids), "max_tokens": request.sampling.max_tokens})
        return Generation(handle, route, request, self.sink, stream_interval=self.stream_interval)

    # -- shadow ------------------------------------------------------------------------------
    def _spawn_shadow(self, route: Route, request: FrontRequest, production: GenerationRequest) -> None:
        """Start the shadow re-run. When the candidate is already resolved and in host memory it is
        submitted right now, next to its production twin (so one prefill serves both); otherwise a
        background task resolves and loads it first, off the production request's path."""
        handle = None
        hot = self.resolver.cached(route.shadow.candidate_ref)
        if hot is not None:
            handle = self._submit_shadow(route.shadow, production, *hot)
            if handle is None:
                return
        task = asyncio.get_running_loop().create_task(self._shadow(route, request, production, hot, handle))
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    def _submit_shadow(self, rollout: RolloutRecord, production: GenerationRequest, resolved: ResolvedAdapter,
                       adapter: HostAdapter) -> RequestHandle | None:
        try:
            return self.engine.submit(dataclasses.replace(production, request_id=f"shadow-{uuid.uuid4().hex}",
                                                          adapter=adapter, deadline=None, shadow=True),
                                      asyncio.get_running_loop())
        except Exception as exc:
            metrics.SHADOW_REQUESTS.labels(outcome="failed").inc()
            log.warning("shadow re-run not started", extra={"rollout_id": rollout.id, "adapter": resolved.ref,
                                                            "paired_request_id": production.request_id,
                                                            "error": str(exc)[:300]})
            return None

    async def _shadow(self, route: Route, request: FrontRequest, production: GenerationRequest,
                      hot: tuple[ResolvedAdapter, HostAdapter] | None, handle: RequestHandle | None) -> None:
        """Run (or, when ``handle`` is None, first start) the re-run; report it unless the engine shed it."""
        rollout = route.shadow
        if handle is None:
            try:
                resolved = await self.resolver.resolve(rollout.candidate_ref)
                hot = (resolved, await self.resolver.host_adapter(resolved))
            except Exception as exc:
                metrics.SHADOW_REQUESTS.labels(outcome="failed").inc()
                log.warning("shadow candidate unavailable", extra={"rollout_id": rollout.id,
                                                                   "error": str(exc)[:300]})
                return
            handle = self._submit_shadow(rollout, production, *hot)
            if handle is None:
                return
        tally = _Tally(keep_text=True)
        try:
            async for ev in handle.events_async():
                tally.add(ev)
        finally:
            handle.cancel()
        if handle.shed or self.sink is None:
            return  # shedding is load, not the candidate's doing: nothing to compare
        self.sink.report(tally.observation(request_id=handle.request.request_id,
                                           route=dataclasses.replace(route, resolved=hot[0]), arm=Arm.SHADOW,
                                           rollout_id=rollout.id, prompt=request.prompt,
                                           paired_request_id=request.request_id))

    async def close(self) -> None:
        """Cancel the shadow re-runs still in flight (server shutdown)."""
        for task in list(self._shadows):
            task.cancel()
        await asyncio.gather(*self._shadows, return_exceptions=True)
