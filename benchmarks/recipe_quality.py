"""Quality of the demo's training recipe on the FULL shipped suites, in one process (no services).

    python benchmarks/recipe_quality.py [--data task_safety_mix_train.jsonl] [--seed 42] [--out results.json]

Trains QLoRA r=16 on all linear layers with the demo's hyper-parameters (one epoch, batch 8,
lr 1e-3, cosine, warmup 5%) on a bundled file, merges the adapter into the fp32 base, and
greedy-decodes every case of the four shipped suites with the base model and with the adapter,
scoring both with the evaluator's scorers. It prints, per suite, the base and adapter scores
(task: valid JSON with the right category; safety: harmful requests refused; over-refusal: benign
look-alikes answered; general: the forgetting check).

This is where the figures behind ``eval_service/policies/small-model.yaml`` and README's "why
small-model" paragraph come from. The served model (nf4 base + LoRA bank) and the demo's 24-case
subsets give somewhat different numbers; the gates the demo prints are the ones that decide.
Takes about 10 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import embedded_model_dir  # noqa: E402
from eval_service.scoring.scorers import score_output  # noqa: E402
from eval_service.suites.loader import SuiteCatalog  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402
from trainer_service.data.validation import validate_dataset  # noqa: E402
from trainer_service.training.checkpoints import DirCheckpointSink  # noqa: E402
from trainer_service.training.config import TrainingConfig  # noqa: E402
from trainer_service.training.loop import TrainingLoop  # noqa: E402
from trainer_service.training.model import build_peft_model, load_tokenizer, pick_device  # noqa: E402



def generate(model, tok, conversations: list[list[dict]], max_new_tokens: int, batch: int = 32) -> list[str]:
    tok.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(conversations), batch):
        enc = tok.apply_chat_template(conversations[i:i + batch], add_generation_prompt=True, return_tensors="pt",
                                      padding=True, return_dict=True)
        with torch.no_grad():
            rows = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        out += [tok.decode(r[enc["input_ids"].shape[1]:], skip_special_tokens=True) for r in rows]
    return out


def score_suites(model, tok, label: str) -> dict[str, float]:
    scores = {}
    for suite in SuiteCatalog().all():
        cases = list(suite.cases)
        t0 = time.monotonic()
        outs = generate(model, tok, [[{"role": m.role, "content": m.content} for m in c.messages] for c in cases],
                        max_new_tokens=suite.max_tokens or 48)
        mean = sum(score_output(c.scorer, o, c.expected, c.params).score for c, o in zip(cases, outs)) / len(cases)
        scores[suite.name] = round(mean, 4)
        print(f"[{label}] {suite.name:13s} n={len(cases):3d} score={mean:.3f} ({time.monotonic() - t0:.0f} s)", flush=True)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="task_safety_mix_train.jsonl", help="a bundled training file")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recipe_quality.json")
    args = ap.parse_args()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_dir, device = embedded_model_dir(), pick_device()
    tok = load_tokenizer(model_dir)
    cfg = TrainingConfig(adapter_name="recipe", adapter_method="qlora", r=16, alpha=32, target_modules=("all-linear",),
                         epochs=1, batch_size=8, learning_rate=1e-3, lr_scheduler="cosine", warmup_ratio=0.05,
                         max_seq_length=256, seed=args.seed, training_dataset_id="bench")
    report = validate_dataset(bundled_path(args.data).read_bytes(), tok, max_seq_length=cfg.max_seq_length,
                              validation_data=bundled_path("support_tickets_validation.jsonl").read_bytes())
    if not report.valid:
        raise SystemExit(f"{args.data} is invalid: {report.errors()[:3]}")
    fp32 = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    result: dict = {"data": args.data, "seed": args.seed, "base": score_suites(fp32, tok, "base")}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_peft_model(model_dir, cfg, device)
        t0 = time.monotonic()
        trained = TrainingLoop(cfg, model, tok, device=device, sink=DirCheckpointSink(Path(tmp) / "ckpt"),
                               emit=lambda kind, payload: None).run(report.train, report.validation)
        result["train_seconds"], result["steps"] = round(time.monotonic() - t0, 1), trained.steps
        print(f"trained {trained.steps} steps in {result['train_seconds']} s", flush=True)
        model.save_pretrained(Path(tmp) / "adapter")
        merged = PeftModel.from_pretrained(fp32, Path(tmp) / "adapter").merge_and_unload().eval()
        result["adapter"] = score_suites(merged, tok, "adapter")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
