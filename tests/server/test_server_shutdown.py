"""SIGTERM to ``lorafleet serve <role>``: in-flight calls finish within the grace period."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from lorafleet_testkit import ServerProcess, call_sleep, subprocess_env

SLOW_SERVE = str(Path(__file__).with_name("slow_serve.py"))


@pytest.fixture
def start_slow_server(tmp_path, tiny_base_model_dir):
    started: list[ServerProcess] = []

    def start(grace_s: float) -> tuple[ServerProcess, str]:
        env = subprocess_env({"LORAFLEET_HOME": str(tmp_path / "home"),
                              "LORAFLEET_BASE_MODEL": str(tiny_base_model_dir)})
        proc = ServerProcess([sys.executable, SLOW_SERVE, "eval", "--port", "0", "--metrics-port", "0",
                              "--grace-period-s", str(grace_s)], env)
        started.append(proc)
        return proc, proc.wait_for_log("server started", role="eval")["address"]

    yield start
    for proc in started:
        proc.close()


def _call_in_thread(address: str, seconds: float) -> tuple[threading.Thread, list, grpc.Channel]:
    channel = grpc.insecure_channel(address)
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call_sleep(channel, seconds))
        except grpc.RpcError as exc:
            outcome.append(exc.code())

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome, channel


def test_sigterm_lets_the_in_flight_call_finish(start_slow_server):
    proc, address = start_slow_server(grace_s=20)
    # Long enough that the call is still running after the refusal probe on a loaded 2-core box.
    thread, outcome, channel = _call_in_thread(address, 8)
    proc.wait_for_log("slow call started", timeout=30)
    proc.signal(signal.SIGTERM)
    proc.wait_for_log("server stopping", timeout=10)
    # New calls are refused once shutdown is under way (connection refused, or stream cancelled),
    # while the first call is still running.
    refused, still_in_flight = _first_refusal(address, deadline_s=2.5), not outcome
    assert refused in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert still_in_flight
    thread.join(timeout=30)
    channel.close()
    assert outcome == [b"slept 8"]
    assert proc.wait(timeout=30) == 0
    assert proc.wait_for_log("server stopped", timeout=5)["role"] == "eval"


def _first_refusal(address: str, deadline_s: float) -> grpc.StatusCode | None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with grpc.insecure_channel(address) as fresh:
            try:
                call_sleep(fresh, 0.0, timeout=1)
            except grpc.RpcError as exc:
                return exc.code()
        time.sleep(0.05)
    return None


def test_calls_longer_than_the_grace_period_are_cancelled(start_slow_server):
    proc, address = start_slow_server(grace_s=0.5)
    thread, outcome, channel = _call_in_thread(address, 60)
    proc.wait_for_log("slow call started", timeout=30)
    signalled = time.monotonic()
    proc.signal(signal.SIGTERM)
    thread.join(timeout=30)
    channel.close()
    assert outcome and outcome[0] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - signalled < 15  # the grace period, not the 60 s call, bounds shutdown


def test_a_second_signal_cuts_the_grace_period_short(start_slow_server):
    proc, address = start_slow_server(grace_s=60)
    thread, outcome, channel = _call_in_thread(address, 60)
    proc.wait_for_log("slow call started", timeout=30)
    signalled = time.monotonic()
    proc.signal(signal.SIGTERM)
    proc.wait_for_log("server stopping", timeout=10)
    proc.signal(signal.SIGINT)
    thread.join(timeout=30)
    channel.close()
    assert outcome and outcome[0] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - signalled < 20
