"""What the kernel-level benchmarks share: their command line (``--out``, one fresh compute thread, a JSON
result) and their timer."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from lorafleet.compute_threads import call_in_fresh_thread, configure_openmp


def run_measurement(measure: Callable[[], dict], doc: str, default_out: Path) -> dict:
    """Parse ``--out`` (default ``default_out``), run ``measure`` on one fresh thread with the server's OpenMP
    settings (as the engine runs its model), write its result there as JSON and print it."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=Path, default=default_out)
    args = ap.parse_args()
    configure_openmp()
    result = call_in_fresh_thread(measure)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


def median_ms(fn: Callable[[int], object], calls: int, warmup: int, digits: int = 2) -> float:
    """Call ``fn(i)`` for ``i`` in ``0..calls-1`` and return the median wall time of the calls after the first
    ``warmup``, in milliseconds rounded to ``digits``."""
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e3, digits)
