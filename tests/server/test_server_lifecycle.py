"""Start/stop hooks: order, grace passed to on_stop, clean-up when a start hook fails."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lorafleet_testkit import registry_only

from lorafleet.server.binding import ServiceBinding, StartedService
from lorafleet.server.bootstrap import LoraFleetServer


def _hooked(name: str, events: list, fail_start: bool = False) -> ServiceBinding:
    async def on_start() -> None:
        events.append(("start", name))
        if fail_start:
            raise RuntimeError(f"{name} cannot start")

    async def on_stop(grace: float) -> None:
        events.append(("stop", name, grace))

    async def start() -> StartedService:
        await on_start()
        handler = grpc.method_handlers_generic_handler(f"test.{name}", {})
        return StartedService(handler, lambda h, s: s.add_generic_rpc_handlers((h,)), on_stop)

    return ServiceBinding(f"test.{name}", start)


def test_hooks_run_in_order_and_services_report_serving(fleet_settings):
    events: list = []

    async def scenario() -> list[int]:
        server = LoraFleetServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only,
                                 extra_bindings=[_hooked("a", events), _hooked("b", events)])
        await server.start()
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            statuses = [(await health.Check(health_pb2.HealthCheckRequest(service=s))).status
                        for s in ("test.a", "test.b")]
        await server.stop(grace=1.5)
        await server.stop()  # idempotent
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert events == [("start", "a"), ("start", "b"), ("stop", "b", 1.5), ("stop", "a", 1.5)]


def test_a_failing_start_hook_stops_what_started_and_raises(fleet_settings):
    events: list = []

    async def scenario() -> None:
        server = LoraFleetServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only,
                                 extra_bindings=[_hooked("a", events), _hooked("b", events, fail_start=True)])
        await server.start()

    with pytest.raises(RuntimeError, match="b cannot start"):
        asyncio.run(scenario())
    assert events == [("start", "a"), ("start", "b"), ("stop", "a", 0)]


def test_unknown_role_is_refused(fleet_settings):
    from lorafleet.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as err:
        LoraFleetServer("gateway", fleet_settings)
    assert err.value.field == "role"
