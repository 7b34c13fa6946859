"""Fair queueing and long prompts on the real model: 64 concurrent streams, and one 4,000-token prompt.

    python benchmarks/engine_load.py [--streams 64] [--seconds 120] [--prompt-tokens 4000]
                                     [--out benchmarks/results/engine_load.json]

On SmolLM2-135M with the inference defaults of this machine (``quantization=auto``: int4 on a CPU), the
engine runs in this process, its worker on its own thread as the server runs it:

* ``long_prompt``: one request whose prompt is ``--prompt-tokens`` tokens (real text, repeated), with
  ``max_tokens = 1``; wall time from submission to the final event (bar: <= 10 s), three times, median;
* ``streams``: ``--streams`` clients, each sending short requests (a support-ticket prompt, 32 new
  tokens, EOS disabled so every request does the same work) one after the other for ``--seconds``,
  round-robin over 8 adapters and the bare base. Reported: requests finished and lost (errors), time to
  first token p50 / p95 / p99 / max and the p95 / p50 ratio (bar: <= 3), generated tokens/s.

The time to first token is measured from submission to the first event carrying tokens, on the
client's event loop (asyncio), as the gRPC servicer sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_adapters import bench_adapter_dirs  # noqa: E402
from bench_model import embedded_model_dir  # noqa: E402

from lorafleet.compute_threads import call_in_fresh_thread, configure_openmp  # noqa: E402

TICKET = ("Triage the ticket. My order 4411 arrived with a cracked screen and the courier left it at the wrong "
          "door. I want a replacement before Friday.")
LONG_TEXT = ("The customer wrote again about the delayed parcel, the refund that never arrived, the invoice that "
             "was charged twice and the password reset email that went to spam. ")


def _runtime(home: Path):
    from inference_service.runtime import build_runtime
    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings

    model_dir = embedded_model_dir()
    spec = read_base_model_spec(model_dir)
    settings = Settings.from_env(environ={}, home=home, device="cpu", max_queue=4096, max_new_tokens_limit=1024)
    return build_runtime(model_dir, spec, settings)


def long_prompt(rt, tokens: int, reps: int = 3) -> dict:
    from inference_service.engine.types import GenerationRequest, SamplingSpec

    ids = list(rt.tokenizer(LONG_TEXT * (tokens // 20 + 1))["input_ids"])[:tokens]
    times = []
    for i in range(reps):
        t0 = time.perf_counter()
        handle = rt.engine.submit(GenerationRequest(request_id=f"long-{i}", prompt_ids=ids,
                                                    sampling=SamplingSpec(max_tokens=1)))
        events = handle.wait_sync(600)
        assert events[-1].error is None, events[-1].error
        times.append(time.perf_counter() - t0)
    return {"prompt_tokens": len(ids), "seconds": [round(t, 2) for t in times],
            "median_s": round(statistics.median(times), 2), "prompt_tokens_per_s": round(len(ids) / min(times))}


async def _client(rt, ids: list[int], adapters: list, k: int, until: float, ttft: list, stats: dict) -> None:
    from inference_service.engine.types import GenerationRequest, SamplingSpec

    loop = asyncio.get_running_loop()
    n = 0
    while time.perf_counter() < until:
        adapter = adapters[(k + n) % len(adapters)]
        t0 = time.perf_counter()
        handle = rt.engine.submit(GenerationRequest(request_id=f"s{k}-{n}", prompt_ids=ids,
                                                    sampling=SamplingSpec(max_tokens=32), adapter=adapter), loop)
        first = None
        async for event in handle.events_async():
            if first is None and event.token_ids:
                first = time.perf_counter() - t0
            if event.error is not None:
                stats["lost"] += 1
            stats["tokens"] += len(event.token_ids)
        if first is not None:
            ttft.append(first)
            stats["finished"] += 1
        n += 1


def streams(rt, adapters: list, n: int, seconds: float) -> dict:
    ids = list(rt.tokenizer(TICKET)["input_ids"])
    ttft: list[float] = []
    stats = {"finished": 0, "lost": 0, "tokens": 0}

    async def run() -> float:
        t0 = time.perf_counter()
        until = t0 + seconds
        await asyncio.gather(*(_client(rt, ids, adapters, k, until, ttft, stats) for k in range(n)))
        return time.perf_counter() - t0

    wall = asyncio.run(run())
    q = statistics.quantiles(ttft, n=100)
    p50, p95, p99 = statistics.median(ttft), q[94], q[98]
    return {"streams": n, "seconds": round(wall, 1), **stats, "tokens_per_s": round(stats["tokens"] / wall, 1),
            "ttft_p50_s": round(p50, 3), "ttft_p95_s": round(p95, 3), "ttft_p99_s": round(p99, 3),
            "ttft_max_s": round(max(ttft), 3), "p95_over_p50": round(p95 / p50, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--prompt-tokens", type=int, default=4000)
    ap.add_argument("--adapters", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "engine_load.json")
    args = ap.parse_args()
    configure_openmp()
    home = Path(tempfile.mkdtemp(prefix="lorafleet-load-"))
    rt = call_in_fresh_thread(_runtime, home)
    rt.engine.eos = set()
    rt.engine.start()
    try:
        hosts = [call_in_fresh_thread(rt.read_adapter, path, _key(i))
                 for i, path in enumerate(bench_adapter_dirs(args.adapters))]
        adapters = [rt.adapters.put_host(h) for h in hosts] + [None]
        result = {"long_prompt": long_prompt(rt, args.prompt_tokens),
                  "load": streams(rt, adapters, args.streams, args.seconds)}
    finally:
        rt.engine.stop()
    result["bars"] = {"long_prompt_le_10s": result["long_prompt"]["median_s"] <= 10.0,
                      "p95_le_3x_p50": result["load"]["p95_over_p50"] <= 3.0, "lost_0": result["load"]["lost"] == 0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


def _key(i: int):
    from inference_service.model.adapter_weights import AdapterKey

    return AdapterKey(f"load-{i}", 1)


if __name__ == "__main__":
    main()
