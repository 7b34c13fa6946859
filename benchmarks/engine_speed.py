"""Engine speed before and after, in one run: this tree against a git ref, interleaved round by round.

    python benchmarks/engine_speed.py [--baseline-ref 5696eea] [--rounds 3] [--out benchmarks/results/engine_speed.json]
        [--env KEY=VALUE ...] [--baseline-env KEY=VALUE ...] [--busy N] [--quantization auto]
        [--baseline-quantization Q] [--setting KEY=VALUE ...]

``--env`` / ``--baseline-env`` set environment variables of this tree's / the baseline's children
(e.g. the same tree on both sides, ``--baseline-ref HEAD --env GOMP_SPINCOUNT=300000``, to compare
an OpenMP setting); ``--busy N`` runs N busy-looping processes for the whole run, so both sides are
timed on a contended CPU (one per core: the contention bar of the speed issue); ``--quantization``
sets both trees' base format (default ``auto``: each tree's own default), ``--baseline-quantization``
the baseline's alone (5696eea knows only nf4, int8 and none); ``--setting`` sets a ``Settings`` field of
this tree's engine (``lora_decode_operands=fp32``).

Each round runs one child process per tree (the baseline is exported with ``git archive`` into a
temporary directory), alternating which goes first. A child sets its tree's OpenMP spin count as
the inference server does (``configure_openmp``, where the tree has it), builds the runtime with its tree's
defaults (the baseline: nf4 through transformers' forward; this tree: ``quantization=auto``), starts
the engine, warms every workload up once, then times each ``--reps`` times (median):

* ``one_base`` / ``one_adapter``: one stream of 64 new tokens (a single tenant), bare base / r=16 adapter;
* ``b16_one`` / ``b16_many`` / ``b16_base``: 16 requests x 32 new tokens on one adapter / 16 distinct
  adapters / the bare base.

tokens/s = new tokens / wall time from submission to the last token (prefill included); EOS is
disabled (``engine.eos = set()``) so every request generates exactly its tokens. Ratios are taken per
round (after / before) and their median reported, so other processes' load hits both trees alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
WORKLOADS = ("one_base", "one_adapter", "b16_one", "b16_many", "b16_base")

CHILD = r'''
import importlib, importlib.util, json, statistics, sys, time
from pathlib import Path
if importlib.util.find_spec("lorafleet.compute_threads"):  # the tree's server OpenMP setting, before torch loads
    threads = importlib.import_module("lorafleet.compute_threads")
    if hasattr(threads, "configure_openmp"):  # older trees ran libgomp's default
        threads.configure_openmp()
import torch
spec_in = json.loads(sys.argv[1])
import inference_service, lorafleet.config
for mod in (inference_service, lorafleet.config):  # this tree's code, not the checkout's
    assert Path(mod.__file__).resolve().is_relative_to(Path.cwd().resolve()), mod.__file__
from lorafleet.base_model import read_base_model_spec
from lorafleet.config import Settings
from inference_service.engine.types import GenerationRequest, SamplingSpec
from inference_service.model.adapter_weights import AdapterKey
from inference_service.runtime import build_runtime
from lorafleet.compute_threads import call_in_fresh_thread as fresh
model_dir = Path(spec_in["model_dir"])
spec = fresh(read_base_model_spec, model_dir, name="smollm2-135m-instruct")
settings = Settings.from_env(environ={}, home=Path(spec_in["home"]), device="cpu", adapter_slots=16,
                             max_batch_size=16, adapter_host_cache=64, max_adapter_rank=64,
                             quantization=spec_in["quantization"], **spec_in.get("settings", {}))
rt = fresh(build_runtime, model_dir, spec, settings)
rt.engine.eos = set()
rt.engine.start()
hosts = [rt.adapters.put_host(fresh(rt.read_adapter, Path(p), AdapterKey(f"bench-{i:03d}", 1)))
         for i, p in enumerate(spec_in["adapters"])]
tok = rt.tokenizer
ids = [list(tok(p)["input_ids"]) for p in spec_in["prompts"]]

def run(n, new, adapters):
    t0 = time.perf_counter()
    hs = [rt.engine.submit(GenerationRequest(request_id=str(i), prompt_ids=ids[i % len(ids)],
                                             sampling=SamplingSpec(max_tokens=new), adapter=adapters[i]))
          for i in range(n)]
    got = 0
    for h in hs:
        evs = h.wait_sync(600)
        assert evs[-1].error is None, evs[-1].error
        got += sum(len(e.token_ids) for e in evs)
    return got / (time.perf_counter() - t0)

work = {"one_base": lambda: run(1, 64, [None]), "one_adapter": lambda: run(1, 64, [hosts[0]]),
        "b16_one": lambda: run(16, 32, [hosts[0]] * 16), "b16_many": lambda: run(16, 32, hosts[:16]),
        "b16_base": lambda: run(16, 32, [None] * 16)}
for fn in work.values():
    fn()
out = {k: [] for k in work}
for _ in range(spec_in["reps"]):
    for k, fn in work.items():
        out[k].append(fn())
rt.engine.stop()
print(json.dumps({k: statistics.median(v) for k, v in out.items()}))
'''


def export_tree(ref: str) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="lorafleet-baseline-"))
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_child(tree: Path, payload: dict, extra_env: dict[str, str]) -> dict:
    env = dict(os.environ) | extra_env
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "clients" / "python")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    # cwd is the tree: ``python -c`` puts the working directory first on sys.path, before PYTHONPATH, so a
    # child started from the checkout imported the checkout's code whatever tree it was meant to time
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(payload)], env=env, capture_output=True,
                          text=True, timeout=1800, check=False, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"child in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_env(pairs: list[str]) -> dict[str, str]:
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0]]
    if bad:
        raise SystemExit(f"--env/--baseline-env take KEY=VALUE, got {bad}")
    return dict(p.split("=", 1) for p in pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-ref", default="5696eea")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "engine_speed.json")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="for this tree's children")
    ap.add_argument("--baseline-env", action="append", default=[], metavar="KEY=VALUE",
                    help="for the baseline's children")
    ap.add_argument("--busy", type=int, default=0, help="busy-looping processes during the run")
    ap.add_argument("--quantization", default="auto", help="base format of both trees (auto, int4, nf4, ...)")
    ap.add_argument("--baseline-quantization", default=None, help="the baseline's base format (default: as above)")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="a Settings field of this tree's engine (e.g. lora_decode_operands=fp32)")
    args = ap.parse_args()
    envs = {"after": parse_env(args.env), "before": parse_env(args.baseline_env)}
    settings = parse_env(args.setting)
    from bench_adapters import bench_adapter_dirs
    from bench_model import embedded_model_dir
    from bench_serving import GENERATION_PROMPTS

    payload = {"model_dir": str(embedded_model_dir()), "adapters": [str(p) for p in bench_adapter_dirs(16)],
               "prompts": GENERATION_PROMPTS, "reps": args.reps,
               "home": tempfile.mkdtemp(prefix="lorafleet-bench-home-")}
    trees = {"before": export_tree(args.baseline_ref), "after": ROOT}
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for r in range(args.rounds):
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                quantization = (name == "before" and args.baseline_quantization) or args.quantization
                child = payload | {"quantization": quantization, "settings": settings if name == "after" else {}}
                runs[name].append(run_child(trees[name], child, envs[name]))
                print(f"round {r} {name}", {k: round(v, 1) for k, v in runs[name][-1].items()}, flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    result = {"baseline_ref": args.baseline_ref, "rounds": args.rounds, "load_average": os.getloadavg(),
              "env": envs, "settings": settings, "busy_processes": args.busy, "quantization": args.quantization,
              "baseline_quantization": args.baseline_quantization or args.quantization,
              "before": {k: statistics.median(x[k] for x in runs["before"]) for k in WORKLOADS},
              "after": {k: statistics.median(x[k] for x in runs["after"]) for k in WORKLOADS},
              "ratio_after_vs_before": {k: statistics.median(a[k] / b[k] for a, b in zip(runs["after"],
                                                                                          runs["before"]))
                                        for k in WORKLOADS},
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
