"""The HTTP front's life cycle and hosting: 503 while starting and draining, the inference role's wiring
(HTTP next to gRPC in one process, on one loop), TLS and mTLS with the gRPC server's certificates."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import threading
from pathlib import Path

import grpc
import httpx
import openai
import pytest
from helpers_http import live_front, slow_down, wait_until
from helpers_inference import tiny_settings

from inference_service.app import build_bindings
from inference_service.http.lifecycle import Backend, Phase
from lorafleet.errors import Unavailable
from lorafleet.registry.store import Registry
from lorafleet.server.context import ServerContext
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

PROMPT = "The quick brown fox jumps over"


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_adapters, tiny_spec):
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(f"sqlite:///{root / 'registry.db'}", root / "artifacts")
    reg.register_version("mlp-r8", tiny_adapters["mlp-r8"], base_spec=tiny_spec, lineage={"source": "imported"})
    reg.set_alias("mlp-r8", "production", 1)
    yield reg
    reg.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_starting_and_draining_answer_503_and_in_flight_streams_finish(tiny_runtime_factory, registry):
    rt = tiny_runtime_factory()
    settings = tiny_settings()
    with live_front(rt, registry, settings, serve_http=False) as front, \
            httpx.Client(base_url=front.root_url, timeout=30) as http:
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["error"]["code"] == "starting"
        refused = http.post("/v1/completions", json={"model": "mlp-r8", "prompt": PROMPT})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert front.submitted == []
        backend = Backend(front_door=front.servicer.front_door, registry=registry, settings=settings,
                          base_model=rt.spec.name, fingerprint=rt.spec.fingerprint)
        front.loop.call_soon_threadsafe(front.http.serve, backend)
        wait_until(lambda: http.get("/health").status_code == 200, what="serving")
        assert http.get("/health").json() == {"status": "ok"}

        slow_down(rt, 0.03)
        body = {"model": "mlp-r8", "prompt": PROMPT, "max_tokens": 40, "temperature": 0, "stream": True,
                "ignore_eos": True}
        with http.stream("POST", "/v1/completions", json=body) as streaming:
            lines = streaming.iter_lines()
            assert next(lines).startswith("data: ")
            stopped = asyncio.run_coroutine_threadsafe(front.http.stop(30.0), front.loop)
            wait_until(lambda: front.http.state.phase is Phase.DRAINING, what="draining")
            late = http.post("/v1/completions", json={"model": "mlp-r8", "prompt": PROMPT})
            assert late.status_code == 503 and late.json()["error"]["code"] == "draining"
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]" and '"finish_reason":"length"' in rest[-2]
        stopped.result(30)
        assert len(front.submitted) == 1


def test_a_busy_port_fails_the_start_naming_http_port(tiny_runtime_factory, registry):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = tiny_settings(http_port=taken.getsockname()[1])
        (binding,) = build_bindings(ServerContext(settings=settings, registry=registry, role="inference"))
        with pytest.raises(Unavailable) as err:
            asyncio.run(binding.start())
    assert err.value.field == "http_port"


def test_the_inference_role_serves_http_next_to_grpc(tmp_path, tiny_model_dir, tiny_adapters, tiny_spec):
    settings = tiny_settings(base_model=str(tiny_model_dir), home=tmp_path, http_port=free_port(),
                             eval_address="127.0.0.1:1", live_sample_rate=0.0)
    registry = Registry(settings.resolved_database_url, settings.resolved_artifacts_dir)
    registry.register_version("mlp-r8", tiny_adapters["mlp-r8"], base_spec=tiny_spec, lineage={"source": "imported"})
    registry.set_alias("mlp-r8", "production", 1)
    (binding,) = build_bindings(ServerContext(settings=settings, registry=registry, role="inference"))
    base_url = f"http://127.0.0.1:{settings.http_port}/v1"

    async def main():
        started = await binding.start()
        base = started.servicer.runtime.spec.name  # what GetModelInfo reports: here the model directory
        server = grpc.aio.server()
        started.add_to_server(started.servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                want = await inference_pb2_grpc.InferenceServiceStub(channel).Generate(inference_pb2.GenerateRequest(
                    adapter="mlp-r8", prompt=PROMPT, sampling=common_pb2.SamplingParams(max_tokens=5)))
            client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
            got = await client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=5, temperature=0)
            models = [m.id async for m in client.models.list()]
            await client.close()
        finally:
            await started.stop(1.0)
            await server.stop(0)
        return want, got, models, base

    want, got, models, base = asyncio.run(main())
    registry.close()
    assert got.choices[0].text == want.text and got.model == want.resolved_adapter == "mlp-r8@1"
    assert models == [base, "mlp-r8", "mlp-r8@production", "mlp-r8@1"]
    with pytest.raises(httpx.ConnectError):  # stopped with the service
        httpx.get(f"{base_url}/models", timeout=5)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
    from lorafleet_testkit import make_certificates

    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_tls_and_mtls_use_the_grpc_servers_certificate(tiny_runtime_factory, registry, certificates):
    c = certificates
    tls = tiny_settings(tls_cert=str(c.server_cert), tls_key=str(c.server_key))
    with live_front(tiny_runtime_factory(), registry, tls) as front:
        assert front.base_url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(c.ca))
        client = front.client(http_client=httpx.Client(verify=trusted))
        assert client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2).choices
        with pytest.raises(httpx.ConnectError):  # the server's certificate is not publicly trusted
            httpx.get(f"{front.base_url}/models", timeout=5)
    mtls = tls.replace(tls_client_ca=str(c.ca))
    with live_front(tiny_runtime_factory(), registry, mtls) as front:
        with_cert = ssl.create_default_context(cafile=str(c.ca))
        with_cert.load_cert_chain(str(c.client_cert), str(c.client_key))
        client = front.client(http_client=httpx.Client(verify=with_cert))
        assert client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2).choices
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"{front.base_url}/models", verify=trusted, timeout=5)  # no client certificate


def test_http_and_grpc_streams_share_one_loop(tiny_runtime_factory, registry):
    """Concurrent streams over both transports on one loop all finish with their own complete text."""
    rt = tiny_runtime_factory()
    with live_front(rt, registry, tiny_settings()) as front:
        client = front.client()
        results: dict = {}

        def over_http(i):
            chunks = client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=8, temperature=0,
                                               stream=True)
            results[f"http-{i}"] = "".join(c.choices[0].text for c in chunks)

        def over_grpc(i):
            with grpc.insecure_channel(front.grpc_address) as channel:
                stub = inference_pb2_grpc.InferenceServiceStub(channel)
                stream = stub.GenerateStream(inference_pb2.GenerateStreamRequest(
                    adapter="mlp-r8", prompt=PROMPT, sampling=common_pb2.SamplingParams(max_tokens=8)))
                results[f"grpc-{i}"] = "".join(c.delta for c in stream)

        threads = [threading.Thread(target=f, args=(i,)) for i in range(4) for f in (over_http, over_grpc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(results) == 8 and len(set(results.values())) == 1 and next(iter(results.values()))
