"""LoRA dropout on CPU: applying a mask kept as torch booleans vs as float32 multipliers.

    python benchmarks/dropout_masks.py [--out benchmarks/results/dropout_masks.json]

One LoRA dropout per adapted linear and step: make the mask from 16-bit random words, apply it in
the forward pass and again to the gradient in the backward pass. Measured at the 135M model's
activation shapes (one packed micro-batch of 640 tokens × 576 or 1536 features), 2 torch threads:

- bool:  ``mask = words >= t`` (torch), ``where(mask, x, 0)`` forward and backward;
- float: ``mask = (words >= t) · 1.0`` in NumPy as float32, ``x * mask`` forward and backward
  (what ``trainer_service/training/dropout.py`` and ``fused_lora.py`` do).

Reports microseconds per mask (make + forward + backward) and the ratio bool / float.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _time(fn, repeats: int) -> float:
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e6


def measure(tokens: int, features: int, repeats: int) -> dict:
    rng = np.random.SFC64(0)
    n = tokens * features
    words = rng.random_raw((n + 3) // 4).view(np.int16)[:n]
    threshold = -(1 << 15) + round(0.05 * (1 << 16))
    x, grad = torch.randn(tokens, features), torch.randn(tokens, features)

    def bool_path() -> None:
        keep = (torch.from_numpy(words) >= threshold).view(tokens, features)
        torch.where(keep, x, 0.0)
        torch.where(keep, grad, 0.0)

    def float_path() -> None:
        keep = torch.from_numpy(np.multiply(words >= threshold, np.float32(1.0), dtype=np.float32)).view(tokens, features)
        x * keep
        grad * keep

    bool_us, float_us = _time(bool_path, repeats), _time(float_path, repeats)
    return {"shape": [tokens, features], "bool_us": bool_us, "float_us": float_us, "bool_over_float": bool_us / float_us}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = [measure(640, features, args.repeats) for features in (576, 1536)]
    out = {"torch_threads": torch.get_num_threads(), "rows": rows}
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
