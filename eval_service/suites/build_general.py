"""Build the shipped ``general`` suite: keep only the candidates the base model answers correctly.

    python -m eval_service.suites.build_general [--model-dir DIR] [--quantization none nf4] [--max-tokens 48]

A forgetting check must only contain knowledge the base model demonstrably has; otherwise a
candidate "regresses" on cases the baseline never passed. Every candidate in
``sources/general_candidates.yaml`` is generated greedily (chat template, the inference
service's default system prompt, ``--max-tokens`` new tokens) with each listed quantization, and
scored with its own scorer; a case is kept only if it passes under all of them (the inference
service serves nf4 by default, the trainer sees full precision). Dropped cases are printed with the
model's answer so the pool can be reviewed. Per-candidate answers and verdicts are kept in
``sources/general_verdicts.json``: provenance, and so that a re-run only generates candidates added
since and re-scores every stored answer with the candidate's current scorer (a ``reject`` list of wrong
answers, say) without regenerating. Verdicts of builds before 2026-11-28 kept no passing answer; such a
verdict stays as it is, because greedy answers differ from CPU to CPU and regenerating it elsewhere moves
the suite with the machine (the shipped file, rebuilt on 2026-11-28, keeps every answer).
``--rerun-all`` regenerates everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from eval_service.scoring.scorers import score_output
from eval_service.suites.loader import load_suite

HERE = Path(__file__).parent
SOURCE = HERE / "sources" / "general_candidates.yaml"
OUT = HERE / "data" / "general.yaml"
VERDICTS = HERE / "sources" / "general_verdicts.json"
# case id -> "max_tokens=N" -> quantization -> {"passed": bool, "output": str}
Verdicts = dict[str, dict[str, dict[str, dict[str, Any]]]]


def generate(model_dir: Path, quantization: str, prompts: list[list[dict]], max_tokens: int,
             batch: int = 16) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    kwargs: dict = {"dtype": torch.float32}
    if quantization == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=torch.float32)
        kwargs["device_map"] = {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.padding_side = "left"
    outs: list[str] = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i:i + batch]
        enc = tok.apply_chat_template(chunk, add_generation_prompt=True, return_tensors="pt", padding=True,
                                      return_dict=True)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for row in gen:
            outs.append(tok.decode(row[enc["input_ids"].shape[1]:], skip_special_tokens=True))
        print(f"  {quantization}: {min(i + batch, len(prompts))}/{len(prompts)}", file=sys.stderr, flush=True)
    return outs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--quantization", nargs="+", default=["none", "nf4"])
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--verdicts", type=Path, default=VERDICTS)
    ap.add_argument("--rerun-all", action="store_true")
    args = ap.parse_args(argv)
    model_dir = args.model_dir
    if model_dir is None:
        from lorafleet.base_model import resolve_base_model_dir
        from lorafleet.config import Settings

        s = Settings.from_env()
        model_dir = resolve_base_model_dir(s.base_model, s.resolved_model_cache_dir)
    suite = load_suite(args.source)
    verdicts: Verdicts = {}
    if args.verdicts.is_file() and not args.rerun_all:
        verdicts = json.loads(args.verdicts.read_text(encoding="utf-8"))
    key = f"max_tokens={args.max_tokens}"
    for q in args.quantization:
        todo = [c for c in suite.cases if q not in verdicts.get(c.id, {}).get(key, {})]
        prompts = [[{"role": m.role, "content": m.content} for m in c.messages] for c in todo]
        outs = generate(model_dir, q, prompts, args.max_tokens) if todo else []
        for case, out in zip(todo, outs):
            verdicts.setdefault(case.id, {}).setdefault(key, {})[q] = {"output": out}
        for case in suite.cases:
            verdict = verdicts[case.id][key][q]
            if verdict.get("output") is None:
                continue  # an earlier build's verdict, whose answer was not kept: regenerate with --rerun-all
            r = score_output(case.scorer, verdict["output"], case.expected, case.params)
            verdict["passed"] = r.passed
            if not r.passed:
                print(f"DROP [{q}] {case.id}: {verdict['output'][:100]!r} ({r.reason})", file=sys.stderr)
    passed = {c.id: all(verdicts[c.id][key][q]["passed"] for q in args.quantization) for c in suite.cases}
    tmpv = args.verdicts.with_suffix(".tmp")
    tmpv.write_text(json.dumps(verdicts, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmpv, args.verdicts)
    doc = yaml.safe_load(args.source.read_text(encoding="utf-8"))
    doc["cases"] = [c for c in doc["cases"] if passed[c["id"]]]
    header = (f"# Generated by `python -m eval_service.suites.build_general` from sources/general_candidates.yaml:\n"
              f"# the {len(doc['cases'])} of {len(suite.cases)} candidates the base model answers correctly with "
              f"greedy decoding,\n"
              f"# max_tokens={args.max_tokens}, quantization {' and '.join(args.quantization)}. Do not edit by hand.\n")
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"kept {len(doc['cases'])} of {len(suite.cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
