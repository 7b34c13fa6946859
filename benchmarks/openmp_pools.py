"""Why one-off torch work runs in threads that exit (``lorafleet/compute_threads.py``), measured.

    python benchmarks/openmp_pools.py [--out benchmarks/results/openmp_pools.json]

Times two small ops of a LoRA-bank decode step on a long-lived worker thread, in three process
states (each in a fresh process, so no state leaks between them):

- ``worker_only``: nothing else in the process ever ran torch (one OpenMP pool: the worker's);
- ``main_has_pool``: the main thread ran one parallel op first and lives on, as a server's
  loader or executor thread would (two pools);
- ``loaded_in_fresh_thread``: the same op ran in a thread that exited before the worker started
  (what ``call_in_fresh_thread`` does).

Ops: the bank's shrink ``bmm`` ``[16,1,576] @ [16,576,16]`` and a ``[16,576] @ [576,576]`` mm.
Medians over 2000 calls, in microseconds; the ratio is ``main_has_pool / worker_only``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("worker_only", "main_has_pool", "loaded_in_fresh_thread")


def _time_us(fn, n: int = 2000) -> float:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


def _child(scenario: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch

    from lorafleet.compute_threads import call_in_fresh_thread

    torch.set_grad_enabled(False)
    big = torch.randn(512, 512)
    if scenario == "main_has_pool":
        big @ big  # a parallel region on the main thread: its pool lives as long as the thread
    elif scenario == "loaded_in_fresh_thread":
        call_in_fresh_thread(lambda: big @ big)
    x, a, w = torch.randn(16, 1, 576), torch.randn(16, 576, 16), torch.randn(576, 576)
    out: dict = {}

    def worker() -> None:
        torch.set_grad_enabled(False)
        out["bmm_us"] = _time_us(lambda: torch.bmm(x, a))
        out["mm_us"] = _time_us(lambda: torch.mm(x.view(16, 576), w))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    out["threads"] = torch.get_num_threads()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "openmp_pools.json")
    ap.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child)), flush=True)
        return
    results = {}
    for scenario in SCENARIOS:
        proc = subprocess.run([sys.executable, __file__, "--child", scenario], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{scenario} failed: {proc.stderr[-2000:]}")
        results[scenario] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(scenario, results[scenario], flush=True)
    for op in ("bmm_us", "mm_us"):
        results[f"{op[:-3]}_slowdown_with_second_pool"] = (results["main_has_pool"][op]
                                                           / results["worker_only"][op])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
