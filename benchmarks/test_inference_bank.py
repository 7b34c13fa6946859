"""Inference benchmarks on the real SmolLM2-135M (nf4), adapters r=16 on all linear layers.

All measurements run in ONE process/run so their ratios are comparable on a shared machine:
  (a) bank: 16 distinct adapters vs one adapter, batch of 16, 32 new greedy tokens
  (b) bank vs PEFT ``adapter_names`` on the same 16 adapters (+ PEFT single adapter for reference)
  (c) cold adapter load (safetensors -> host -> bank slot) vs PEFT ``load_adapter``
  (d) 32 concurrent gRPC streams across 32 adapters (16 slots: evictions happen) vs the engine alone;
      the streams come from a separate client process, the server runs in this one
Throughput = generated tokens / wall time from submission to the last token (prefill included).
Variants are interleaved round by round and ratios are taken per round (median reported), so the
load of other processes on a shared machine hits every variant alike; ``a_step_level`` also
alternates one adapter / 16 adapters / no adapter on every single decode step of one batch.
EOS is disabled on both sides so every row generates exactly 32 tokens.

Threads: every forward pass of both systems runs on the engine's worker thread (PEFT's through
``engine.call``, between engine steps, with the engine idle), and model loads and adapter reads
run in threads that exit afterwards. A second long-lived thread that has run torch keeps an
OpenMP pool, and with more pool threads than cores libgomp stops spin-waiting: small ops get
2-7x slower for whoever runs (``benchmarks/openmp_pools.py``, ``lorafleet/compute_threads.py``). The server does the same.

Run: ``pytest benchmarks/test_inference_bank.py -s`` (or ``python benchmarks/test_inference_bank.py``);
results go to ``benchmarks/results/inference_bank.json`` (override with LORAFLEET_BENCH_OUT).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pytest
import torch
from bench_model import embedded_model_dir

from lorafleet.compute_threads import call_in_fresh_thread as fresh

NEW_TOKENS = 32
BATCH = 16
N_ADAPTERS = 32
RANK = 16
REPEATS = int(os.environ.get("LORAFLEET_BENCH_REPEATS", "5"))
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPTS = [
    "Write a short note to a customer about a delayed order.",
    "Explain what a LoRA adapter is in one paragraph.",
    "List three tips for writing clear emails.",
    "Summarize the plot of a detective story in two sentences.",
]



def _make_adapters(model_dir: Path, root: Path, n: int) -> list[Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=32, target_modules=ALL_LINEAR, lora_dropout=0.0))
    out = []
    for i in range(n):
        torch.manual_seed(1000 + i)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.normal_(0, 0.02)
        path = root / f"bench-{i:02d}"
        model.save_pretrained(path)
        out.append(path)
    return out


def _tok_per_s(tokens: int, seconds: float) -> float:
    return tokens / seconds if seconds > 0 else float("nan")


def _engine_run(rt, prompts_ids: list[list[int]], adapters: list) -> tuple[float, int]:
    from inference_service.engine.types import GenerationRequest, SamplingSpec

    t0 = time.perf_counter()
    handles = [rt.engine.submit(GenerationRequest(request_id=str(i), prompt_ids=ids,
                                                  sampling=SamplingSpec(max_tokens=NEW_TOKENS), adapter=a))
               for i, (ids, a) in enumerate(zip(prompts_ids, adapters))]
    tokens = 0
    for h in handles:
        evs = h.wait_sync(600)
        assert evs[-1].error is None, evs[-1].error
        tokens += sum(len(e.token_ids) for e in evs)
    return time.perf_counter() - t0, tokens


def _peft_run(model, tok, prompts: list[str], adapter_names: list[str] | None) -> tuple[float, int]:
    enc = tok(prompts, return_tensors="pt", padding=True)
    kw = {"adapter_names": adapter_names} if adapter_names else {}
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                             pad_token_id=tok.pad_token_id, **kw)
    seconds = time.perf_counter() - t0
    return seconds, (out.shape[1] - enc["input_ids"].shape[1]) * len(prompts)


def _step_ab(rt, ids16: list[list[int]], hosts: list, steps: int = 40) -> dict:
    """Decode-step A/B on one batch of 16 rows: the same KV cache, alternating per step between
    one adapter on all rows, 16 distinct adapters, and no adapter. Alternating every step makes
    the ratio robust to other processes' load, which changes over seconds."""
    from transformers import DynamicCache

    from inference_service.engine import kv_batch

    slots_one = [rt.adapters.info(hosts[0].key).slot] * len(ids16)
    slots_many = [rt.adapters.info(h.key).slot for h in hosts]
    assert all(slots_many) and len(set(slots_many)) == len(hosts)
    lens = [len(i) for i in ids16]
    width = max(lens)
    ids = torch.full((len(ids16), width), 0, dtype=torch.long)
    for i, row in enumerate(ids16):
        ids[i, width - len(row):] = torch.tensor(row)
    mask = kv_batch.attention_mask(lens, width, "cpu")
    model, bank = rt.base.model, rt.bank
    times: dict[str, list[float]] = {"one": [], "many": [], "base": []}

    def forward(slots):
        if slots is None:
            bank.clear()
        else:
            bank.set_slots(slots, "cpu")
        t0 = time.perf_counter()
        model(input_ids=x, attention_mask=step_mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
        seconds = time.perf_counter() - t0
        for layer in cache.layers:  # drop the appended column: every step sees the same cache
            layer.keys, layer.values = layer.keys[:, :, :width], layer.values[:, :, :width]
        return seconds

    def task():
        nonlocal cache, x, step_mask
        with torch.no_grad():
            cache = DynamicCache()
            bank.set_slots(slots_many, "cpu")
            model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
            x = ids[:, -1:]
            step_mask = kv_batch.attention_mask([n + 1 for n in lens], width + 1, "cpu")
            for s in (slots_one, slots_many, None):  # warm the operand caches
                forward(s)
            for i in range(steps):
                order = [("one", slots_one), ("many", slots_many), ("base", None)]
                for name, s in order[i % 3:] + order[: i % 3]:
                    times[name].append(forward(s))

    cache = x = step_mask = None
    rt.engine.call(task).result()  # on the worker thread, between engine steps
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"median_step_seconds": med, "ratio_many_vs_one": med["one"] / med["many"],
            "ratio_one_vs_base": med["base"] / med["one"], "steps": steps}


def _median_rate(fn) -> dict:
    runs = []
    for _ in range(REPEATS):
        seconds, tokens = fn()
        runs.append(_tok_per_s(tokens, seconds))
    return {"tokens_per_s": statistics.median(runs), "runs": runs}


async def _grpc_streams(address: str, refs: list[str], prompts: list[str]) -> tuple[float, int, int]:
    import grpc

    from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)

        async def one(ref: str, prompt: str) -> tuple[int, int]:
            req = inference_pb2.GenerateStreamRequest(adapter=ref, prompt=prompt,
                                                      sampling=common_pb2.SamplingParams(max_tokens=NEW_TOKENS))
            n = 0
            try:
                async for chunk in stub.GenerateStream(req, timeout=600):
                    n += len(chunk.token_ids)
                return n, 0
            except grpc.aio.AioRpcError as exc:
                print("stream error", ref, exc.code(), exc.details())
                return n, 1

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(r, p) for r, p in zip(refs, prompts)))
        seconds = time.perf_counter() - t0
    return seconds, sum(r[0] for r in results), sum(r[1] for r in results)


async def _grpc_streams_in_client_process(address: str, refs: list[str], prompts: list[str]) -> tuple[float, int, int]:
    """The load generator runs in its own process, as real clients do, so its Python work does
    not compete with the server's event loop and engine thread for this process's GIL."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", address, json.dumps({"refs": refs, "prompts": prompts}),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client process failed with exit status {proc.returncode}")
    seconds, tokens, errors = json.loads(out.decode().strip().splitlines()[-1])
    return seconds, tokens, errors


def run_all(out_path: Path) -> dict:
    import grpc
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from lorafleet.base_model import read_base_model_spec
    from lorafleet.config import Settings
    from lorafleet.registry.store import Registry
    from inference_service.model.adapter_weights import AdapterKey
    from inference_service.runtime import build_runtime
    from inference_service.servicer import InferenceServicer, add_to_server

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(int(os.environ.get("LORAFLEET_BENCH_THREADS", "2")))
    model_dir = fresh(embedded_model_dir)
    spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
    work = Path(tempfile.mkdtemp(prefix="lorafleet-bench-"))
    adapter_dirs = fresh(_make_adapters, model_dir, work / "adapters", N_ADAPTERS)
    settings = Settings.from_env(environ={}, home=work / "home", quantization="nf4", device="cpu",
                                 adapter_slots=16, max_batch_size=BATCH, adapter_host_cache=64, max_adapter_rank=64)
    results: dict = {"config": {"model": "SmolLM2-135M-Instruct", "quantization": "nf4", "rank": RANK,
                                "targets": ALL_LINEAR, "batch": BATCH, "new_tokens": NEW_TOKENS, "repeats": REPEATS,
                                "torch_threads": torch.get_num_threads(), "device": "cpu"}}

    rt = fresh(build_runtime, model_dir, spec, settings)
    rt.engine.eos = set()  # fixed-length generation, like min_new_tokens on the PEFT side
    rt.engine.start()
    tok = rt.tokenizer
    prompts16 = [PROMPTS[i % len(PROMPTS)] for i in range(BATCH)]
    ids16 = [list(tok(p)["input_ids"]) for p in prompts16]

    ptok = AutoTokenizer.from_pretrained(str(model_dir))
    ptok.padding_side = "left"
    pbase = fresh(lambda: AutoModelForCausalLM.from_pretrained(
        str(model_dir), device_map={"": "cpu"}, dtype=torch.float32,
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_compute_dtype=torch.float32)))
    pmodel = fresh(PeftModel.from_pretrained, pbase, str(adapter_dirs[0]), adapter_name="bench-00")

    def on_engine(fn):
        return rt.engine.call(fn).result()
    pmodel.eval()

    # (c) cold load, interleaved with PEFT load_adapter of the same adapter (same page-cache state):
    # bank = safetensors -> host tensors -> copy into a free bank slot on the engine worker thread
    cold, peft_loads = [], []
    for i in range(1, BATCH):
        t0 = time.perf_counter()
        host = rt.adapters.put_host(fresh(rt.read_adapter, adapter_dirs[i], AdapterKey(f"bench-{i:02d}", 1)))
        slot = rt.engine.call(lambda h=host: rt.adapters.pin(h)).result()
        cold.append(time.perf_counter() - t0)
        assert slot
        t0 = time.perf_counter()
        fresh(pmodel.load_adapter, str(adapter_dirs[i]), adapter_name=f"bench-{i:02d}")
        peft_loads.append(time.perf_counter() - t0)
    rt.adapters.put_host(fresh(rt.read_adapter, adapter_dirs[0], AdapterKey("bench-00", 1)))
    hosts = [rt.adapters.get_host(AdapterKey(f"bench-{i:02d}", 1)) for i in range(BATCH)]
    results["c_bank_cold_load_s"] = {"median": statistics.median(cold), "runs": cold}
    results["c_peft_load_adapter_s"] = {"median": statistics.median(peft_loads), "runs": peft_loads}
    results["c_ratio_bank_vs_peft_load"] = statistics.median(cold) / statistics.median(peft_loads)

    names16 = [f"bench-{i:02d}" for i in range(BATCH)]
    _engine_run(rt, ids16[:4], hosts[:4])  # warm-up
    pmodel.set_adapter("bench-00")
    on_engine(lambda: _peft_run(pmodel, ptok, prompts16[:4], None))
    results["a_step_level"] = _step_ab(rt, ids16, hosts)
    print("step-level A/B", results["a_step_level"], flush=True)
    # (a)+(b): interleaved rounds so that load from other processes hits every variant alike;
    # ratios are computed per round, then the median is reported
    variants = {
        "bank_one_adapter": lambda: _engine_run(rt, ids16, [hosts[0]] * BATCH),
        "bank_16_adapters": lambda: _engine_run(rt, ids16, hosts),
        "bank_base_model_only": lambda: _engine_run(rt, ids16, [None] * BATCH),
        "peft_one_adapter": lambda: on_engine(lambda: _peft_run(pmodel, ptok, prompts16, None)),
        "peft_adapter_names_16": lambda: on_engine(lambda: _peft_run(pmodel, ptok, prompts16, names16)),
    }
    rates: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    for r in range(REPEATS):
        for k in order[r % len(order):] + order[: r % len(order)]:
            seconds, tokens = variants[k]()
            rates[k].append(_tok_per_s(tokens, seconds))
        print("round", r, {k: round(v[-1], 1) for k, v in rates.items()}, flush=True)

    def ratio(num: str, den: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[num], rates[den]))

    for k, v in rates.items():
        results[k] = {"tokens_per_s": statistics.median(v), "runs": v}
    results["a_ratio_16_vs_1"] = ratio("bank_16_adapters", "bank_one_adapter")
    results["a_ratio_bank16_vs_peft_one_adapter"] = ratio("bank_16_adapters", "peft_one_adapter")
    results["b_ratio_bank_vs_peft_adapter_names"] = ratio("bank_16_adapters", "peft_adapter_names_16")
    del pmodel, pbase
    print(json.dumps(results, indent=1), flush=True)

    # (d) 32 streams across 32 adapters over gRPC vs the engine alone, interleaved rounds.
    # 16 slots for 32 adapters: slots are evicted and reloaded from the host tier in both.
    registry = Registry(f"sqlite:///{work / 'registry.db'}", work / "artifacts")
    for i, d in enumerate(adapter_dirs):
        registry.register_version(f"bench-{i:02d}", d, base_spec=spec, lineage={"source": "imported"})
        registry.set_alias(f"bench-{i:02d}", "production", 1)
    prompts32 = [PROMPTS[i % len(PROMPTS)] for i in range(N_ADAPTERS)]
    ids32 = [list(tok(p)["input_ids"]) for p in prompts32]
    hosts32 = [rt.adapters.put_host(fresh(rt.read_adapter, Path(registry.get_version(f"bench-{i:02d}", 1).artifact_path),
                                          AdapterKey(f"bench-{i:02d}", 1))) for i in range(N_ADAPTERS)]
    loads_before, evictions_before = rt.adapters.loads, rt.adapters.evictions

    async def grpc_phase() -> dict:
        server = grpc.aio.server()
        servicer = InferenceServicer(settings, registry, rt)
        add_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        refs = [f"bench-{i:02d}" for i in range(N_ADAPTERS)]
        engine_runs, grpc_runs, errors = [], [], 0
        try:
            for r in range(REPEATS):
                seconds, tokens = await asyncio.to_thread(_engine_run, rt, ids32, hosts32)
                engine_runs.append(_tok_per_s(tokens, seconds))
                seconds, tokens, errs = await _grpc_streams_in_client_process(f"127.0.0.1:{port}", refs, prompts32)
                grpc_runs.append(_tok_per_s(tokens, seconds))
                errors += errs
                assert tokens == N_ADAPTERS * NEW_TOKENS or errs, tokens
                print("round", r, "engine", round(engine_runs[-1], 1), "grpc", round(grpc_runs[-1], 1), flush=True)
        finally:
            await server.stop(1)
        return {"engine": engine_runs, "grpc": grpc_runs, "errors": errors}

    d = asyncio.run(grpc_phase())
    results["d_engine_alone_32x32"] = {"tokens_per_s": statistics.median(d["engine"]), "runs": d["engine"]}
    results["d_grpc_32_streams_32_adapters"] = {"tokens_per_s": statistics.median(d["grpc"]), "runs": d["grpc"],
                                                "errors": d["errors"]}
    results["d_ratio_grpc_vs_engine"] = statistics.median(g / e for g, e in zip(d["grpc"], d["engine"]))
    results["d_slot_loads"] = rt.adapters.loads - loads_before
    results["d_slot_evictions"] = rt.adapters.evictions - evictions_before
    rt.engine.stop()
    registry.close()
    over_grpc = results["d_grpc_32_streams_32_adapters"]

    results["bars"] = {
        "a_16_vs_1_ge_0.85": results["a_ratio_16_vs_1"] >= 0.85,
        "a_step_level_16_vs_1_ge_0.85": results["a_step_level"]["ratio_many_vs_one"] >= 0.85,
        "b_vs_peft_adapter_names_ge_3": results["b_ratio_bank_vs_peft_adapter_names"] >= 3.0,
        "c_load_le_0.1": results["c_ratio_bank_vs_peft_load"] <= 0.1,
        "d_grpc_ge_0.7_zero_errors": results["d_ratio_grpc_vs_engine"] >= 0.7 and over_grpc["errors"] == 0,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=1))
    return results


@pytest.fixture(scope="module")
def bench_results() -> dict:
    out = Path(os.environ.get("LORAFLEET_BENCH_OUT", Path(__file__).parent / "results" / "inference_bank.json"))
    return run_all(out)


def test_a_sixteen_adapters_cost_little_more_than_one(bench_results):
    assert bench_results["a_ratio_16_vs_1"] >= 0.85


def test_b_bank_beats_peft_adapter_names(bench_results):
    assert bench_results["b_ratio_bank_vs_peft_adapter_names"] >= 3.0


def test_c_cold_load_is_a_tenth_of_peft_load_adapter(bench_results):
    assert bench_results["c_ratio_bank_vs_peft_load"] <= 0.1


def test_d_grpc_streams_keep_engine_throughput(bench_results):
    assert bench_results["d_grpc_32_streams_32_adapters"]["errors"] == 0
    assert bench_results["d_ratio_grpc_vs_engine"] >= 0.7


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--client":
        spec = json.loads(sys.argv[3])
        print(json.dumps(asyncio.run(_grpc_streams(sys.argv[2], spec["refs"], spec["prompts"]))))
        sys.exit(0)
    run_all(Path(os.environ.get("LORAFLEET_BENCH_OUT", Path(__file__).parent / "results" / "inference_bank.json")))
