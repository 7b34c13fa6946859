"""What the OpenAI-compatible HTTP front costs: streaming throughput over HTTP vs gRPC, same server.

On the real SmolLM2-135M (``bench_model``) with a registered synthetic adapter (``support-bot``
v1, production), one inference server serves gRPC (``InferenceServicer``) and the HTTP front
(``inference_service.http``) on one asyncio loop, as ``lorafleet serve inference`` does. A load
generator in another process (as real clients are, so it does not compete with the server for
this process's GIL) runs ``--streams`` concurrent clients, each sending ``--requests`` streaming
requests for ``support-bot`` one after the other (greedy, ``--max-tokens`` new tokens), over gRPC
``GenerateStream`` or over HTTP ``POST /v1/completions`` with ``stream: true`` (server-sent events;
``--http-client httpx`` parses them by hand like a lean client, ``openai`` uses the official SDK).
Each round runs the same workload on both protocols, in alternating order.

Reported: generated tokens per second of each protocol per round (tokens from the replies' usage,
over the wall time of the whole phase), client-side time to first token, errors, and the median of
the per-round HTTP/gRPC throughput ratios (bar: >= 0.95).

    python benchmarks/http_vs_grpc.py --rounds 5 --streams 16 --requests 4 --max-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import embedded_model_dir

from lorafleet.compute_threads import call_in_fresh_thread as fresh

OUT = Path(__file__).parent / "results" / "http_vs_grpc.json"
PROMPTS = [
    "My invoice was charged twice this month.",
    "How do I reset my password?",
    "The parcel arrived damaged, what now?",
    "Can I change the delivery address of my order?",
]
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROTOCOLS = ("grpc", "http")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each: both protocols)")
    p.add_argument("--streams", type=int, default=16, help="concurrent streaming clients")
    p.add_argument("--requests", type=int, default=4, help="requests per client per phase")
    p.add_argument("--max-tokens", type=int, default=32, help="new tokens per request")
    p.add_argument("--batch", type=int, default=16, help="the engine's max_batch_size")
    p.add_argument("--quantization", default="nf4", choices=("nf4", "int8", "none"))
    p.add_argument("--http-client", default="httpx", choices=("httpx", "openai"),
                   help="HTTP load generator: hand-parsed SSE over httpx, or the official openai SDK")
    p.add_argument("--threads", type=int, default=int(os.environ.get("LORAFLEET_BENCH_THREADS", "2")),
                   help="torch threads of the server")
    p.add_argument("--out", type=Path, default=OUT, help="where the JSON results go")
    return p.parse_args(argv)


# -- the load generator (its own process) ---------------------------------------------------------
async def grpc_request(stub, prompt: str, max_tokens: int) -> tuple[int, float]:
    from lorafleet.v1 import common_pb2, inference_pb2

    req = inference_pb2.GenerateStreamRequest(adapter="support-bot", prompt=prompt,
                                              sampling=common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0))
    t0, first, tokens = time.perf_counter(), None, 0
    async for chunk in stub.GenerateStream(req, timeout=600):
        if first is None and chunk.token_ids:
            first = time.perf_counter() - t0
        if chunk.HasField("usage"):
            tokens = chunk.usage.completion_tokens
    return tokens, first if first is not None else time.perf_counter() - t0


async def httpx_request(http, prompt: str, max_tokens: int) -> tuple[int, float]:
    body = {"model": "support-bot", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    t0, first, tokens = time.perf_counter(), None, 0
    async with http.stream("POST", "/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            # decode only what is read (the first text, the usage chunk, errors), as a lean client would
            if not line.startswith("data: {") or (first is not None and '"usage":{' not in line
                                                  and '"error":' not in line):
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            if first is None and chunk["choices"] and chunk["choices"][0]["text"]:
                first = time.perf_counter() - t0
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return tokens, first if first is not None else time.perf_counter() - t0


async def openai_request(client, prompt: str, max_tokens: int) -> tuple[int, float]:
    t0, first, tokens = time.perf_counter(), None, 0
    stream = await client.completions.create(model="support-bot", prompt=prompt, max_tokens=max_tokens,
                                             temperature=0, stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].text:
            first = time.perf_counter() - t0
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return tokens, first if first is not None else time.perf_counter() - t0


async def client_load(protocol: str, address: str, streams: int, requests: int, max_tokens: int,
                      http_client: str) -> dict:
    import grpc
    import httpx
    import openai

    from lorafleet.v1 import inference_pb2_grpc

    ttfts: list[float] = []
    errors: list[str] = []
    tokens = [0]

    async def one_stream(send, s: int) -> None:
        for i in range(requests):
            try:
                n, ttft = await send(PROMPTS[(s + i) % len(PROMPTS)], max_tokens)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            tokens[0] += n
            ttfts.append(ttft)

    async def run(send) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(one_stream(send, s) for s in range(streams)))
        return time.perf_counter() - t0

    cpu = time.process_time()

    if protocol == "grpc":
        async with grpc.aio.insecure_channel(address) as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            seconds = await run(lambda p, m: grpc_request(stub, p, m))
    elif http_client == "openai":
        client = openai.AsyncOpenAI(base_url=address, api_key="none", max_retries=0, timeout=600,
                                    http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=streams)))
        seconds = await run(lambda p, m: openai_request(client, p, m))
        await client.close()
    else:
        limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
        async with httpx.AsyncClient(base_url=address, timeout=600, limits=limits) as http:
            seconds = await run(lambda p, m: httpx_request(http, p, m))
    return {"tokens": tokens[0], "seconds": seconds, "ttft": ttfts, "errors": errors,
            "client_cpu_s": time.process_time() - cpu}


async def run_client_process(protocol: str, address: str, args: argparse.Namespace) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", protocol, address, str(args.streams), str(args.requests),
        str(args.max_tokens), args.http_client, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{protocol} client process failed with exit status {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


# -- the server side ----------------------------------------------------------------------------
def build(args: argparse.Namespace, work: Path):
    """Runtime, registry (support-bot v1 production) and settings."""
    import torch

    from inference_service.runtime import build_runtime
    from lorafleet.adapters.synthetic import write_lora_adapter
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings
    from lorafleet.registry.store import Registry

    torch.set_num_threads(args.threads)
    model_dir = fresh(embedded_model_dir)
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    registry = Registry(f"sqlite:///{work / 'registry.db'}", work / "artifacts")
    path = write_lora_adapter(work / "adapter-v1", spec, r=16, alpha=32.0, target_modules=ALL_LINEAR, seed=1)
    registry.register_version("support-bot", path, base_spec=spec, lineage={"source": "imported"})
    registry.set_alias("support-bot", "production", 1)
    settings = Settings.from_env(environ={}, home=work / "home", quantization=args.quantization, device="cpu",
                                 max_batch_size=args.batch, adapter_slots=4, max_adapter_rank=16, alias_poll_s=3600.0,
                                 live_sample_rate=0.0, max_new_tokens_limit=max(256, args.max_tokens),
                                 max_queue=max(256, 2 * args.streams), http_port=0)
    runtime = fresh(build_runtime, model_dir, spec, settings)
    runtime.engine.start()
    return runtime, registry, settings, spec


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def phase_stats(result: dict) -> dict:
    return {"tokens": result["tokens"], "seconds": result["seconds"],
            "tokens_per_s": result["tokens"] / result["seconds"] if result["seconds"] else 0.0,
            "ttft_p50_s": percentile(result["ttft"], 0.5), "ttft_p95_s": percentile(result["ttft"], 0.95),
            "requests": len(result["ttft"]), "errors": len(result["errors"]),
            "server_cpu_ms_per_token": 1000 * result["server_cpu_s"] / max(result["tokens"], 1),
            "loop_thread_cpu_ms_per_token": 1000 * result["loop_thread_cpu_s"] / max(result["tokens"], 1),
            "decode_steps": result["decode_steps"], "mean_batch_rows": result["mean_batch_rows"],
            "client_cpu_s": result["client_cpu_s"]}


def summarize(rounds: list[dict], errors: list[str], args: argparse.Namespace) -> dict:
    ratios = [r["http"]["tokens_per_s"] / r["grpc"]["tokens_per_s"] for r in rounds]
    pooled = {p: sum(r[p]["tokens"] for r in rounds) / sum(r[p]["seconds"] for r in rounds) for p in PROTOCOLS}
    ratio = statistics.median(ratios)
    n_errors = {p: sum(r[p]["errors"] for r in rounds) for p in PROTOCOLS}
    return {
        "config": {"model": "SmolLM2-135M-Instruct", "quantization": args.quantization, "rounds": args.rounds,
                   "streams": args.streams, "requests_per_stream": args.requests, "max_tokens": args.max_tokens,
                   "batch": args.batch, "torch_threads": args.threads, "device": "cpu",
                   "http_client": args.http_client, "endpoint": "/v1/completions (stream, include_usage)"},
        "rounds": [{**r, "ratio_http_over_grpc": x} for r, x in zip(rounds, ratios)],
        "pooled_tokens_per_s": pooled, "ratio_median_of_rounds": ratio, "errors": n_errors,
        "error_samples": errors[:5],
        "bars": {"http_at_least_0.95x_grpc": ratio >= 0.95, "zero_errors": sum(n_errors.values()) == 0},
    }


async def measured_phase(protocol: str, address: str, args: argparse.Namespace) -> dict:
    """One phase, with the server's CPU time: the whole process's and the event loop thread's (where
    both transports run; the rest is the engine's worker thread)."""
    cpu, loop_cpu, steps = time.process_time(), time.thread_time(), batch_rows()
    result = await run_client_process(protocol, address, args)
    result["server_cpu_s"] = time.process_time() - cpu
    result["loop_thread_cpu_s"] = time.thread_time() - loop_cpu
    after = batch_rows()
    result["decode_steps"], result["mean_batch_rows"] = after[0] - steps[0], (after[1] - steps[1]) / max(
        after[0] - steps[0], 1)
    return result


def batch_rows() -> tuple[float, float]:
    """(decode steps so far, rows decoded so far) from the engine's batch-size histogram."""
    from prometheus_client import REGISTRY

    return (REGISTRY.get_sample_value("lorafleet_batch_size_count") or 0.0,
            REGISTRY.get_sample_value("lorafleet_batch_size_sum") or 0.0)


async def serve_and_measure(args: argparse.Namespace, runtime, registry, settings, spec) -> dict:
    import grpc

    from inference_service.http.lifecycle import Backend
    from inference_service.http.server import HttpServer
    from inference_service.servicer import InferenceServicer, add_to_server

    server = grpc.aio.server()
    servicer = InferenceServicer(settings, registry, runtime)
    add_to_server(servicer, server)
    addresses = {"grpc": f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"}
    await server.start()
    http = HttpServer(settings, port=0)
    await http.start()
    http.serve(Backend(front_door=servicer.front_door, registry=registry, settings=settings, base_model=spec.name,
                       fingerprint=spec.fingerprint))
    addresses["http"] = http.base_url
    rounds, errors = [], []
    try:
        warm = argparse.Namespace(**{**vars(args), "streams": 2, "requests": 1, "max_tokens": 4})
        for protocol in PROTOCOLS:
            await run_client_process(protocol, addresses[protocol], warm)
        for n in range(args.rounds):
            order = PROTOCOLS if n % 2 == 0 else PROTOCOLS[::-1]
            raw = {p: await measured_phase(p, addresses[p], args) for p in order}
            errors.extend(e for p in PROTOCOLS for e in raw[p]["errors"])
            rounds.append({p: phase_stats(raw[p]) for p in PROTOCOLS})
            tps = {p: round(rounds[-1][p]["tokens_per_s"], 1) for p in PROTOCOLS}
            show = {k: {p: round(rounds[-1][p][k], 3) for p in PROTOCOLS}
                    for k in ("loop_thread_cpu_ms_per_token", "mean_batch_rows", "client_cpu_s", "ttft_p50_s")}
            print(f"round {n}: tokens/s {tps}, ratio {tps['http'] / tps['grpc']:.3f}, {show}", flush=True)
    finally:
        await http.stop(1)
        await server.stop(1)
        await servicer.front_door.close()
    return summarize(rounds, errors, args)


def main(argv: list[str] | None = None) -> dict:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lorafleet-http-bench-"))
    runtime, registry, settings, spec = build(args, work)
    try:
        results = asyncio.run(serve_and_measure(args, runtime, registry, settings, spec))
    finally:
        runtime.engine.stop()
        registry.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("pooled_tokens_per_s", "ratio_median_of_rounds", "errors", "bars")},
                     indent=1))
    return results


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--client":
        protocol, address, streams, requests, max_tokens, http_client = sys.argv[2:8]
        print(json.dumps(asyncio.run(client_load(protocol, address, int(streams), int(requests), int(max_tokens),
                                                 http_client))))
        sys.exit(0)
    main()
