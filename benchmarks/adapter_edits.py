"""Post-training edits of a trained adapter, scored on the FULL suites as served: does a no-training edit give
back the general knowledge that safety SFT took (issue #14: the demo's v1 keeps general at 0.938, target 0.954)?

    python benchmarks/adapter_edits.py --adapter DIR --edit energy:0.5 --edit gen:8 --edit parts:0.5,1.0

Each edit rewrites the LoRA factors of ``DIR`` (PEFT layout, ``ΔW = (α/r)·B·A`` per projection) and the edited
adapter is answered by the inference engine on all four suites and scored with the evaluator's scorers and gates
(``served_eval.py``, as ``recipe_quality.py --adapter``). The unedited adapter is scored in the same run.

* ``energy:F`` — null-space projection (AlphaEdit, Fang et al. 2024, applied to a LoRA after training). Per
  projection, ``K_g = Σ x xᵀ`` over the base model's inputs ``x`` to that projection on the anchor records of
  ``task_safety_mix_anchored_train.jsonl`` (general questions with the base model's own answers; disjoint from
  the suites by the contamination check). With ``U_k`` the top eigenvectors of ``K_g`` holding a share ``F`` of
  its trace, ``A ← A·(I − U_k U_kᵀ)``, so ``ΔW·x ≈ 0`` for inputs in the span that general prompts use.
* ``gen:K`` — the same, but projecting out the ``K`` directions where general prompts' energy is largest
  *relative to* the task and safety records' (``K_s``): the top generalized eigenvectors of ``K_g v = λ (K_s +
  εI) v``, orthonormalized. A direction both kinds of prompt use is kept.
* ``parts:M,A`` — the MLP projections' update scaled by ``M``, the attention projections' by ``A`` (``lora_B``
  times the factor): which half of the update carries the refusals, and which the forgetting.
* ``layers:S-E,F`` — the update of every decoder layer outside ``S..E`` (inclusive) scaled by ``F``: the same
  question along depth.
* ``soup:S`` — the uniform average of ``--adapter`` and every ``--with`` adapter (the same recipe trained with
  other seeds), times ``S``: ``ΔW = S·(1/n)·Σ_i (α/r)·B_i·A_i``, one LoRA of rank ``n·r`` (``A`` stacked,
  ``B`` side by side over ``n``, ``α`` times ``n`` so that ``α/r`` holds). Why: a model soup (Wortsman et al.,
  2022) keeps what the seeds share (the refusals) and averages away what each learned by chance, so the
  forgetting that differs between seeds should shrink faster than the signal. Measured (README, "Training
  recipes"): it reproduces the best seed's point at a larger scale, but the general cases every seed fails stay.

The activation statistics take a few CPU minutes and are cached in ``--stats``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_model import embedded_model_dir  # noqa: E402
from served_eval import ServedAnswers  # noqa: E402

from lorafleet.adapters.peft_dir import CONFIG_FILE, WEIGHTS_FILE  # noqa: E402
from lorafleet.compute_threads import call_in_fresh_thread  # noqa: E402
from lorafleet.datasets import bundled_path  # noqa: E402

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DATA = "task_safety_mix_anchored_train.jsonl"


def input_second_moments(model_dir: Path, records: dict[str, list[dict]]) -> dict[str, dict[str, torch.Tensor]]:
    """``{group: {module: Σ x xᵀ}}`` over every token of each group's records (chat template), base model, fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    sums: dict[str, dict[str, torch.Tensor]] = {g: {} for g in records}
    group = [""]

    def hook(name: str):
        def record(_mod, inputs, _out):
            x = inputs[0].reshape(-1, inputs[0].shape[-1])
            acc = sums[group[0]]
            acc[name] = acc[name].addmm_(x.T, x) if name in acc else x.T @ x
        return record

    for name, mod in model.named_modules():
        if name.rsplit(".", 1)[-1] in PROJECTIONS:
            mod.register_forward_hook(hook(name))
    with torch.no_grad():
        for g, rows in records.items():
            group[0] = g
            for r in rows:
                model(tok.apply_chat_template(r["messages"], return_tensors="pt", return_dict=True)["input_ids"])
    return {g: {k: v.double() / v.trace() for k, v in acc.items()} for g, acc in sums.items()}


def projector(edit: str, kg: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis ``Q`` (d × k) of the input directions the edit removes from ``A``."""
    kind, value = edit.split(":")
    if kind == "energy":
        ev, vecs = torch.linalg.eigh(kg)
        ev, vecs = ev.flip(0), vecs.flip(1)
        k = int((ev.cumsum(0) < float(value)).sum()) + 1
        return vecs[:, :k]
    eps = 1e-3 * ks.diagonal().mean()
    chol_inv = torch.linalg.inv(torch.linalg.cholesky(ks + eps * torch.eye(ks.shape[0], dtype=ks.dtype)))
    _, vecs = torch.linalg.eigh(chol_inv @ kg @ chol_inv.T)
    q, _ = torch.linalg.qr(chol_inv.T @ vecs[:, -int(value):])
    return q


def layer_of(key: str) -> int:
    """The decoder layer index of a PEFT tensor name (``...layers.N.self_attn...``)."""
    return int(key.split(".layers.", 1)[1].split(".", 1)[0])


def soup(adapters: list[Path], scale: float, target: Path) -> Path:
    """The uniform soup of ``adapters`` (same rank, alpha and modules) times ``scale``, written to ``target``."""
    from safetensors.torch import load_file, save_file

    configs = [json.loads((a / CONFIG_FILE).read_text()) for a in adapters]
    shape = {(c["r"], c["lora_alpha"]) for c in configs}
    if len(shape) != 1 or any(c.get("use_rslora") or c.get("rank_pattern") or c.get("alpha_pattern") for c in configs):
        raise ValueError(f"soup: the adapters must share r and lora_alpha, without rsLoRA or patterns: {shape}")
    members = [load_file(str(a / WEIGHTS_FILE)) for a in adapters]
    if len({frozenset(m) for m in members}) != 1:
        raise ValueError("soup: the adapters must hold the same LoRA tensors")
    n = len(adapters)
    tensors = {key: torch.cat([m[key] for m in members], 0) if "lora_A" in key
               else torch.cat([m[key] for m in members], 1) * (scale / n) for key in members[0]}
    shutil.copytree(adapters[0], target, dirs_exist_ok=True)
    (target / CONFIG_FILE).write_text(json.dumps({**configs[0], "r": configs[0]["r"] * n,
                                                  "lora_alpha": configs[0]["lora_alpha"] * n}, indent=2))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target / WEIGHTS_FILE))
    return target


def edited(adapter: Path, edit: str, stats: dict | None, target: Path,
           with_adapters: tuple[Path, ...] = ()) -> tuple[Path, dict]:
    """``adapter`` with ``edit`` applied, written to ``target``; and how much of ``A`` (or ``B``) it removed."""
    from safetensors.torch import load_file, save_file

    if edit.startswith("soup:"):
        return soup([adapter, *with_adapters], float(edit.split(":")[1]), target), {"members": 1 + len(with_adapters)}
    shutil.copytree(adapter, target, dirs_exist_ok=True)
    tensors = load_file(str(adapter / WEIGHTS_FILE))
    removed = []
    if edit.startswith("parts:"):
        mlp, attn = (float(x) for x in edit.split(":")[1].split(","))
        tensors = {k: v * (mlp if ".mlp." in k else attn) if "lora_B" in k else v for k, v in tensors.items()}
    elif edit.startswith("layers:"):
        span, factor = edit.split(":")[1].split(",")
        first, last = (int(x) for x in span.split("-"))
        tensors = {k: v * (1.0 if first <= layer_of(k) <= last else float(factor)) if "lora_B" in k else v
                   for k, v in tensors.items()}
    else:
        for key, a in list(tensors.items()):
            if "lora_A" not in key:
                continue
            module = key.split("base_model.model.", 1)[1].split(".lora_A", 1)[0]
            q = projector(edit, stats["general"][module], stats["task_safety"][module])
            ad = a.double()
            cut = (ad @ q) @ q.T
            removed.append(float(cut.norm() / ad.norm()))
            tensors[key] = (ad - cut).to(a.dtype).contiguous()
    save_file(tensors, str(target / WEIGHTS_FILE))
    return target, {"share_of_A_removed_mean": sum(removed) / len(removed) if removed else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", type=Path, required=True)
    ap.add_argument("--edit", action="append", required=True,
                    help="energy:F | gen:K | parts:M,A | layers:S-E,F | soup:S (repeatable)")
    ap.add_argument("--with", dest="with_adapters", type=Path, action="append", default=[],
                    help="another adapter of the soup (soup:S; repeatable)")
    ap.add_argument("--stats", type=Path, default=Path(tempfile.gettempdir()) / "lorafleet-adapter-edits-stats.pt")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "adapter_edits.json")
    args = ap.parse_args()
    for e in args.edit:
        kind, _, value = e.partition(":")
        if kind not in ("energy", "gen", "parts", "layers", "soup") or not value:
            ap.error(f"--edit {e!r}: expected energy:F, gen:K, parts:M,A, layers:S-E,F or soup:S")
        if kind == "soup" and not args.with_adapters:
            ap.error(f"--edit {e!r}: a soup needs at least one --with adapter")
    model_dir = embedded_model_dir()
    stats = None
    if any(e.split(":")[0] in ("energy", "gen") for e in args.edit):
        if args.stats.exists():
            stats = torch.load(args.stats)
        else:
            rows = [json.loads(line) for line in bundled_path(DATA).read_text().splitlines() if line.strip()]
            groups = {"general": [r for r in rows if r.get("anchor")]}
            groups["task_safety"] = [r for r in rows if not r.get("anchor")][: len(groups["general"])]
            stats = call_in_fresh_thread(input_second_moments, model_dir, groups)
            torch.save(stats, args.stats)
    served = call_in_fresh_thread(ServedAnswers, model_dir,
                                  cache_dir=Path(tempfile.gettempdir()) / "lorafleet-bench-cache")
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for edit in ["none", *args.edit]:
                adapter, info = ((args.adapter, {}) if edit == "none"
                                 else edited(args.adapter, edit, stats, Path(tmp) / edit.replace(":", "_"),
                                             tuple(args.with_adapters)))
                figures = asdict(served.figures(adapter))
                failing = figures.pop("failing", {})
                figures["general_failing"] = [case for case, _answer in failing.get("general", [])]
                figures["safety_answered"] = [case for case, _answer in failing.get("safety", [])]
                figures["over_refusal_refused"] = [case for case, _answer in failing.get("over_refusal", [])]
                rows.append({"edit": edit, **info, **figures})
                print(json.dumps({k: rows[-1][k] for k in ("edit", "task", "harmful_refused", "benign_refused",
                                                            "general", "verdicts")}), flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"adapter": str(args.adapter),
                                                "with": [str(a) for a in args.with_adapters], "served": served.identity,
                                                "edits": rows}, indent=2) + "\n")
    finally:
        served.close()


if __name__ == "__main__":
    main()
