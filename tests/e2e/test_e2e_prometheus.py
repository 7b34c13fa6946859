"""Prometheus for real: every service's metrics pass `promtool check metrics`, and a real Prometheus
server scraping the three services on loopback returns the series an SRE dashboards on."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import pytest
from prometheus_server import PrometheusServer

from lorafleet.client import LoraFleetClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
ROLES = ("trainer", "inference", "eval")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not installed (Debian package 'prometheus'; .ci/run installs it)")
    return path


def _metrics_text(cluster, role: str) -> str:
    with urllib.request.urlopen(f"http://{cluster.host}:{cluster.metrics_ports[role]}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.fixture(scope="module")
def prometheus(cluster, tmp_path_factory):
    _require("prometheus")
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"),
                              {role: f"{cluster.host}:{cluster.metrics_ports[role]}" for role in ROLES})
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("role", ROLES)
def test_promtool_accepts_every_service_metrics(cluster, role: str) -> None:
    promtool = _require("promtool")
    text = _metrics_text(cluster, role)
    assert "lorafleet_grpc_server_handled_total" in text or role != "inference"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stdout + result.stderr


def test_prometheus_scrapes_the_loop_series(cluster, prometheus, loop) -> None:
    # Live traffic while Prometheus scrapes every second, so rate() has samples to work with.
    with LoraFleetClient(cluster.address("inference"), timeout=120) as fleet:
        inference = fleet.inference
        end = time.monotonic() + 6
        while time.monotonic() < end:
            reply = inference.generate(adapter="support-bot", prompt="Say hi.", max_tokens=4, temperature=0.0)
            assert reply.usage.completion_tokens >= 1
    assert prometheus.wait_for("up", lambda r: len(r) == 3 and all(s["value"][1] == "1" for s in r))

    rate = prometheus.wait_for(
        'sum(rate(lorafleet_grpc_server_handled_total{grpc_service="lorafleet.v1.InferenceService",grpc_code="OK"}[1m]))',
        lambda r: float(r[0]["value"][1]) > 0)
    assert float(rate[0]["value"][1]) > 0

    ttft = prometheus.wait_for("lorafleet_time_to_first_token_seconds_count", lambda r: float(r[0]["value"][1]) >= 5)
    assert ttft[0]["metric"]["job"] == "inference"
    quantile = prometheus.wait_for(
        "histogram_quantile(0.9, sum by (le) (rate(lorafleet_time_to_first_token_seconds_bucket[1m])))",
        lambda r: r[0]["value"][1] not in ("NaN", "+Inf"))
    assert float(quantile[0]["value"][1]) > 0

    steps = prometheus.wait_for("lorafleet_training_steps_total", lambda r: float(r[0]["value"][1]) >= 1)
    assert float(steps[0]["value"][1]) == loop.job.progress.step

    outcomes = prometheus.wait_for("lorafleet_evaluations_total", lambda r: any(float(s["value"][1]) >= 1 for s in r))
    by_outcome = {s["metric"]["outcome"]: float(s["value"][1]) for s in outcomes}
    assert by_outcome.get("promoted") == 1.0
