"""A real Prometheus server (Debian's `prometheus` package) scraping loopback targets, for tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from lorafleet.demo.cluster import free_port


class PrometheusServer:
    def __init__(self, workdir: Path, targets: dict[str, str], scrape_interval_s: float = 1.0) -> None:
        self.binary = shutil.which("prometheus")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jobs = "\n".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']" for job, target in targets.items()
        )
        self.config = workdir / "prometheus.yml"
        self.config.write_text(
            f"global:\n  scrape_interval: {int(scrape_interval_s * 1000)}ms\n  evaluation_interval: {int(scrape_interval_s * 1000)}ms\n"
            f"scrape_configs:\n{jobs}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60) -> "PrometheusServer":
        log = open(self.workdir / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError("prometheus not ready")

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, predicate, timeout_s: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result and predicate(result):
                return result
            time.sleep(1)
        raise AssertionError(f"{promql!r} never satisfied the check; last result {result}")

    def targets_up(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as r:
            body = json.loads(r.read())
        return {t["labels"]["job"]: t["health"] for t in body["data"]["activeTargets"]}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
