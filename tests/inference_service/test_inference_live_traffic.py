"""Rollouts served over gRPC: canary routing, shadow re-runs and live reports to a fake evaluator.

InferenceService runs on a loopback grpc.aio server over the tiny model and a SQLite registry;
the evaluator is a fake ``LiveTrafficService`` on another loopback server that keeps what it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import pytest
from helpers_inference import tiny_settings

from inference_service import metrics
from inference_service.engine.types import FinishReason
from inference_service.live_reporter import LiveObservation, LiveReporter
from inference_service.routing import ROUTE_KEY_HEADER, is_sampled, takes_canary
from inference_service.servicer import InferenceServicer, add_to_server
from lorafleet.registry.models import RolloutMode, RolloutStage, RolloutState
from lorafleet.registry.store import Registry
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc, rollout_pb2, rollout_pb2_grpc

PROMPT = "The quick brown fox jumps over"
ARM = rollout_pb2.TrafficArm


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_adapters, tiny_spec):
    """attn-r4: production v1, candidate v2 (other weights); mlp-r8: production v1, no rollout."""
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(f"sqlite:///{root / 'registry.db'}", root / "artifacts")
    for name in ("attn-r4", "mlp-r8"):
        reg.register_version(name, tiny_adapters[name], base_spec=tiny_spec, lineage={"source": "imported"})
        reg.set_alias(name, "production", 1)
    reg.register_version("attn-r4", tiny_adapters["o-r2"], base_spec=tiny_spec, lineage={"source": "imported"})
    yield reg
    reg.close()


@contextlib.contextmanager
def running_rollout(registry, rollout_id, mode, *, weight=0.0, sampling_rate=1.0):
    record = registry.rollouts().create(rollout_id=rollout_id, name="attn-r4", candidate_version=2,
                                        stages=[RolloutStage(mode, weight)], sampling_rate=sampling_rate,
                                        policy_name="test", policy={}, evaluation_id="", actor="test",
                                        allow_unpassed=True)
    try:
        yield record
    finally:
        registry.rollouts().finish(rollout_id, RolloutState.ABORTED, reason="test over", actor="test")


class FakeEvaluator(rollout_pb2_grpc.LiveTrafficServiceServicer):
    def __init__(self):
        self.calls: list[rollout_pb2.RecordObservationsRequest] = []

    @property
    def observations(self) -> list[rollout_pb2.Observation]:
        return [o for c in self.calls for o in c.observations]

    async def RecordObservations(self, request, context):
        self.calls.append(request)
        return rollout_pb2.RecordObservationsResponse(accepted=len(request.observations))


@contextlib.asynccontextmanager
async def fake_evaluator():
    server = grpc.aio.server()
    evaluator = FakeEvaluator()
    rollout_pb2_grpc.add_LiveTrafficServiceServicer_to_server(evaluator, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield evaluator, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@contextlib.asynccontextmanager
async def serve(rt, registry, settings, reporter=None):
    rt.engine.start()
    server = grpc.aio.server()
    servicer = InferenceServicer(settings, registry, rt, reporter=reporter)
    add_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    if reporter is not None:
        reporter.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield inference_pb2_grpc.InferenceServiceStub(channel), servicer
    finally:
        await channel.close()
        await servicer.front_door.close()
        await server.stop(0)
        if reporter is not None:
            await reporter.close()


def gen(adapter, request_id="", max_tokens=8, prompt=PROMPT):
    return inference_pb2.GenerateRequest(adapter=adapter, prompt=prompt, request_id=request_id,
                                         sampling=common_pb2.SamplingParams(max_tokens=max_tokens))


def keyed(key):
    return ((ROUTE_KEY_HEADER, key),)


async def wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_canary_routes_route_keys_stickily_and_reports_both_arms(tiny_runtime_factory, registry):
    rt = tiny_runtime_factory()
    settings = tiny_settings(alias_poll_s=0.0, live_sample_rate=0.0)
    keys = [f"user-{i}" for i in range(16)]

    async def main():
        async with fake_evaluator() as (evaluator, address):
            reporter = LiveReporter(grpc.aio.insecure_channel(address), max_queue=1000, flush_s=0.05)
            async with serve(rt, registry, settings, reporter) as (stub, servicer):
                with running_rollout(registry, "ro-canary", RolloutMode.CANARY, weight=50.0, sampling_rate=0.5) as ro:
                    served = {}
                    for round_ in range(2):
                        for k in keys:
                            r = await stub.Generate(gen("attn-r4", f"{k}-{round_}"), metadata=keyed(k))
                            served.setdefault(k, set()).add(r.resolved_adapter)
                    assert served == {k: {"attn-r4@2" if takes_canary(ro.id, k, 50.0) else "attn-r4@1"} for k in keys}
                    assert {next(iter(v)) for v in served.values()} == {"attn-r4@1", "attn-r4@2"}
                    for ref, want in (("attn-r4@1", "attn-r4@1"), ("attn-r4@production", "attn-r4@1"),
                                      ("attn-r4@2", "attn-r4@2")):
                        for k in keys[:6]:
                            assert (await stub.Generate(gen(ref, f"x-{k}"), metadata=keyed(k))).resolved_adapter == want
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await stub.Generate(gen("attn-r4"), metadata=keyed("u" * 257))
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                    assert ROUTE_KEY_HEADER in err.value.details()
                    await stub.Generate(gen("mlp-r8", "plain-1"))  # production adapter without rollout
                    await wait_for(lambda: len(evaluator.observations) == 2 * len(keys) + 1)
        return evaluator, ro

    evaluator, ro = asyncio.run(main())
    obs = {o.request_id: o for o in evaluator.observations}
    assert len(obs) == 2 * len(keys) + 1  # explicit references are not reported
    for k in keys:
        canary = takes_canary(ro.id, k, 50.0)
        for round_ in range(2):
            o = obs[f"{k}-{round_}"]
            assert (o.adapter_name, o.version, o.rollout_id) == ("attn-r4", 2 if canary else 1, ro.id)
            assert o.arm == (ARM.TRAFFIC_ARM_CANARY if canary else ARM.TRAFFIC_ARM_PRODUCTION)
            assert o.sampled == is_sampled(ro.id, o.request_id, 0.5)
            assert bool(o.prompt and o.reply) == o.sampled
            assert o.completion_tokens >= 1 and o.total_seconds > 0 and not o.error_code
            assert o.finish_reason in (inference_pb2.FINISH_REASON_LENGTH, inference_pb2.FINISH_REASON_EOS)
    plain = obs["plain-1"]
    assert (plain.arm, plain.rollout_id, plain.version, plain.sampled, plain.reply) == (
        ARM.TRAFFIC_ARM_PRODUCTION, "", 1, False, "")
    assert all(c.source for c in evaluator.calls)


@pytest.mark.parametrize("hot", [False, True], ids=["candidate-loaded-in-background", "candidate-already-hot"])
def test_shadow_reruns_on_the_candidate_and_never_changes_the_production_reply(tiny_runtime_factory, registry, hot):
    """Cold: every lookup goes to the registry (alias_poll_s=0) and the shadow task resolves and loads
    the candidate itself. Hot: the candidate is cached, so its re-run is submitted next to its twin."""
    rt = tiny_runtime_factory()
    settings = tiny_settings(alias_poll_s=60.0 if hot else 0.0, live_sample_rate=0.0)
    rollout_id = f"ro-shadow-{'hot' if hot else 'cold'}"
    messages = [common_pb2.ChatMessage(role="user", content="Where is my parcel?")]

    async def main():
        async with fake_evaluator() as (evaluator, address):
            reporter = LiveReporter(grpc.aio.insecure_channel(address), max_queue=1000, flush_s=0.05)
            async with serve(rt, registry, settings, reporter) as (stub, servicer):
                before = await stub.Generate(gen("attn-r4", "before", max_tokens=12))
                if hot:
                    candidate = await stub.Generate(gen("attn-r4@2", "cand", max_tokens=12))
                completed = metrics.SHADOW_REQUESTS.labels(outcome="completed")._value.get()
                with running_rollout(registry, rollout_id, RolloutMode.SHADOW, sampling_rate=1.0):
                    await servicer.rollouts.refresh()
                    assert (servicer.resolver.cached("attn-r4@2") is not None) is hot
                    during = await stub.Generate(gen("attn-r4", "prod-1", max_tokens=12))
                    chunks = [c async for c in stub.GenerateStream(inference_pb2.GenerateStreamRequest(
                        adapter="attn-r4", prompt=PROMPT, request_id="prod-2",
                        sampling=common_pb2.SamplingParams(max_tokens=12)))]
                    chat = await stub.Generate(inference_pb2.GenerateRequest(
                        adapter="attn-r4", messages=messages, request_id="prod-3",
                        sampling=common_pb2.SamplingParams(max_tokens=4)))
                    await wait_for(lambda: len(evaluator.observations) == 1 + 2 * 3)  # "before", 3 twins, 3 shadows
                shadow_done = metrics.SHADOW_REQUESTS.labels(outcome="completed")._value.get() - completed
                if not hot:
                    candidate = await stub.Generate(gen("attn-r4@2", "cand", max_tokens=12))
        return evaluator, before, candidate, during, chunks, chat, shadow_done

    evaluator, before, candidate, during, chunks, chat, shadow_done = asyncio.run(main())
    assert shadow_done == 3
    assert (during.text, list(during.token_ids), during.resolved_adapter) == (
        before.text, list(before.token_ids), "attn-r4@1")
    assert [t for c in chunks for t in c.token_ids] == list(before.token_ids)
    assert {c.resolved_adapter for c in chunks} == {"attn-r4@1"} and chat.resolved_adapter == "attn-r4@1"
    obs = evaluator.observations
    shadows = {o.paired_request_id: o for o in obs if o.arm == ARM.TRAFFIC_ARM_SHADOW}
    twins = {o.request_id: o for o in obs if o.rollout_id == rollout_id and o.arm == ARM.TRAFFIC_ARM_PRODUCTION}
    assert set(shadows) == set(twins) == {"prod-1", "prod-2", "prod-3"}
    for rid, shadow in shadows.items():
        twin = twins[rid]
        assert (shadow.adapter_name, shadow.version, shadow.rollout_id) == ("attn-r4", 2, rollout_id)
        assert twin.version == 1 and twin.sampled and shadow.sampled and shadow.request_id != rid
        assert shadow.request_id not in {o.request_id for o in obs if o.arm != ARM.TRAFFIC_ARM_SHADOW}
    assert shadows["prod-1"].reply == candidate.text and twins["prod-1"].reply == before.text
    assert shadows["prod-1"].prompt == twins["prod-1"].prompt == PROMPT
    assert [(m.role, m.content) for m in shadows["prod-3"].messages] == [("user", "Where is my parcel?")]
    assert shadows["prod-3"].prompt == "" and twins["prod-3"].messages == shadows["prod-3"].messages


def test_an_unreachable_evaluator_changes_nothing_for_callers(tiny_runtime_factory, registry):
    rt = tiny_runtime_factory()
    settings = tiny_settings(alias_poll_s=0.0, live_sample_rate=1.0)

    async def main():
        async with serve(rt, registry, settings) as (stub, _):
            want = [list((await stub.Generate(gen(ref, max_tokens=6))).token_ids) for ref in ("mlp-r8", "attn-r4")]
        reporter = LiveReporter(grpc.aio.insecure_channel("127.0.0.1:1"), max_queue=1000, flush_s=0.05,
                                call_timeout_s=1.0)
        async with serve(rt, registry, settings, reporter) as (stub, servicer):
            with running_rollout(registry, "ro-unreachable", RolloutMode.SHADOW, sampling_rate=1.0):
                got = [list((await stub.Generate(gen(ref, max_tokens=6))).token_ids) for ref in ("mlp-r8", "attn-r4")]
                await wait_for(lambda: reporter.counts["failed"] >= 2 and reporter.queued == 0)
        return want, got, reporter.counts

    want, got, counts = asyncio.run(main())
    assert got == want
    assert counts["sent"] == 0 and counts["failed"] >= 2


def test_requests_the_engine_refuses_are_reported_with_their_status(tiny_runtime_factory, registry):
    rt = tiny_runtime_factory(max_queue=1)
    settings = tiny_settings(alias_poll_s=0.0, live_sample_rate=0.0, max_queue=1)

    class Sink:
        def __init__(self):
            self.observations = []

        def report(self, observation):
            self.observations.append(observation)
            return True

    sink = Sink()

    async def main():
        # the engine is not started: nothing is admitted, the first request holds the only queue place
        servicer = InferenceServicer(settings, registry, rt, reporter=sink)
        server = grpc.aio.server()
        add_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            first = asyncio.ensure_future(stub.Generate(gen("mlp-r8", "waits"), timeout=1.0))
            await wait_for(lambda: rt.engine.queue_depth == 1)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Generate(gen("mlp-r8", "refused"))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.aio.AioRpcError):
                await first
            await wait_for(lambda: len(sink.observations) == 2)
        await server.stop(0)

    asyncio.run(main())
    by_id = {o.request_id: o for o in sink.observations}
    assert by_id["refused"].error_code == "RESOURCE_EXHAUSTED" and by_id["refused"].arm == "PRODUCTION"
    assert by_id["waits"].error_code in ("DEADLINE_EXCEEDED", "CANCELLED") and by_id["waits"].completion_tokens == 0


def observation(i: int, arm: str = "PRODUCTION", **kw) -> LiveObservation:
    return LiveObservation(request_id=f"r{i}", adapter_name="attn-r4", version=1, arm=arm, time=1.7e9 + i, **kw)


def test_the_reporter_sends_bounded_batches_and_drops_what_does_not_fit():
    dropped_before = metrics.LIVE_REPORTS.labels(outcome="dropped")._value.get()

    async def main():
        async with fake_evaluator() as (evaluator, address):
            reporter = LiveReporter(grpc.aio.insecure_channel(address), max_queue=10, batch_size=4, flush_s=0.05,
                                    source="replica-a")
            accepted = [reporter.report(observation(i)) for i in range(12)]
            assert accepted == [True] * 10 + [False] * 2
            reporter.start()
            await wait_for(lambda: len(evaluator.observations) == 10)
            reporter.report(observation(99, arm="SHADOW", paired_request_id="r1", sampled=True, prompt="p", reply="x",
                                        finish_reason=FinishReason.EOS, completion_tokens=3, error_code=""))
            await wait_for(lambda: len(evaluator.observations) == 11)  # a lone one leaves within flush_s
            await reporter.close()
        return evaluator, reporter

    evaluator, reporter = asyncio.run(main())
    assert [len(c.observations) for c in evaluator.calls] == [4, 4, 2, 1]
    assert {c.source for c in evaluator.calls} == {"replica-a"}
    assert [o.request_id for o in evaluator.observations] == [f"r{i}" for i in range(10)] + ["r99"]
    last = evaluator.observations[-1]
    assert (last.arm, last.paired_request_id, last.sampled, last.reply, last.completion_tokens) == (
        ARM.TRAFFIC_ARM_SHADOW, "r1", True, "x", 3)
    assert last.finish_reason == inference_pb2.FINISH_REASON_EOS and last.time.seconds == int(1.7e9 + 99)
    assert reporter.counts == {"sent": 11, "dropped": 2, "failed": 0}
    assert metrics.LIVE_REPORTS.labels(outcome="dropped")._value.get() - dropped_before == 2
