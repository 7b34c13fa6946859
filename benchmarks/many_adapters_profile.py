"""Where the time of ``many_adapters.py``'s Zipf case goes: model decode and prefill, and their LoRA part.

    python benchmarks/many_adapters_profile.py [--slots 64] [--requests 256] [many_adapters.py's options]

Runs ``many_adapters.py``'s one-adapter and Zipf cases (first ``--slots`` value only) with timers
wrapped around ``FastLlama.decode`` / ``prefill`` and the LoRA calls inside them
(``FusedLoRA.decode``, ``._sync`` / ``._hold`` (the kernel's per-slot operands), the resident-operand copies
``._write``, ``.segments``, ``_stacked_operands``, and ``_Grouped.build``, which built the decode operands
before they stayed resident), the slot loads (``LoRABankLinear.set_slot``), and prints seconds and call counts per case. To profile a tree from before a change, run
this file with ``PYTHONPATH`` at that tree (``git worktree add``). The timers add a little
per-call overhead, so the totals are for where the time goes, not for the throughput bar.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import many_adapters as ma

from inference_service.model import fast_llama, fused_lora, lora_bank

SPENT: Counter[str] = Counter()


def timed(name: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - t0
            SPENT[name + " calls"] += 1
    return wrapper


def install_timers() -> None:
    """Timers on what exists (a tree from before the resident operands has no ``_sync`` / ``_write``, and
    built its decode operands with ``_Grouped.build``)."""
    for owner, names in ((fast_llama.FastLlama, ("decode", "prefill")),
                         (fused_lora.FusedLoRA, ("decode", "_sync", "_hold", "_write", "segments")),
                         (lora_bank.LoRABankLinear, ("set_slot",)),
                         (lora_bank._Grouped, ("build",))):
        for name in names:
            if hasattr(owner, name):  # a classmethod is wrapped bound, so it is still called on the class
                setattr(owner, name, timed(f"{owner.__name__}.{name}", getattr(owner, name)))
    fused_lora._stacked_operands = timed("_stacked_operands", fused_lora._stacked_operands)


def main(argv: list[str] | None = None) -> None:
    args = ma.parse_args(argv if argv is not None else ["--slots", "64", "--requests", "256", *sys.argv[1:]])
    install_timers()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    paths = ma.bench_adapter_dirs(args.adapters)
    draws = ma.zipf_draws(args)
    rt = ma.build(args, args.slots[0])
    rt.engine.start()
    try:
        hosts = ma.host_all(rt, paths)
        ma.run_case(rt, [hosts[0]] * args.streams, args, "warm")
        for case, adapters in (("one_adapter", [hosts[0]] * args.requests), ("zipf", [hosts[k] for k in draws])):
            SPENT.clear()
            result = ma.run_case(rt, adapters, args, case)
            print(case, f"{result['tokens_per_s']:.1f} tok/s in {result['seconds']:.1f} s")
            for name in sorted(k for k in SPENT if not k.endswith(" calls")):
                print(f"  {name:28} {SPENT[name]:7.2f} s  {SPENT[name + ' calls']:6d} calls")
    finally:
        rt.engine.stop()


if __name__ == "__main__":
    main()
