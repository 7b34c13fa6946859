"""Client channels: retry on UNAVAILABLE, default deadlines, token metadata, asyncio variant."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import grpc
import pytest
from lorafleet_testkit import call_sleep, free_port, registry_only, slow_binding

from lorafleet.client import LoraFleetClient, RetryPolicy, connect, connect_aio
from lorafleet.client.channel import is_loopback
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import registry_pb2, registry_pb2_grpc


def _wait_for_state(channel: grpc.Channel, wanted: grpc.ChannelConnectivity, timeout: float = 10.0) -> None:
    seen = threading.Event()

    def on_change(state: grpc.ChannelConnectivity) -> None:
        if state == wanted:
            seen.set()

    channel.subscribe(on_change, try_to_connect=False)
    try:
        assert seen.wait(timeout), f"channel never reached {wanted}"
    finally:
        channel.unsubscribe(on_change)


def test_client_retries_unavailable_until_the_server_is_up(fleet_settings):
    port = free_port()
    settings = fleet_settings.replace(eval_port=port)
    registry = Registry.from_settings(settings)  # prepared up front so the server starts in milliseconds
    # Each retry waits uniformly in [0, 1 s]; four retries span the moment the server comes up.
    policy = RetryPolicy(max_attempts=5, initial_backoff_s=1.0, max_backoff_s=1.0, backoff_multiplier=1.0)
    channel = connect(f"127.0.0.1:{port}", retry=policy, timeout=20)
    outcome: list = []
    caller = threading.Thread(target=lambda: outcome.append(
        registry_pb2_grpc.RegistryServiceStub(channel).ListAdapters(registry_pb2.ListAdaptersRequest())))
    server = BackgroundServer("eval", settings, metrics_port=0, registry=registry, bindings=registry_only)
    try:
        caller.start()
        _wait_for_state(channel, grpc.ChannelConnectivity.TRANSIENT_FAILURE)  # the first attempt failed
        server.start()
        caller.join(timeout=30)
        assert len(outcome) == 1 and list(outcome[0].adapters) == []
    finally:
        channel.close()
        server.stop()
        registry.close()


def test_without_retries_the_same_call_fails_unavailable():
    channel = connect(f"127.0.0.1:{free_port()}", retry=None, timeout=5)
    with channel, pytest.raises(grpc.RpcError) as err:
        registry_pb2_grpc.RegistryServiceStub(channel).ListAdapters(registry_pb2.ListAdaptersRequest())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.fixture
def slow_server(fleet_settings):
    with BackgroundServer("eval", fleet_settings.replace(auth_tokens="tok"), port=0, metrics_port=0,
                          bindings=registry_only, extra_bindings=[slow_binding()]) as server:
        yield server


def test_default_deadline_applies_to_unary_calls_and_can_be_overridden(slow_server):
    with connect(slow_server.address, token="tok", timeout=0.3) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            call_sleep_default(channel, 3)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2.5
        assert call_sleep(channel, 0.5, timeout=10) == b"slept 0.5"  # an explicit deadline wins


def call_sleep_default(channel: grpc.Channel, seconds: float) -> bytes:
    from lorafleet_testkit import SLOW_METHOD

    return channel.unary_unary(SLOW_METHOD)(str(seconds).encode())  # no timeout: the channel default


def test_token_is_sent_over_plaintext_loopback(slow_server):
    with connect(slow_server.address, token="tok") as good, connect(slow_server.address) as anonymous:
        assert call_sleep(good, 0) == b"slept 0"
        with pytest.raises(grpc.RpcError) as err:
            call_sleep(anonymous, 0)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_connect_aio_has_the_same_defaults(slow_server):
    async def scenario() -> tuple[bytes, grpc.StatusCode]:
        async with connect_aio(slow_server.address, token="tok", timeout=0.3) as channel:
            sleep = channel.unary_unary("/lorafleet.test.Slow/Sleep")
            ok = await sleep(b"0", timeout=5)
            try:
                await sleep(b"3")
            except grpc.aio.AioRpcError as exc:
                return ok, exc.code()
            return ok, grpc.StatusCode.OK

    ok, code = asyncio.run(scenario())
    assert ok == b"slept 0" and code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_lorafleet_client_reuses_one_channel_per_address(registry_server):
    with LoraFleetClient(registry_server.address) as fleet:
        assert fleet.channel(registry_server.address) is fleet.registry.channel
        assert list(fleet.registry.iter_adapters()) == []


def test_retry_policy_service_config():
    config = json.loads(RetryPolicy(max_attempts=4, initial_backoff_s=0.5).service_config())
    policy = config["methodConfig"][0]["retryPolicy"]
    assert config["methodConfig"][0]["name"] == [{}]
    assert policy == {"maxAttempts": 4, "initialBackoff": "0.5s", "maxBackoff": "5.0s", "backoffMultiplier": 2.0,
                      "retryableStatusCodes": ["UNAVAILABLE"]}
    for bad in (dict(max_attempts=6), dict(max_attempts=1), dict(initial_backoff_s=0), dict(retryable_codes=("NOPE",))):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1:50052", True), ("localhost:1", True), ("[::1]:5", True), ("unix:/tmp/s.sock", True),
    ("10.0.0.2:50052", False), ("inference.lorafleet.svc:50052", False),
])
def test_is_loopback(address, loopback):
    assert is_loopback(address) is loopback
