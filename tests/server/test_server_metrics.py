"""The metrics endpoint exposes the interceptor's counters and histogram after calls."""

from __future__ import annotations

import time
from importlib import metadata

import grpc
import pytest
from lorafleet_testkit import free_port, registry_only, sample, scrape_metrics

from lorafleet.client import LoraFleetClient
from lorafleet.server.background import BackgroundServer

RPC = dict(grpc_type="unary", grpc_service="lorafleet.v1.RegistryService")


def test_metrics_record_calls_by_method_and_code(fleet_settings):
    with BackgroundServer("inference", fleet_settings, port=0, metrics_port=free_port(),
                          bindings=registry_only) as server:
        before = scrape_metrics(server.metrics_port)
        with LoraFleetClient(server.address, timeout=10) as fleet:
            fleet.registry.list_adapters()
            fleet.registry.list_adapters()
            with pytest.raises(grpc.RpcError):
                fleet.registry.get_adapter("missing@2")
            with pytest.raises(grpc.RpcError):
                fleet.registry.get_adapter("Not A Name")
        # the interceptor counts a call after its status went out: give the last one a moment
        deadline = time.monotonic() + 5
        while True:
            after = scrape_metrics(server.metrics_port)
            done = sum(sample(after, "lorafleet_grpc_server_handled_total", **RPC, grpc_method=m, grpc_code=c)
                       - sample(before, "lorafleet_grpc_server_handled_total", **RPC, grpc_method=m, grpc_code=c)
                       for m, c in (("ListAdapters", "OK"), ("GetAdapter", "NOT_FOUND"),
                                    ("GetAdapter", "INVALID_ARGUMENT")))
            if done >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    handled = "lorafleet_grpc_server_handled_total"
    assert delta(handled, **RPC, grpc_method="ListAdapters", grpc_code="OK") == 2
    assert delta(handled, **RPC, grpc_method="GetAdapter", grpc_code="NOT_FOUND") == 1
    assert delta(handled, **RPC, grpc_method="GetAdapter", grpc_code="INVALID_ARGUMENT") == 1
    assert delta("lorafleet_grpc_server_started_total", **RPC, grpc_method="GetAdapter") == 2
    assert delta("lorafleet_grpc_server_handling_seconds_count", **RPC, grpc_method="ListAdapters") == 2
    assert delta("lorafleet_grpc_server_handling_seconds_bucket", **RPC, grpc_method="ListAdapters", le="+Inf") == 2
    assert delta("lorafleet_grpc_server_handling_seconds_sum", **RPC, grpc_method="ListAdapters") > 0
    info = [labels for (name, labels), value in after.items() if name == "lorafleet_build_info" and value == 1]
    assert info and dict(info[0])["version"] == metadata.version("lorafleet") and dict(info[0])["role"] == "inference"


def test_metrics_port_zero_disables_the_endpoint(fleet_settings):
    with BackgroundServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only) as server:
        assert server.metrics_port == 0
