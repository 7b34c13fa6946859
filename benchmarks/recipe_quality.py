"""Training recipes measured on the FULL shipped suites, as served (nf4 base + LoRA bank), in one process.

    python benchmarks/recipe_quality.py --recipe sft-full [--recipe sft-mix ...] [--out results.json]
    python benchmarks/recipe_quality.py --spec recipes.json     # recipes from JSON (load_spec)

Each recipe is one or more stages run with the trainer's own code (``TrainingLoop``, QLoRA r=16 on
every linear layer of the nf4 base, bf16 compute where the CPU has it, as the trainer resolves it);
a stage can start from the previous stage's adapter (``init_from``, which for DPO is also the
reference). The adapter is then answered by the inference engine on all four suites and scored
against the base model with the evaluator's scorers and gates (``served_eval.py``). The table:
task score, share of harmful requests refused, share of benign look-alikes refused, general score,
the default and small-model policy verdicts, and the training time of each stage.

The recommended recipe is ``sft-demo-contrast-r8-anchor2`` with ``--eval-scales 1.5:1.2`` (its update
extrapolated x1.5 on the MLP projections and x1.2 on attention, as ``lorafleet extrapolate`` writes it; README,
"Training recipes"); ``recipe_sweep.py`` runs many ``--spec`` recipes in parallel processes. Targets for the
shipped recipe (issue #14): harmful refused >= 0.90, benign refused <= 0.10, general >= base - 0.03 with no
significant regression (the default policy's gate), task >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import embedded_model_dir  # noqa: E402
from served_eval import ServedAnswers  # noqa: E402

from lorafleet.compute_threads import call_in_fresh_thread  # noqa: E402
from lorafleet.config import LORA_DECODE_OPERANDS  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402
from trainer_service.data.validation import validate_dataset  # noqa: E402
from trainer_service.prepare import prepare  # noqa: E402
from trainer_service.training.checkpoints import DirCheckpointSink  # noqa: E402
from trainer_service.training.config import TrainingConfig  # noqa: E402
from trainer_service.training.loop import TrainingLoop  # noqa: E402
from trainer_service.training.model import build_peft_model, load_tokenizer, pick_device  # noqa: E402

COMMON = dict(adapter_method="qlora", r=16, alpha=32.0, target_modules=("all-linear",), lr_scheduler="cosine",
              warmup_ratio=0.05, max_seq_length=256, seed=7, training_dataset_id="bench")


@dataclass
class Stage:
    label: str
    data: str
    validation: str
    config: dict
    from_previous: bool = False


@dataclass
class Recipe:
    name: str
    stages: list[Stage]
    note: str = ""


def _contrast_r8_stage(*, anchor_weight: float, learning_rate: float = 2e-3) -> Stage:
    """SFT of ``sft-demo-anchored-r8`` (rank 8, opening 5x on 3 tokens) on the demo contrast data."""
    return Stage("SFT", "task_safety_mix_anchored_demo_contrast_train.jsonl", "support_tickets_validation.jsonl",
                 dict(method="sft", epochs=1, batch_size=8, learning_rate=learning_rate, answer_start_weight=5.0,
                      answer_start_tokens=3, r=8, alpha=16.0, anchor_weight=anchor_weight))


RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("sft-mix", [Stage("SFT", "task_safety_mix_train.jsonl", "support_tickets_validation.jsonl",
                             dict(method="sft", epochs=1, batch_size=8, learning_rate=1e-3))],
           "the demo's recipe before DPO: one epoch of SFT on the task + safety mix"),
    Recipe("sft-full", [Stage("SFT", "task_safety_mix_full_train.jsonl", "support_tickets_validation.jsonl",
                              dict(method="sft", epochs=1, batch_size=8, learning_rate=1e-3))],
           "the shipped recipe: one epoch of SFT on the full mix (the demo's mix plus the contrast data)"),
    Recipe("sft-mix-opening", [Stage("SFT", "task_safety_mix_train.jsonl", "support_tickets_validation.jsonl",
                                     dict(method="sft", epochs=1, batch_size=8, learning_rate=1e-3,
                                          answer_start_weight=5.0, answer_start_tokens=3))],
           "sft-mix with each answer's first 3 tokens weighted 5x in the loss (--answer-start-weight)"),
    Recipe("sft-full-opening", [Stage("SFT", "task_safety_mix_full_train.jsonl", "support_tickets_validation.jsonl",
                                      dict(method="sft", epochs=1, batch_size=8, learning_rate=2e-3,
                                           answer_start_weight=5.0, answer_start_tokens=3))],
           "sft-full at learning rate 2e-3 with each answer's first 3 tokens weighted 5x in the loss: the best "
           "safety trade measured (meets the harmful and benign targets; general falls)"),
    Recipe("sft-anchored", [Stage("SFT", "task_safety_mix_anchored_train.jsonl", "support_tickets_validation.jsonl",
                                  dict(method="sft", epochs=1, batch_size=8, learning_rate=2e-3,
                                       answer_start_weight=5.0, answer_start_tokens=3))],
           "sft-full-opening on the full mix plus 369 anchor records (the base model's own answers to the data's "
           "general questions, trained toward its distribution by a KL term): the recommended recipe"),
    Recipe("sft-demo-anchored", [Stage("SFT", "task_safety_mix_anchored_demo_train.jsonl",
                                       "support_tickets_validation.jsonl",
                                       dict(method="sft", epochs=1, batch_size=8, learning_rate=2e-3,
                                            answer_start_weight=5.0, answer_start_tokens=3))],
           "the demo's v1 (lorafleet.demo.runner.V1_PLAN): the demo's mix plus 120 anchor records, opening-weighted "
           "at lr 2e-3"),
    *[Recipe(f"sft-demo-anchored-r{r}", [Stage("SFT", "task_safety_mix_anchored_demo_train.jsonl",
                                               "support_tickets_validation.jsonl",
                                               dict(method="sft", epochs=1, batch_size=8, learning_rate=2e-3,
                                                    answer_start_weight=5.0, answer_start_tokens=3, r=r,
                                                    alpha=2.0 * r))],
             f"sft-demo-anchored at rank {r} (alpha {2 * r}: the same alpha/r scale): a lower rank forgets less "
             "(LoRA learns less and forgets less, Biderman et al., 2024)") for r in (8, 4)],
    *[Recipe(f"sft-demo-contrast-r8-anchor{w}", [_contrast_r8_stage(anchor_weight=float(w))],
             f"sft-demo-anchored-r8 on the demo data plus 120 look-alikes and 40 harmful requests of the full mix "
             f"(anchor_mix.demo_contrast_mix), anchor term weighted {w}: the anchors hold general knowledge while "
             "the update is extrapolated (--eval-scales 1.2,1.4)") for w in (1, 2, 4)],
    *[Recipe(f"sft-demo-contrast-r8-anchor2-lr{lr}", [_contrast_r8_stage(anchor_weight=2.0, learning_rate=float(lr))],
             f"sft-demo-contrast-r8-anchor2 at learning rate {lr}: the update goes further in training, where the "
             "anchors still hold it, instead of after it (extrapolation)") for lr in ("3e-3", "4e-3")],
    Recipe("dpo", [Stage("DPO+RPO", "preference_train.jsonl", "preference_validation.jsonl",
                         dict(method="dpo", epochs=1, batch_size=8, learning_rate=1e-3, beta=0.1, sft_weight=1.0))],
           "one stage: DPO with the RPO term (the chosen answers' NLL) from the base model"),
    Recipe("sft+dpo", [
        Stage("SFT", "preference_train.jsonl", "preference_validation.jsonl",
              dict(method="sft", epochs=1, batch_size=8, learning_rate=1e-3)),
        Stage("DPO", "preference_train.jsonl", "preference_validation.jsonl",
              dict(method="dpo", epochs=1, batch_size=8, learning_rate=5e-4, beta=0.1, sft_weight=0.2),
              from_previous=True)],
           "SFT on tickets and answers, then DPO from the SFT adapter (its reference)"),
    Recipe("sft-mix+dpo", [
        Stage("SFT", "task_safety_mix_train.jsonl", "support_tickets_validation.jsonl",
              dict(method="sft", epochs=1, batch_size=8, learning_rate=1e-3)),
        Stage("DPO", "preference_train.jsonl", "preference_validation.jsonl",
              dict(method="dpo", epochs=1, batch_size=8, learning_rate=2e-4, beta=0.1, sft_weight=0.2, max_steps=25,
                   seed=13), from_previous=True)],
           "the demo's v1 (SFT on the mix), then 25 DPO steps from it (its reference)"),
]}
ATTENTION = dict(target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))
for _name in ("dpo", "sft+dpo"):
    _r = RECIPES[_name]
    RECIPES[f"{_name}-attn"] = Recipe(f"{_name}-attn", [Stage(s.label, s.data, s.validation, {**s.config, **ATTENTION},
                                                              s.from_previous) for s in _r.stages],
                                      _r.note + "; LoRA on the attention projections only")


def data_path(name: str) -> Path:
    """A bundled file by name, or any other file by path (data variants of a ``--spec`` sweep)."""
    return Path(name) if "/" in name else bundled_path(name)


def load_spec(path: Path) -> list[Recipe]:
    """Recipes from JSON: ``[{"name", "note"?, "stages": [{"label", "data", "validation", "config",
    "from_previous"?}]}]``; each config is a dict of ``TrainingConfig`` fields over ``COMMON``."""
    rows = json.loads(path.read_text())
    return [Recipe(r["name"], [Stage(**s) for s in r["stages"]], r.get("note", "")) for r in rows]


def train_stage(stage: Stage, model_dir: Path, tok, work: Path, previous: Path | None) -> tuple[Path, dict]:
    cfg = TrainingConfig(**{**COMMON, **stage.config, "adapter_name": "recipe",
                            "init_from": "recipe@1" if stage.from_previous else ""})
    report = validate_dataset(data_path(stage.data).read_bytes(), tok, max_seq_length=cfg.max_seq_length,
                              validation_data=data_path(stage.validation).read_bytes())
    data = prepare(report, cfg)  # as the trainer does: SFT on preference data trains on the chosen answers
    device = pick_device()
    t0 = time.monotonic()
    model = build_peft_model(model_dir, cfg, device, init_adapter_dir=previous if stage.from_previous else None)
    loop = TrainingLoop(cfg, model, tok, device=device, sink=DirCheckpointSink(work / stage.label),
                        emit=lambda kind, payload: _print_event(stage.label, kind, payload))
    result = loop.run(data.train, data.validation)
    seconds = time.monotonic() - t0
    keep = ("validation_loss", "initial_validation_loss", "validation_reward_accuracy", "validation_reward_margin",
            "best_step")
    out = {"stage": stage.label, "data": stage.data, "examples": len(report.train), "steps": result.steps,
           "train_seconds": round(seconds, 1), "loop_seconds": round(result.metrics["train_runtime_seconds"], 1),
           "config": stage.config, **{k: round(v, 4) for k, v in result.metrics.items() if k in keep}}
    print(json.dumps(out), flush=True)
    return result.adapter_dir, out


def _print_event(label: str, kind: str, payload: dict) -> None:
    if kind == "evaluation":
        print(f"[{label}] eval {json.dumps({k: round(v, 4) for k, v in payload.items()})}", flush=True)
    elif kind == "progress" and payload["step"] % 10 == 0:
        print(f"[{label}] step {payload['step']}/{payload['total_steps']} loss {payload['train_loss']:.4f} "
              f"{payload['step_seconds']:.1f}s/step", flush=True)


Scale = tuple[float, float]  # the update's factor on the MLP projections and on the attention projections


def parse_scale(text: str) -> Scale:
    """``"1.4"`` (the whole update) or ``"1.5:1.2"`` (MLP : attention) as ``(mlp, attention)``."""
    mlp, _, attention = text.partition(":")
    return float(mlp), float(attention or mlp)


UNSCALED: Scale = (1.0, 1.0)


def scale_label(scale: Scale) -> str:
    return f"x{scale[0]:g}" if scale[0] == scale[1] else f"mlp-x{scale[0]:g}-attn-x{scale[1]:g}"


def scale_record(scale: Scale) -> float | list[float]:
    """A row's ``update_scale``: one number for the whole update (as rows before per-part scales), else the pair."""
    return scale[0] if scale[0] == scale[1] else list(scale)


def scaled_copy(adapter_dir: Path, scale: Scale, target: Path) -> Path:
    """The adapter with its update scaled, ``ΔW = s·(α/r)·B·A`` with ``s`` per part, written to ``target``
    (``lorafleet extrapolate``'s code: ``lorafleet/adapters/extrapolate.py``).

    Why: interpolating between the base (s = 0) and the fine-tuned adapter (s = 1) is WiSE-FT's trade of
    what was learned against what was forgotten, and s > 1 is ExPO's extrapolation, both at no training cost;
    the table shows where they land.
    """
    from lorafleet.adapters.extrapolate import Factors, extrapolate

    extrapolate(adapter_dir, target, Factors(mlp=scale[0], attention=scale[1]))
    return target


def run_recipe(recipe: Recipe, model_dir: Path, tok, served: ServedAnswers, *, each_stage: bool = False,
               keep: Path | None = None, scales: tuple[Scale, ...] = ()) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        work = keep / recipe.name if keep else Path(tmp)
        previous, stages = None, []
        for stage in recipe.stages:
            # a thread that exits afterwards: its OpenMP pool must not slow the engine's (compute_threads.py)
            previous, info = call_in_fresh_thread(train_stage, stage, model_dir, tok, work, previous)
            if each_stage and stage is not recipe.stages[-1]:
                info["figures"] = asdict(served.figures(previous))
                print(json.dumps(info["figures"]), flush=True)
            stages.append(info)
        rows = []
        for scale in (UNSCALED, *scales):
            unscaled = scale == UNSCALED
            adapter = previous if unscaled else scaled_copy(previous, scale, work / f"scaled-{scale_label(scale)}")
            figures = served.figures(adapter)
            rows.append({"recipe": recipe.name if unscaled else f"{recipe.name}@{scale_label(scale)}",
                         "note": recipe.note, "stages": stages,
                         "update_scale": scale_record(scale),
                         "train_seconds": round(sum(s["train_seconds"] for s in stages), 1), **asdict(figures),
                         "load_average": os.getloadavg()})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    from lorafleet.compute_threads import configure_openmp
    configure_openmp()  # the inference server's OpenMP spin count, set before torch loads
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", help="a recipe's name (default: every recipe)")
    ap.add_argument("--spec", type=Path, default=None, help="JSON recipes (load_spec) instead of the built-in ones")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recipe_quality.json")
    ap.add_argument("--each-stage", action="store_true", help="also evaluate the adapter after every earlier stage")
    ap.add_argument("--keep", type=Path, default=None, help="keep the adapters under this directory")
    ap.add_argument("--adapter", type=Path, action="append", default=[],
                    help="score this trained adapter directory instead of training (repeatable)")
    ap.add_argument("--eval-scales", default="", help="also evaluate the final (or --adapter) adapter with its "
                    "update scaled, e.g. 0.8,1.4 (the whole update) or 1.5:1.2 (MLP : attention) (scaled_copy)")
    ap.add_argument("--lora-decode-operands", default="auto", choices=LORA_DECODE_OPERANDS,
                    help="the engine's lora_decode_operands setting for the candidates' answers")
    args = ap.parse_args()
    recipes = {r.name: r for r in load_spec(args.spec)} if args.spec else RECIPES
    unknown = sorted(set(args.recipe or ()) - set(recipes))
    if unknown:
        ap.error(f"unknown recipe(s) {unknown}; known: {sorted(recipes)}")
    model_dir = embedded_model_dir()
    tok = load_tokenizer(model_dir)
    served = call_in_fresh_thread(ServedAnswers, model_dir,
                                  cache_dir=Path(tempfile.gettempdir()) / "lorafleet-bench-cache",
                                  lora_decode_operands=args.lora_decode_operands)
    try:
        scales = tuple(parse_scale(x) for x in args.eval_scales.split(",") if x)
    except ValueError as exc:
        ap.error(f"--eval-scales {args.eval_scales!r}: {exc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        for adapter in args.adapter:
            for scale in (UNSCALED, *scales):  # --eval-scales applies to a trained adapter too
                unscaled = scale == UNSCALED
                with tempfile.TemporaryDirectory() as tmp:
                    scored = adapter if unscaled else scaled_copy(adapter, scale, Path(tmp) / "scaled")
                    rows.append({"recipe": f"adapter:{adapter}" + ("" if unscaled else f"@{scale_label(scale)}"),
                                 "update_scale": scale_record(scale), **asdict(served.figures(scored))})
                print(json.dumps(rows[-1]), flush=True)
                args.out.write_text(json.dumps({"served": served.identity, "recipes": rows}, indent=2) + "\n")
        for name in [] if args.adapter else (args.recipe or list(recipes)):  # --adapter: score, train nothing
            rows += run_recipe(recipes[name], model_dir, tok, served, each_stage=args.each_stage, keep=args.keep,
                               scales=scales)
            # after every recipe: a sweep cut off by its time limit keeps what it finished
            args.out.write_text(json.dumps({"served": served.identity, "recipes": rows}, indent=2) + "\n")
    finally:
        served.close()


if __name__ == "__main__":
    main()
