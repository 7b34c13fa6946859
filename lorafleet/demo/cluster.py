"""A local LoRAFleet: ``lorafleet serve all`` as a child process on free loopback ports.

Used by the demo and by the end-to-end tests, so both exercise exactly what a user runs:
three server processes sharing one SQLite registry and one artifact directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROLES = ("trainer", "inference", "eval")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """Start with ``start()``; addresses are ``host:port`` strings per role."""

    home: Path
    model_cache_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    http_port: int = 0  # the inference server's OpenAI-compatible HTTP front (a free port at start)
    log_path: Path | None = None
    _proc: subprocess.Popen | None = None

    def address(self, role: str) -> str:
        return f"{self.host}:{self.ports[role]}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "LORAFLEET_HOME": str(self.home),
            "LORAFLEET_HOST": self.host,
            "LORAFLEET_LOG_FORMAT": "json",
            "LORAFLEET_INFERENCE_ADDRESS": self.address("inference"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        })
        if self.model_cache_dir is not None:
            env["LORAFLEET_MODEL_CACHE_DIR"] = str(self.model_cache_dir)
        for role in ROLES:
            key = "EVAL" if role == "eval" else role.upper()
            env[f"LORAFLEET_{key}_PORT"] = str(self.ports[role])
            env[f"LORAFLEET_{key}_METRICS_PORT"] = str(self.metrics_ports[role])
        env["LORAFLEET_HTTP_PORT"] = str(self.http_port)
        env.update(self.extra_env)
        return env

    def start(self, timeout_s: float = 300.0) -> LocalCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            self.ports.setdefault(role, free_port(self.host))
            self.metrics_ports.setdefault(role, free_port(self.host))
        self.http_port = self.http_port or free_port(self.host)
        self.log_path = self.log_path or self.home / "services.log"
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "lorafleet", "serve", "all"],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            self.wait_serving(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_serving(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(ROLES)
        while pending:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"lorafleet serve all exited with {self._proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sorted(pending)} not SERVING after {timeout_s:.0f}s; see {self.log_path}")
            for role in sorted(pending):
                if self._serving(role):
                    pending.discard(role)
            time.sleep(0.5)

    def _serving(self, role: str) -> bool:
        with grpc.insecure_channel(self.address(role)) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def stop(self, timeout_s: float = 60.0) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
