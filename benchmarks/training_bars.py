"""Measure the trainer's quality/time bars on the real base model (CPU or GPU).

    python benchmarks/training_bars.py [--method qlora] [--out results.json]

1. Train QLoRA r=16 on all linear layers on the bundled support-ticket task (bundled
   validation file for eval; lr 1e-3, batch 8, 16 steps = 128 examples by default) and time the
   whole run (model load included; wall clock and process CPU seconds).
2. Held-out validation loss at step 0 vs best: the relative drop.
3. On the held-out tickets (``support_tickets_heldout.jsonl``), greedy-decode with the base model
   and with the adapter; a case passes when the reply parses as one JSON object whose
   ``category`` equals the expected one. Reports both rates and the difference in points.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import embedded_model_dir  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402
from trainer_service.data.validation import validate_dataset  # noqa: E402
from trainer_service.training.checkpoints import DirCheckpointSink  # noqa: E402
from trainer_service.training.config import COMPUTE_DTYPES, TrainingConfig  # noqa: E402
from trainer_service.training.loop import TrainingLoop  # noqa: E402
from trainer_service.training.heldout import category_rate  # noqa: E402
from trainer_service.training.model import build_peft_model, load_tokenizer, pick_device, resolve_compute_dtype  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path, default=os.environ.get("LORAFLEET_BENCH_MODEL") or None,
                    help="a Hugging Face model directory (default: the embedded model, converted once)")
    ap.add_argument("--method", default="qlora")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=16, help="0: the full epoch (30 steps)")
    ap.add_argument("--eval-every", type=int, default=8)
    ap.add_argument("--heldout", type=int, default=100)
    ap.add_argument("--compute-dtype", default="auto", choices=COMPUTE_DTYPES)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    args.model_dir = args.model_dir or embedded_model_dir()
    device = pick_device()
    t0, cpu0 = time.monotonic(), time.process_time()
    tok = load_tokenizer(Path(args.model_dir))
    report = validate_dataset(bundled_path("support_tickets_train.jsonl").read_bytes(), tok, max_seq_length=1024,
                              validation_data=bundled_path("support_tickets_validation.jsonl").read_bytes())
    assert report.valid, report.errors()
    cfg = TrainingConfig(adapter_name="support-bot", adapter_method=args.method, r=16, alpha=32,
                         target_modules=("all-linear",), epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.lr, warmup_ratio=0.1, training_dataset_id="ds-bench",
                         max_steps=args.max_steps, eval_every_steps=args.eval_every, compute_dtype=args.compute_dtype)
    model = build_peft_model(Path(args.model_dir), cfg, device)
    events = []
    with tempfile.TemporaryDirectory() as tmp:
        def emit(kind, payload):
            events.append((kind, payload))
            if kind != "progress" or payload["step"] % 5 == 0:
                print(kind, {k: round(v, 4) if isinstance(v, float) else v for k, v in payload.items()}, flush=True)
        loop = TrainingLoop(cfg, model, tok, device=device, sink=DirCheckpointSink(Path(tmp)), emit=emit)
        result = loop.run(report.train, report.validation)
        train_wall = time.monotonic() - t0
        cpu_s = time.process_time() - cpu0
        cases = [json.loads(l) for l in bundled_path("support_tickets_heldout.jsonl").read_text().splitlines()][: args.heldout]
        model.eval()
        model.config.use_cache = True
        tuned_rate, tuned = category_rate(model, tok, cases)
        with model.disable_adapter():
            base_rate, base = category_rate(model, tok, cases)
    m = result.metrics
    out = {
        "compute_dtype": str(resolve_compute_dtype(cfg, device)).removeprefix("torch."),
        "device": str(device), "torch_threads": torch.get_num_threads(), "method": args.method,
        "cpu_seconds_incl_load": cpu_s, "load_average_at_end": os.getloadavg(),
        "train_wall_seconds_incl_load": train_wall, "train_loop_seconds": m["train_runtime_seconds"],
        "steps": result.steps, "tokens_per_second": m["tokens_per_second"],
        "initial_validation_loss": m["initial_validation_loss"], "best_validation_loss": m["validation_loss"],
        "validation_loss_drop": 1 - m["validation_loss"] / m["initial_validation_loss"],
        "heldout_cases": len(cases), "base_json_category_rate": base_rate, "adapter_json_category_rate": tuned_rate,
        "improvement_points": 100 * (tuned_rate - base_rate),
        "samples": {"base": base[:3], "adapter": tuned[:3]},
    }
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
