"""A PostgreSQL registry outage under Generate load: 0 failed Generate calls, writers retry or fail
UNAVAILABLE (never INTERNAL), nothing half-written.

The real PostgreSQL server of tests/postgres_testkit.py, reached through a TCP proxy of this test, and
the tiny runtime of conftest.py. Two outages while two clients call Generate on a production alias
that inference re-resolves every 0.2 s:

1. ``pg_terminate_backend`` kills every backend of the test database (what a server restart does to
   open connections);
2. the proxy stops: open connections are cut and new ones refused for 3 s (what clients see while
   the server restarts). The shared cluster itself is not restarted, so other work on it goes on;
   a restart by ``pg_ctlcluster --skip-systemctl-redirect 15 main restart`` looks the same to us.

And one real restart of the local cluster under the same load (skipped against an external server).

During (2) a write whose connection retries outlast the outage fails UNAVAILABLE, a write with the
default retry window (5 s) succeeds once the proxy is back, and afterwards an alias move is served.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from postgres_testkit import postgres_database_url, postgres_url  # noqa: F401 - pytest fixtures
from prometheus_client import REGISTRY

from lorafleet.config import Settings
from lorafleet.registry import db
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc, registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.postgres
APP = "lorafleet-outage-test"


class TcpProxy:
    """127.0.0.1:<port> -> ``target``; ``down()`` cuts every connection and refuses new ones until ``up()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            self._close(listener)  # shutdown() wakes the accept() blocked on it; close() alone would not
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for s in doomed:
            self._close(s)

    @staticmethod
    def _close(s: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already disconnected: closing is all that is left to do
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by down()
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):  # one side went away; the other is closed below
            while data := src.recv(65536):
                dst.sendall(data)
        self._close(dst)


@pytest.fixture
def proxied_url(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:  # noqa: F811 - the imported fixture
    url = sa.engine.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.up()
    proxied = url.set(host="127.0.0.1", port=proxy.port).update_query_dict({"application_name": APP})
    yield proxied.render_as_string(hide_password=False), proxy
    proxy.down()


def _terminate_backends(direct_url: str) -> int:
    """Kill the registry's backends (by their application_name), not the fixtures' own connections."""
    engine = sa.create_engine(direct_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        killed = conn.exec_driver_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      f"WHERE application_name = '{APP}'").scalar()
    engine.dispose()
    return int(killed or 0)


class GenerateLoad:
    """``clients`` threads calling Generate on ``adapter`` back to back until ``stop()``."""

    def __init__(self, address: str, adapter: str, clients: int = 2) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = inference_pb2_grpc.InferenceServiceStub(self.channel)
        self.adapter = adapter
        self.ok: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        request = inference_pb2.GenerateRequest(adapter=self.adapter, prompt="Hello there",
                                                sampling=common_pb2.SamplingParams(max_tokens=2))
        while not self._stop.is_set():
            try:
                self.ok.append(self.stub.Generate(request, timeout=20).resolved_adapter)
            except grpc.RpcError as exc:
                self.failed.append(f"{exc.code().name}: {exc.details()}")

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
        self.channel.close()


def _stale_count() -> float:
    return REGISTRY.get_sample_value("lorafleet_registry_lookup_failures_total", {"outcome": "stale"}) or 0.0


def _set_alias(address: str, version: int) -> tuple[str, float]:
    t0 = time.monotonic()
    with grpc.insecure_channel(address) as channel:
        try:
            registry_pb2_grpc.RegistryServiceStub(channel).SetAlias(registry_pb2.SetAliasRequest(
                name="attn-r4", alias="production", version=version, reason="outage test"), timeout=30)
        except grpc.RpcError as exc:
            return exc.code().name, time.monotonic() - t0
    return "OK", time.monotonic() - t0


def test_generate_keeps_serving_while_the_registry_database_goes_away(
        tmp_path: Path, tiny_model_dir: Path, tiny_spec, tiny_adapters, proxied_url, postgres_url,  # noqa: F811
        monkeypatch) -> None:
    url, proxy = proxied_url
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(tiny_model_dir),
                                 database_url=url, quantization="none", device="cpu", max_new_tokens_limit=4,
                                 default_max_tokens=2, alias_poll_s=0.2, log_format="text", log_level="ERROR")
    registry = Registry.from_settings(settings)
    for path in (tiny_adapters["attn-r4"], tiny_adapters["o-r2"], tiny_adapters["attn-r4"]):
        registry.register_version("attn-r4", path, base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("attn-r4", "production", 1)
    with BackgroundServer("inference", settings, port=0, metrics_port=0, registry=registry) as server:
        load = GenerateLoad(server.address, "attn-r4")
        time.sleep(1.0)
        stale_before = _stale_count()
        assert _terminate_backends(postgres_url) >= 1  # outage 1: every backend of the database killed
        time.sleep(1.0)
        proxy.down()  # outage 2: connections cut, new ones refused
        with monkeypatch.context() as patch:
            patch.setattr(db, "CONNECT_RETRY_S", 0.3)
            short_retry = _set_alias(server.address, 3)
        retried: list[tuple[str, float]] = []
        writer = threading.Thread(target=lambda: retried.append(_set_alias(server.address, 2)))
        writer.start()
        time.sleep(3.0)
        proxy.up()
        writer.join(30)
        served_during = len(load.ok)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not load.ok or load.ok[-1] != "attn-r4@2"):
            time.sleep(0.1)
        load.stop()
    registry.close()
    assert load.failed == [] and served_during > 10, load.failed[:5]
    assert _stale_count() > stale_before  # inference did hit the outage and kept its last answer
    assert short_retry[0] == "UNAVAILABLE"
    assert retried and retried[0][0] == "OK" and retried[0][1] >= 2.5  # waited for the database, then wrote
    assert load.ok[-1] == "attn-r4@2"  # the move made after the outage is served
    check = Registry(url, settings.resolved_artifacts_dir)
    history = [(h.from_version, h.to_version) for h in check.alias_history("attn-r4")]
    assert history == [(0, 1), (1, 2)]  # the refused write left no trace, the retried one exactly one
    assert [v.version for v in check.list_versions("attn-r4")] == [3, 2, 1]
    check.close()


def _restart_local_cluster() -> float:
    """``pg_ctlcluster restart`` of the local cluster (fast shutdown: every connection is cut, new ones
    are refused until it is back); returns how long it took."""
    t0 = time.monotonic()
    done = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - t0


@pytest.mark.skipif(bool(os.environ.get("LORAFLEET_TEST_POSTGRES_URL")) or shutil.which("pg_ctlcluster") is None
                    or os.geteuid() != 0, reason="restarts the local cluster: needs pg_ctlcluster and root")
def test_generate_keeps_serving_through_a_real_postgresql_restart(
        tmp_path: Path, tiny_model_dir: Path, tiny_spec, tiny_adapters, postgres_url) -> None:  # noqa: F811
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(tiny_model_dir),
                                 database_url=postgres_url, quantization="none", device="cpu",
                                 max_new_tokens_limit=4, default_max_tokens=2, alias_poll_s=0.2,
                                 log_format="text", log_level="ERROR")
    registry = Registry.from_settings(settings)
    for path in (tiny_adapters["attn-r4"], tiny_adapters["o-r2"]):
        registry.register_version("attn-r4", path, base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("attn-r4", "production", 1)
    with BackgroundServer("inference", settings, port=0, metrics_port=0, registry=registry) as server:
        load = GenerateLoad(server.address, "attn-r4")
        time.sleep(1.0)
        before = len(load.ok)
        took = _restart_local_cluster()
        during = len(load.ok) - before
        moved = _set_alias(server.address, 2)  # the database is back: a write goes through and is served
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not load.ok or load.ok[-1] != "attn-r4@2"):
            time.sleep(0.1)
        load.stop()
    registry.close()
    assert load.failed == [], load.failed[:5]
    assert during > 0, f"no Generate finished during the {took:.1f} s restart"
    assert moved[0] == "OK" and load.ok[-1] == "attn-r4@2"
