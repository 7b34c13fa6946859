"""The app binding loads the model on start and serves; engine metrics move as requests run."""

from __future__ import annotations

import asyncio
import socket

import grpc
from helpers_inference import host, request, tiny_settings, tokens_of
from prometheus_client import REGISTRY

from inference_service.app import SERVICE_NAME, build_bindings
from lorafleet.registry.store import Registry
from lorafleet.server.context import ServerContext
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc, rollout_pb2, rollout_pb2_grpc


def metric(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class FakeEvaluator(rollout_pb2_grpc.LiveTrafficServiceServicer):
    def __init__(self):
        self.observations = []

    async def RecordObservations(self, request, context):
        self.observations.extend(request.observations)
        return rollout_pb2.RecordObservationsResponse(accepted=len(request.observations))


def test_build_bindings_serves_after_start_and_drains_on_stop(tmp_path, tiny_model_dir, tiny_adapters, tiny_spec):
    evaluator = FakeEvaluator()
    with socket.socket() as s:  # a free port for the fake evaluator, known before the settings are made
        s.bind(("127.0.0.1", 0))
        eval_port = s.getsockname()[1]
    settings = tiny_settings(base_model=str(tiny_model_dir), home=tmp_path, eval_address=f"127.0.0.1:{eval_port}")
    registry = Registry(settings.resolved_database_url, settings.resolved_artifacts_dir)
    registry.register_version("attn-r4", tiny_adapters["attn-r4"], base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("attn-r4", "production", 1)
    (binding,) = build_bindings(ServerContext(settings=settings, registry=registry, role="inference"))
    assert binding.service_name == SERVICE_NAME

    async def main():
        evaluator_server = grpc.aio.server()
        rollout_pb2_grpc.add_LiveTrafficServiceServicer_to_server(evaluator, evaluator_server)
        evaluator_server.add_insecure_port(f"127.0.0.1:{eval_port}")
        await evaluator_server.start()
        server = grpc.aio.server()
        # start() loads the model first and only then builds the servicer: nothing half-built to call.
        started = await binding.start()
        assert started.servicer.runtime.engine._thread is not None
        started.add_to_server(started.servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            await server.start()
            try:
                r = await stub.Generate(inference_pb2.GenerateRequest(
                    adapter="attn-r4", prompt="Hello", sampling=common_pb2.SamplingParams(max_tokens=3)))
                assert r.resolved_adapter == "attn-r4@1" and r.usage.completion_tokens >= 1
                info = await stub.GetModelInfo(inference_pb2.GetModelInfoRequest())
                assert info.base_fingerprint == tiny_spec.fingerprint
            finally:
                await started.stop(1.0)
                await server.stop(0)
        assert started.servicer.runtime.engine._thread is None  # worker joined
        # the live reporter started with the servicer and sent what it had before stopping
        assert [(o.adapter_name, o.version, o.request_id) for o in evaluator.observations] == [
            ("attn-r4", 1, r.request_id)]
        await evaluator_server.stop(0)

    asyncio.run(main())
    registry.close()


def test_engine_metrics_count_tokens_latencies_and_adapter_events(tiny_runtime_factory, tiny_adapters):
    before = {n: metric(n) for n in ("lorafleet_generation_tokens_total", "lorafleet_prompt_tokens_total",
                                     "lorafleet_time_to_first_token_seconds_count", "lorafleet_adapter_loads_total",
                                     "lorafleet_adapter_hits_total", "lorafleet_e2e_request_latency_seconds_count",
                                     "lorafleet_request_queue_time_seconds_count", "lorafleet_batch_size_count")}
    rt = tiny_runtime_factory()
    a = host(rt, "mlp-r8", tiny_adapters["mlp-r8"])
    rt.engine.start()
    reqs = [request(rt, "Hello there", adapter=a, max_tokens=4) for _ in range(2)]
    out = [tokens_of(rt.engine.submit(r).wait_sync(60)) for r in reqs]
    gen = sum(len(t) for t in out)
    assert metric("lorafleet_generation_tokens_total") - before["lorafleet_generation_tokens_total"] == gen
    assert (metric("lorafleet_prompt_tokens_total") - before["lorafleet_prompt_tokens_total"]
            == sum(len(r.prompt_ids) for r in reqs))
    assert (metric("lorafleet_time_to_first_token_seconds_count")
            - before["lorafleet_time_to_first_token_seconds_count"]) == 2
    assert (metric("lorafleet_e2e_request_latency_seconds_count")
            - before["lorafleet_e2e_request_latency_seconds_count"]) == 2
    assert (metric("lorafleet_request_queue_time_seconds_count")
            - before["lorafleet_request_queue_time_seconds_count"]) == 2
    assert metric("lorafleet_adapter_loads_total") - before["lorafleet_adapter_loads_total"] == 1
    assert metric("lorafleet_adapter_hits_total") - before["lorafleet_adapter_hits_total"] == 1
    assert metric("lorafleet_batch_size_count") > before["lorafleet_batch_size_count"]
    assert metric("lorafleet_adapter_slots_used") == 1
    # no adapter names in any label of our metrics
    for fam in REGISTRY.collect():
        if fam.name.startswith("lorafleet_") and fam.name in {"lorafleet_requests_finished"}:
            for s in fam.samples:
                assert set(s.labels) <= {"finish_reason", "le"}
