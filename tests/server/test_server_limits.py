"""Message-size limits and port conflicts."""

from __future__ import annotations

import grpc
import pytest
from lorafleet_testkit import registry_only

from lorafleet.errors import Unavailable
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import registry_pb2, registry_pb2_grpc


def test_messages_over_max_message_bytes_are_refused(fleet_settings):
    settings = fleet_settings.replace(max_message_bytes=2048)
    with BackgroundServer("eval", settings, port=0, metrics_port=0, bindings=registry_only) as server, \
            grpc.insecure_channel(server.address) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as too_big:
            stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name="bot", path="/x", description="d" * 4096),
                               timeout=10)
        assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Just under the limit reaches the servicer (which rejects the bad path on its own terms).
        with pytest.raises(grpc.RpcError) as small:
            stub.ImportAdapter(registry_pb2.ImportAdapterRequest(name="bot", path="/x", description="d" * 1024),
                               timeout=10)
        assert small.value.code() != grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_port_in_use_is_a_clear_error(fleet_settings):
    with BackgroundServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only) as first:
        second = BackgroundServer("eval", fleet_settings, port=first.port, metrics_port=0, bindings=registry_only)
        with pytest.raises(Unavailable) as err:
            second.start()
        assert err.value.field == "port" and str(first.port) in err.value.message
