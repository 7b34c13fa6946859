"""Build the shipped ``task`` suite from the trainer's held-out support tickets.

    python -m eval_service.suites.build_task_suite [--heldout PATH] [--out PATH]

Each held-out record ``{"id", "messages": [system, user], "expected": {"category", "priority",
"summary"}}`` becomes a ``json_field`` case: the score is the fraction of category and priority
that match, and the case passes when the category is right (the routing decision the task is
for; priority is harder and only moves the score). The summary is free text and is not scored.
The held-out file is not used for training, but its tickets come from the same templates as the
training tickets, so a held-out ticket can occur verbatim inside a training one ("<ticket>" vs
"Hi, <ticket> Regards, Sol"); such cases are dropped here so the suite stays disjoint from every
training file in lorafleet/datasets/bundled (tests/eval_service/test_suites_disjoint.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval_service.contamination import OverlapIndex, read_jsonl_prompts

REPO = Path(__file__).resolve().parents[2]
DEFAULT_HELDOUT = REPO / "lorafleet" / "datasets" / "bundled" / "support_tickets_heldout.jsonl"
DEFAULT_OUT = Path(__file__).parent / "data" / "task.jsonl"
HEADER = {"suite": {
    "name": "task",
    "kind": "task",
    "description": ("Support-ticket triage (bundled task), held-out tickets: JSON with the right category "
                    "(and priority)."),
    "defaults": {"scorer": "json_field", "params": {"pass_fields": ["category"]}},
    # the trained answer is a JSON object of at most 28 tokens (+ end of turn); a longer output
    # is already wrong, so generating past 32 tokens only costs time
    "generation": {"max_tokens": 32},
}}


def _training_index(training_dir: Path, heldout: Path) -> OverlapIndex:
    prompts: list[str] = []
    for path in sorted(training_dir.glob("*.jsonl")):
        if path.resolve() != heldout.resolve():
            prompts += read_jsonl_prompts(path)
    return OverlapIndex(prompts)


def build(heldout: Path, out: Path, training_dir: Path | None = None) -> int:
    index = _training_index(training_dir or heldout.parent, heldout)
    lines = [json.dumps(HEADER, ensure_ascii=False)]
    for raw in heldout.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        rec = json.loads(raw)
        exp = rec["expected"]
        user = next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "user")
        if index.verbatim(user) is not None:
            print(f"skip {rec['id']}: its ticket text occurs verbatim in a training file")
            continue
        lines.append(json.dumps({
            "id": rec["id"],
            "messages": rec["messages"],
            "expected": {"category": exp["category"], "priority": exp["priority"]},
            "tags": [exp["category"], f"priority-{exp['priority']}"],
        }, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return len(lines) - 1


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    print(f"wrote {build(args.heldout, args.out)} cases to {args.out}")


if __name__ == "__main__":
    main()
