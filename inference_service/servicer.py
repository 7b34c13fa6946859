"""InferenceService over grpc.aio: thin — validate and convert, then the front door (``front_door``:
routing, the engine, shadow re-runs and live reports) does the rest.

Cancellation: when the client cancels or its deadline passes, grpc.aio cancels the handler
task; the ``finally`` blocks then cancel the engine request, which frees its batch row and
adapter slot at the next step. The deadline is also handed to the engine so a request stops
even if nobody is awaiting it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from google.protobuf.timestamp_pb2 import Timestamp

from inference_service.adapter_resolver import AdapterResolver, ResolvedAdapter
from inference_service.engine.adapter_cache import AdapterInfo
from inference_service.engine.types import FinishReason, Usage
from inference_service.front_door import FrontDoor, FrontRequest, Generation, ObservationSink
from inference_service.request_parsing import parse_cache_salt, parse_prompt, parse_request_id, parse_sampling
from inference_service.rollouts import RolloutTable
from inference_service.routing import ROUTE_KEY_HEADER, parse_route_key
from inference_service.runtime import Runtime
from lorafleet.config import Settings
from lorafleet.errors import DeadlineExceeded, InvalidArgument, NotFound, ResourceExhausted
from lorafleet.registry.store import Registry
from lorafleet.server.errors import grpc_errors
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

log = logging.getLogger(__name__)

_FINISH = {
    FinishReason.LENGTH: inference_pb2.FINISH_REASON_LENGTH,
    FinishReason.STOP: inference_pb2.FINISH_REASON_STOP,
    FinishReason.EOS: inference_pb2.FINISH_REASON_EOS,
    FinishReason.CANCELLED: inference_pb2.FINISH_REASON_CANCELLED,
}
_QUANT = {"none": common_pb2.QUANTIZATION_NONE, "nf4": common_pb2.QUANTIZATION_NF4,
          "int8": common_pb2.QUANTIZATION_INT8, "int4": common_pb2.QUANTIZATION_INT4}


def _deadline_exceeded(tokens: int | None) -> DeadlineExceeded:
    """The status of a generation its deadline stopped: DEADLINE_EXCEEDED, not a reply cut short. The engine
    stops the request at the deadline, so its last event and the client's own timer race; either way the client
    sees the same code."""
    done = "" if tokens is None else f" after {tokens} generated tokens"
    return DeadlineExceeded(f"the call's deadline passed{done}; the generation was stopped")


def usage_to_proto(u: Usage) -> inference_pb2.Usage:
    return inference_pb2.Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                               total_tokens=u.total_tokens, queue_seconds=u.queue_seconds,
                               time_to_first_token_seconds=u.time_to_first_token_seconds, total_seconds=u.total_seconds,
                               cached_prompt_tokens=u.cached_prompt_tokens)


def adapter_info_to_proto(info: AdapterInfo) -> inference_pb2.LoadedAdapter:
    ts = Timestamp()
    ts.FromNanoseconds(int(info.last_used * 1e9))
    return inference_pb2.LoadedAdapter(
        name=info.key.name, version=info.key.version,
        tier=inference_pb2.ADAPTER_TIER_DEVICE if info.slot else inference_pb2.ADAPTER_TIER_HOST,
        slot=info.slot, rank=info.rank, target_modules=list(info.target_modules), last_used_time=ts,
        requests_served=info.requests_served, active_requests=info.active_requests)


def route_key_of(context) -> str | None:
    """The caller's ``x-lorafleet-route-key`` metadata (validated), or None."""
    for key, value in context.invocation_metadata() or ():
        if key == ROUTE_KEY_HEADER:
            return parse_route_key(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    return None


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    """Built once the runtime (``inference_service.runtime.Runtime``: base, bank, engine) runs.

    ``reporter`` receives the live observations (``live_reporter.LiveReporter``); None sends none.
    """

    def __init__(self, settings: Settings, registry: Registry, runtime: Runtime, *,
                 reporter: ObservationSink | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.runtime = runtime
        self.resolver = AdapterResolver(registry, runtime, base_fingerprint=runtime.spec.fingerprint,
                                        alias_ttl_s=settings.alias_poll_s)
        self.rollouts = RolloutTable(registry, poll_s=settings.alias_poll_s)
        self.front_door = FrontDoor(resolver=self.resolver, rollouts=self.rollouts, engine=runtime.engine,
                                    tokenizer=runtime.tokenizer, live_sample_rate=settings.live_sample_rate,
                                    sink=reporter, stream_interval=settings.stream_interval)

    # -- generation ------------------------------------------------------------------------
    async def _start(self, request, context) -> Generation:
        request_id = parse_request_id(request.request_id) or uuid.uuid4().hex
        route_key = route_key_of(context)
        prompt = parse_prompt(request)
        sampling = parse_sampling(request.sampling, default_max_tokens=self.settings.default_max_tokens,
                                  max_tokens_limit=self.settings.max_new_tokens_limit)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        return await self.front_door.start(FrontRequest(request_id=request_id, adapter=request.adapter, prompt=prompt,
                                                        sampling=sampling, route_key=route_key, deadline=deadline,
                                                        cache_salt=parse_cache_salt(request.cache_salt)))

    @grpc_errors
    async def Generate(self, request, context):
        generation = await self._start(request, context)
        tokens: list[int] = []
        text: list[str] = []
        try:
            async for ev in generation.events():
                if ev.error is not None:
                    raise ev.error
                tokens.extend(ev.token_ids)
                text.append(ev.delta)
                if generation.stopped_by_deadline(ev):
                    raise _deadline_exceeded(len(tokens))
                if ev.finish_reason is not None:
                    return inference_pb2.GenerateResponse(
                        text="".join(text), finish_reason=_FINISH[ev.finish_reason], usage=usage_to_proto(ev.usage),
                        resolved_adapter=generation.resolved_ref, request_id=generation.request_id, token_ids=tokens)
        finally:
            generation.close()  # no-op when finished; frees the slot when the client went away; reports

    @grpc_errors
    async def GenerateStream(self, request, context):
        generation = await self._start(request, context)
        index = 0
        try:
            async for ev in generation.events():
                if ev.error is not None:
                    raise ev.error
                if generation.stopped_by_deadline(ev):
                    raise _deadline_exceeded(ev.usage.completion_tokens if ev.usage else None)
                chunk = inference_pb2.GenerateStreamResponse(
                    delta=ev.delta, token_ids=ev.token_ids, index=index, resolved_adapter=generation.resolved_ref,
                    request_id=generation.request_id)
                if ev.finish_reason is not None:
                    chunk.finish_reason = _FINISH[ev.finish_reason]
                    chunk.usage.CopyFrom(usage_to_proto(ev.usage))
                index += 1
                yield chunk
        finally:
            generation.close()

    # -- adapters ----------------------------------------------------------------------------
    async def _resolve_required(self, text: str) -> ResolvedAdapter:
        if not text.strip():
            raise InvalidArgument("name an adapter (name, name@alias or name@version)", field="adapter")
        return await self.resolver.resolve(text)

    @grpc_errors
    async def LoadAdapter(self, request, context):
        rt = self.runtime
        t0 = time.perf_counter()
        resolved = await self._resolve_required(request.adapter)
        adapter = await self.resolver.host_adapter(resolved)
        # the entry is read on the worker, with the pin: a concurrent UnloadAdapter may drop it right after
        info = await asyncio.wrap_future(rt.engine.call(lambda: rt.adapters.load(adapter)))
        if info is None:
            raise ResourceExhausted(f"all {rt.adapters.num_slots} adapter slots serve running requests; retry later",
                                    field="adapter")
        return inference_pb2.LoadAdapterResponse(adapter=adapter_info_to_proto(info),
                                                 load_seconds=time.perf_counter() - t0)

    @grpc_errors
    async def UnloadAdapter(self, request, context):
        rt = self.runtime
        resolved = await self._resolve_required(request.adapter)
        if rt.adapters.info(resolved.key) is None:
            raise NotFound(f"{resolved.ref} is not loaded", field="adapter")
        info = await asyncio.wrap_future(rt.engine.call(lambda: rt.adapters.unload(resolved.key)))
        return inference_pb2.UnloadAdapterResponse(adapter=adapter_info_to_proto(info))

    @grpc_errors
    async def ListLoadedAdapters(self, request, context):
        rt = self.runtime
        infos = sorted(rt.adapters.snapshot(), key=lambda i: (i.key.name, i.key.version))
        return inference_pb2.ListLoadedAdaptersResponse(
            adapters=[adapter_info_to_proto(i) for i in infos], device_slots_total=rt.adapters.num_slots,
            device_slots_used=rt.adapters.slots_used, host_cache_capacity=rt.adapters.host_capacity)

    @grpc_errors
    async def GetModelInfo(self, request, context):
        rt = self.runtime
        cfg = rt.engine.config
        return inference_pb2.GetModelInfoResponse(
            base_model=rt.spec.name, base_fingerprint=rt.spec.fingerprint, quantization=_QUANT[rt.base.quantization],
            device=str(rt.base.device), dtype=str(rt.base.compute_dtype).removeprefix("torch."),
            max_context_tokens=cfg.max_context, max_new_tokens_limit=cfg.max_new_tokens_limit,
            max_batch_size=cfg.max_batch_size, adapter_slots=rt.adapters.num_slots,
            max_adapter_rank=rt.max_adapter_rank, vocab_size=int(rt.base.model.config.vocab_size),
            lora_target_modules=list(rt.target_modules))


def add_to_server(servicer, server) -> None:
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server)
