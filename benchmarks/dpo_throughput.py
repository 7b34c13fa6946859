"""DPO training throughput: the project's loop (``training/dpo.py``) against TRL's ``DPOTrainer``.

    pip install trl   # the baseline; not a dependency of the project
    python benchmarks/dpo_throughput.py [--pairs 48] [--batch-size 8] [--rounds 3] [--out results.json]

Same model (SmolLM2-135M, QLoRA r=16 on every linear layer, nf4 base with the bf16 compute the
trainer resolves on this CPU), same pairs (the first ``--pairs`` of the bundled
``preference_train.jsonl``), same batch, learning rate, beta and sigmoid loss, reference
log-probabilities precomputed once in both (TRL: ``precompute_ref_log_probs=True``; the wall time
of a run includes them, as a job's does). The runs alternate round by round in separate threads
that exit (``lorafleet.compute_threads``); each reports its wall time and pairs per second, and
the JSON has the median ratio. TRL runs stock (its padded batches, full-vocabulary logits, PEFT's
LoRA forward); ``trl+fused`` also gets this project's fused LoRA and fast dropout masks, to show
what the loop itself adds beyond those two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import embedded_model_dir  # noqa: E402

from lorafleet.compute_threads import call_in_fresh_thread  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402
from trainer_service.data.validation import validate_dataset  # noqa: E402
from trainer_service.training.config import TrainingConfig  # noqa: E402
from trainer_service.training.dropout import use_fast_mask_dropout  # noqa: E402
from trainer_service.training.fused_lora import use_fused_lora  # noqa: E402
from trainer_service.training.loop import TrainingLoop  # noqa: E402
from trainer_service.training.model import (  # noqa: E402
    build_peft_model,
    load_base_model,
    load_tokenizer,
    lora_config,
    pick_device,
    resolve_compute_dtype,
)


def _config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(adapter_name="bench", method="dpo", adapter_method="qlora", r=16, alpha=32,
                          target_modules=("all-linear",), epochs=1, batch_size=args.batch_size, learning_rate=1e-3,
                          lr_scheduler="constant", warmup_ratio=0.0, max_seq_length=256, seed=7, beta=0.1,
                          training_dataset_id="bench")


def run_ours(args: argparse.Namespace, records: list[dict]) -> dict:
    cfg, model_dir = _config(args), embedded_model_dir()
    tok = load_tokenizer(model_dir)
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    report = validate_dataset(data, tok, max_seq_length=cfg.max_seq_length)
    model = build_peft_model(model_dir, cfg, pick_device())
    t0 = time.monotonic()
    result = TrainingLoop(cfg, model, tok, device=pick_device(), sink=None).run(report.train, [])
    wall = time.monotonic() - t0
    return {"wall_s": round(wall, 2), "steps": result.steps, "pairs_per_s": len(records) / wall,
            "train_loss": result.metrics["train_loss"]}


def run_trl(args: argparse.Namespace, records: list[dict], fused: bool) -> dict:
    from datasets import Dataset
    from peft import get_peft_model, prepare_model_for_kbit_training
    from trl import DPOConfig, DPOTrainer

    cfg, model_dir, device = _config(args), embedded_model_dir(), pick_device()
    tok = load_tokenizer(model_dir)
    base = load_base_model(model_dir, "qlora", device, resolve_compute_dtype(cfg, device), attn_implementation="sdpa")
    base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    torch.manual_seed(cfg.seed)
    model = get_peft_model(base, lora_config(cfg))
    if fused:
        use_fast_mask_dropout(model)
        use_fused_lora(model)
    rows = [{"prompt": r["messages"], "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in records]
    with tempfile.TemporaryDirectory() as out:
        targs = DPOConfig(output_dir=out, per_device_train_batch_size=args.batch_size, num_train_epochs=1,
                          learning_rate=cfg.learning_rate, lr_scheduler_type="constant", beta=cfg.beta,
                          loss_type=["sigmoid"], precompute_ref_log_probs=True, max_length=cfg.max_seq_length,
                          disable_dropout=False, save_strategy="no", report_to=[], logging_steps=1, use_cpu=True,
                          dataloader_num_workers=0, seed=cfg.seed, bf16=False, max_grad_norm=1.0)
        trainer = DPOTrainer(model=model, args=targs, train_dataset=Dataset.from_list(rows), processing_class=tok)
        t0 = time.monotonic()
        out_metrics = trainer.train()
        wall = time.monotonic() - t0
    return {"wall_s": round(wall, 2), "steps": out_metrics.global_step, "pairs_per_s": len(records) / wall,
            "train_loss": out_metrics.training_loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dpo_throughput.json")
    args = ap.parse_args()
    lines = bundled_path("preference_train.jsonl").read_text().splitlines()[:args.pairs]
    records = [json.loads(line) for line in lines]
    runners = {"lorafleet": lambda: run_ours(args, records), "trl": lambda: run_trl(args, records, False),
               "trl+fused": lambda: run_trl(args, records, True)}
    rounds = []
    for r in range(args.rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))
        result = {name: call_in_fresh_thread(runners[name]) for name in order}
        result["order"] = order
        rounds.append(result)
        print(json.dumps(result), flush=True)
    summary = {name: statistics.median(r["lorafleet"]["pairs_per_s"] / r[name]["pairs_per_s"] for r in rounds)
               for name in ("trl", "trl+fused")}
    out = {"pairs": args.pairs, "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
           "compute_dtype": str(resolve_compute_dtype(_config(args), pick_device())), "rounds": rounds,
           "median_speedup_over": summary, "load_average_at_end": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
