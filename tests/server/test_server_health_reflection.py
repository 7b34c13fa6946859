"""Every role's server answers health checks and lists its services over reflection."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from lorafleet_testkit import call_sleep, registry_only, slow_binding

from lorafleet.server.background import BackgroundServer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
ROLE_SERVICE = {"trainer": "lorafleet.v1.TrainerService", "inference": "lorafleet.v1.InferenceService",
                "eval": "lorafleet.v1.EvalService"}
ALWAYS_HOSTED = {"lorafleet.v1.RegistryService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


@pytest.mark.parametrize("role", ["trainer", "inference", "eval"])
def test_role_server_is_serving_and_reflects_its_services(role, fleet_settings):
    with BackgroundServer(role, fleet_settings, port=0, metrics_port=0) as server, \
            grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == SERVING
        hosted = [b.service_name for b in server.server.bindings]
        assert {"lorafleet.v1.RegistryService", ROLE_SERVICE[role]} <= set(hosted)
        for name in hosted:
            assert health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="lorafleet.v1.NoSuchService"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        reflection = ProtoReflectionDescriptorDatabase(channel)
        listed = set(reflection.get_services())
        assert listed == set(hosted) | ALWAYS_HOSTED
        pool = DescriptorPool(reflection)
        registry = pool.FindServiceByName("lorafleet.v1.RegistryService")
        assert {m.name for m in registry.methods} == {"ListAdapters", "GetAdapter", "ImportAdapter", "SetAlias",
                                                      "DeleteAdapter"}
        for name in hosted:  # every hosted service resolves to its full descriptor
            assert pool.FindServiceByName(name).full_name == name


def test_health_turns_not_serving_when_shutdown_begins(fleet_settings):
    """A Watch stream open before shutdown sees NOT_SERVING, then the stream ends with the grace."""
    server = BackgroundServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
            assert next(watch).status == SERVING
            stopping = server.stop_async(grace=0.5)
            assert next(watch).status == NOT_SERVING
            with pytest.raises(grpc.RpcError) as ended:  # in-flight past the grace: cancelled by the server
                next(watch)
            assert ended.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
            stopping.result(timeout=30)
    finally:
        server.stop()


def test_in_process_stop_lets_in_flight_calls_finish(fleet_settings):
    import threading

    server = BackgroundServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only,
                              extra_bindings=[slow_binding()]).start()
    results: list[object] = []
    try:
        with grpc.insecure_channel(server.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            before = _started_calls(server)  # the counter is process-wide: compare with a baseline
            caller = threading.Thread(target=lambda: results.append(call_sleep(channel, 1.0)))
            caller.start()
            _wait_until(lambda: _started_calls(server) > before)
            server.stop_async(grace=10).result(timeout=30)
            caller.join(timeout=30)
    finally:
        server.stop()
    assert results == [b"slept 1.0"]


def _started_calls(server: BackgroundServer) -> float:
    from lorafleet.server.metrics import SERVER_STARTED

    return SERVER_STARTED.labels("unary", "lorafleet.test.Slow", "Sleep")._value.get()


def _wait_until(predicate, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
