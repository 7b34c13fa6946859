"""``lorafleet serve``: one role per process, ``all`` supervising three children."""

from __future__ import annotations

import signal
import time

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from lorafleet_testkit import (
    ServerProcess,
    free_port,
    lorafleet_command,
    pid_alive,
    sample,
    scrape_metrics,
    subprocess_env,
    wait_serving,
)

from lorafleet.cli.main import main

ROLES = ("trainer", "inference", "eval")


@pytest.fixture
def serve_all(tmp_path, tiny_base_model_dir):
    procs: list[ServerProcess] = []

    def start() -> tuple[ServerProcess, dict[str, tuple[int, int]]]:
        ports = {role: (free_port(), free_port()) for role in ROLES}
        flags = [f"--{role}-{kind}" for role in ROLES for kind in ("port", "metrics-port")]
        values = [str(p) for role in ROLES for p in ports[role]]
        args = [x for pair in zip(flags, values, strict=True) for x in pair]
        env = subprocess_env({"LORAFLEET_BASE_MODEL": str(tiny_base_model_dir), "LORAFLEET_QUANTIZATION": "none",
                              "LORAFLEET_DEVICE": "cpu", "LORAFLEET_GRACE_PERIOD_S": "5"})
        proc = ServerProcess(lorafleet_command("serve", "all", "--home", str(tmp_path / "home"), *args), env)
        procs.append(proc)
        return proc, ports

    yield start
    for proc in procs:
        proc.close()


def _children(proc: ServerProcess) -> dict[str, int]:
    return {role: proc.wait_for_log("child started", role=role, timeout=30)["pid"] for role in ROLES}


def test_serve_all_starts_three_healthy_servers_and_stops_on_sigterm(serve_all):
    proc, ports = serve_all()
    pids = _children(proc)
    for role in ROLES:
        address = f"127.0.0.1:{ports[role][0]}"
        wait_serving(address, timeout=180)
        with grpc.insecure_channel(address) as channel:
            assert "lorafleet.v1.RegistryService" in ProtoReflectionDescriptorDatabase(channel).get_services()
        metrics = scrape_metrics(ports[role][1])
        assert any(name == "lorafleet_build_info" and dict(labels).get("role") == role for name, labels in metrics)
        health_checks = sample(metrics, "lorafleet_grpc_server_handled_total", grpc_type="unary",
                               grpc_service="grpc.health.v1.Health", grpc_method="Check", grpc_code="OK")
        assert health_checks >= 1
    proc.signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    for role, pid in pids.items():
        assert not pid_alive(pid), f"{role} child {pid} still running"
        assert proc.wait_for_log("child stopped", role=role, timeout=5)["returncode"] == 0


def test_serve_all_exits_non_zero_when_a_child_dies(serve_all):
    proc, ports = serve_all()
    pids = _children(proc)
    wait_serving(f"127.0.0.1:{ports['eval'][0]}", timeout=180)
    import os

    os.kill(pids["eval"], signal.SIGKILL)
    exited = proc.wait_for_log("child exited unexpectedly; stopping the others", role="eval", timeout=30)
    assert exited["returncode"] == -signal.SIGKILL
    assert proc.wait(timeout=60) == 1
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in pids.values())


@pytest.fixture
def restore_root_logger():
    """``main(["serve", ...])`` configures process logging; undo it after the test."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_serve_all_refuses_single_role_port_flags(capsys):
    assert main(["serve", "all", "--port", "5"]) == 2
    assert capsys.readouterr().err.startswith("error: INVALID_ARGUMENT: port: ")


def test_serve_on_a_busy_port_exits_1(capsys, tmp_path, registry_server, restore_root_logger):
    code = main(["serve", "eval", "--port", str(registry_server.port), "--metrics-port", "0",
                 "--home", str(tmp_path / "other-home"), "--log-format", "text"])
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: UNAVAILABLE: port: cannot listen on")
