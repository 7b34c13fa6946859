"""Training throughput: LoRAFleet's loop vs plain transformers Trainer + PEFT (no packing).

    python benchmarks/training_throughput.py [--method qlora] [--steps 6] [--rounds 2] [--out results.json]

Same base model, same LoRA config (r=16, alpha=32, all linear layers; QLoRA nf4 by default),
same compute dtype (``--compute-dtype``, default ``auto``: both models come from the same
``build_peft_model``, so on a CPU with native bf16 both multiply in bf16; the JSON records which,
and the fp32 vs bf16 GEMM speed at the model's shapes that explains it),
same examples (the bundled task + safety mix, assistant-only labels from the same tokenizer
code), same batch size, optimizer, learning rate and number of optimizer steps; one epoch over
exactly ``steps × batch`` examples so both runs see the same tokens.

- baseline: ``transformers.Trainer`` on a ``get_peft_model`` model, ``DataCollatorForSeq2Seq``
  padding each batch to its longest example (the usual recipe without packing).
- lorafleet: ``TrainingLoop`` — packing with per-example position ids, attention computed per
  example (``training/attention.py``), logits only at labelled positions, no padding.

Metric: real (non-padding) tokens per second of the training run (model load excluded; for
Trainer its ``train_runtime``). The CPU may be shared with other work, so the two systems run
interleaved for ``--rounds`` rounds and the per-round ratio is reported with the median;
process CPU seconds are reported too (tokens per CPU-second is less sensitive to contention).
Every measured run is a fresh process (the order alternates per round), so neither system inherits
the other's allocator, thread or page-cache state; each process first runs ``--warmup-steps``
uncounted steps, so its one-off costs (lazy imports, first-call kernel setup) are not timed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
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
from trainer_service.training.config import COMPUTE_DTYPES, TrainingConfig  # noqa: E402
from trainer_service.training.loop import TrainingLoop  # noqa: E402
from trainer_service.training.model import build_peft_model, load_tokenizer, resolve_compute_dtype  # noqa: E402


def varied_length_chats(n: int, seed: int = 0) -> bytes:
    """Chat records whose lengths spread like real SFT data (log-normal, ~40-500 tokens).

    The bundled task is template-generated, so its examples are all 84-106 tokens long — the
    best case for padding and the worst case for packing. Real instruction data (multi-turn
    chats, long documents next to one-line questions) is spread over an order of magnitude;
    this set reproduces that spread from the bundled tickets, deterministically.
    """
    rng = random.Random(seed)
    tickets = [json.loads(line) for line in bundled_path("support_tickets_train.jsonl").read_text().splitlines()]
    out = []
    for i in range(n):
        k = max(1, min(12, round(rng.lognormvariate(0.5, 1.0))))
        picks = [rng.choice(tickets)["messages"] for _ in range(k)]
        user = " ".join(m[1]["content"] for m in picks)
        answer = " ".join(m[2]["content"] for m in picks[: max(1, k // 2)])
        system = [{"role": "system", "content": picks[0][0]["content"]}] if rng.random() < 0.5 else []
        out.append({"messages": system + [{"role": "user", "content": f"[{i}] {user}"},
                                          {"role": "assistant", "content": answer}]})
    return "".join(json.dumps(r) + "\n" for r in out).encode()


def run_trainer(model_dir: Path, cfg: TrainingConfig, examples, tok) -> dict:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model = build_peft_model(model_dir, cfg, torch.device("cpu"), attn_implementation="sdpa")  # stock transformers
    rows = [{"input_ids": list(e.input_ids), "labels": list(e.labels), "attention_mask": [1] * e.num_tokens}
            for e in examples]
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=cfg.batch_size, num_train_epochs=1,
            learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=0,
            weight_decay=0.0, max_grad_norm=1.0, logging_strategy="no", save_strategy="no", report_to=[],
            use_cpu=True, dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, seed=cfg.seed)
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100))
        cpu0, t0 = time.process_time(), time.monotonic()
        out = trainer.train()
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    return {"runtime_s": out.metrics["train_runtime"], "wall_s": wall, "cpu_s": cpu, "steps": out.global_step}


def run_lorafleet(model_dir: Path, cfg: TrainingConfig, examples, tok) -> dict:
    model = build_peft_model(model_dir, cfg, torch.device("cpu"))
    loop = TrainingLoop(cfg, model, tok, device=torch.device("cpu"), sink=None)
    cpu0, t0 = time.process_time(), time.monotonic()
    result = loop.run(examples, [])
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    return {"runtime_s": result.metrics["train_runtime_seconds"], "wall_s": wall, "cpu_s": cpu, "steps": result.steps}


def _setup(args: argparse.Namespace):
    """Tokenizer, the measured examples and the shared config: identical in parent and children."""
    tok = load_tokenizer(args.model_dir)
    raw = varied_length_chats(args.steps * args.batch_size) if args.data == "varied" else bundled_path(args.data).read_bytes()
    report = validate_dataset(raw, tok, max_seq_length=1024)
    assert report.valid, report.errors()[:3]
    examples = report.train[: args.steps * args.batch_size]
    cfg = TrainingConfig(adapter_name="bench", adapter_method=args.method, r=16, alpha=32, dropout=0.05,
                         target_modules=("all-linear",), epochs=1, batch_size=args.batch_size, learning_rate=2e-4,
                         lr_scheduler="linear", warmup_ratio=0.0, training_dataset_id="ds-bench", seed=42,
                         compute_dtype=args.compute_dtype)
    return tok, examples, cfg


def gemm_speeds(tokens: int = 640, hidden: int = 576, inner: int = 1536, repeats: int = 30) -> dict:
    """GFLOP/s of ``F.linear`` in fp32 and bf16 at the 135M model's MLP shape (one micro-batch of
    ``tokens``): what choosing the compute dtype buys on this CPU."""
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, w = torch.randn(tokens, hidden, dtype=dtype), torch.randn(inner, hidden, dtype=dtype)
        for _ in range(3):
            torch.nn.functional.linear(x, w)
        t0 = time.perf_counter()
        for _ in range(repeats):
            torch.nn.functional.linear(x, w)
        seconds = (time.perf_counter() - t0) / repeats
        out[str(dtype).removeprefix("torch.")] = 2 * tokens * hidden * inner / seconds / 1e9
    out["bf16_over_fp32"] = out["bfloat16"] / out["float32"]
    return out


RUNNERS = {"trainer": run_trainer, "lorafleet": run_lorafleet}


def _child(args: argparse.Namespace) -> None:
    """One system, one fresh process: uncounted warm-up steps, then the measured run (JSON on stdout)."""
    tok, examples, cfg = _setup(args)
    run = RUNNERS[args.child]
    if args.warmup_steps:
        run(args.model_dir, cfg, examples[: args.warmup_steps * args.batch_size], tok)
    print(json.dumps(run(args.model_dir, cfg, examples, tok)), flush=True)


def _spawn(args: argparse.Namespace, system: str) -> dict:
    cmd = [sys.executable, __file__, "--child", system, "--model-dir", str(args.model_dir), "--method", args.method,
           "--data", args.data, "--batch-size", str(args.batch_size), "--steps", str(args.steps),
           "--warmup-steps", str(args.warmup_steps), "--compute-dtype", args.compute_dtype]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} run failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="a Hugging Face model directory (default: the embedded model, converted once)")
    ap.add_argument("--method", default="qlora", choices=("qlora", "lora"))
    ap.add_argument("--data", default="task_safety_mix_train.jsonl",
                    help="a bundled file name, or 'varied' for log-normal example lengths")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup-steps", type=int, default=2, help="uncounted steps before each measured run")
    ap.add_argument("--compute-dtype", default="auto", choices=COMPUTE_DTYPES,
                    help="the shared TrainingConfig.compute_dtype of both systems")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", choices=tuple(RUNNERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.model_dir = args.model_dir or embedded_model_dir()
    if args.child:
        _child(args)
        return
    _, examples, cfg = _setup(args)
    gemm = gemm_speeds()
    print(json.dumps({"gemm_gflops": gemm}), flush=True)
    real_tokens = sum(e.num_tokens for e in examples)
    padded_tokens = sum(max(e.num_tokens for e in examples[i:i + args.batch_size]) * len(examples[i:i + args.batch_size])
                        for i in range(0, len(examples), args.batch_size))
    rounds = []
    for r in range(args.rounds):
        order = ("trainer", "lorafleet") if r % 2 == 0 else ("lorafleet", "trainer")
        runs = {system: _spawn(args, system) for system in order}
        base, ours = runs["trainer"], runs["lorafleet"]
        row = {"round": r, "order": list(order), "trainer": base, "lorafleet": ours,
               "trainer_tokens_per_s": real_tokens / base["runtime_s"],
               "lorafleet_tokens_per_s": real_tokens / ours["runtime_s"],
               "trainer_tokens_per_cpu_s": real_tokens / base["cpu_s"],
               "lorafleet_tokens_per_cpu_s": real_tokens / ours["cpu_s"]}
        row["speedup"] = row["lorafleet_tokens_per_s"] / row["trainer_tokens_per_s"]
        row["speedup_cpu"] = row["lorafleet_tokens_per_cpu_s"] / row["trainer_tokens_per_cpu_s"]
        print(json.dumps(row), flush=True)
        rounds.append(row)
    out = {
        "method": args.method, "lora": {"r": 16, "alpha": 32, "target_modules": "all-linear"},
        "data": args.data, "examples": len(examples), "batch_size": args.batch_size, "steps": args.steps,
        "warmup_steps": args.warmup_steps, "process_per_run": True, "compute_dtype": args.compute_dtype,
        "compute_dtype_resolved": str(resolve_compute_dtype(cfg, torch.device("cpu"))).removeprefix("torch."),
        "gemm_gflops": gemm,
        "real_tokens": real_tokens, "padded_tokens_trainer": padded_tokens,
        "padding_fraction_trainer": 1 - real_tokens / padded_tokens, "torch_threads": torch.get_num_threads(),
        "example_tokens_min_max": [min(e.num_tokens for e in examples), max(e.num_tokens for e in examples)],
        "rounds": rounds, "median_speedup": statistics.median(r["speedup"] for r in rounds),
        "median_speedup_cpu": statistics.median(r["speedup_cpu"] for r in rounds),
    }
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
