"""build_general: which candidates become the general suite, and when answers are (re)generated.

The model is replaced by a table of canned answers, so these tests check the builder's bookkeeping: stored
answers are re-scored with each candidate's current scorer (a new reject list drops a case without
regenerating), only candidates without a verdict are generated, and an earlier build's verdict without its
answer is kept as it is until ``--rerun-all``. And the shipped suite holds no case whose stored base answer its
own scorer fails (the reject lists reached it).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from eval_service.scoring.scorers import score_output
from eval_service.suites import build_general
from eval_service.suites.loader import load_suite

POOL = """\
name: general
kind: general
description: test pool
cases:
  - {id: hexagon, prompt: "How many sides does a hexagon have?", scorer: contains, expected: ["6", six]%s}
  - {id: paris, prompt: "What city is the capital of France?", scorer: contains, expected: [Paris]}
"""
ANSWERS = {"How many sides does a hexagon have?": "A hexagon has eight sides, each with six lines.",
           "What city is the capital of France?": "The capital of France is Paris."}


def _build(tmp_path: Path, monkeypatch, reject: str, calls: list[list[str]], rerun_all: bool = False) -> list[str]:
    source = tmp_path / "candidates.yaml"
    source.write_text(POOL % reject, encoding="utf-8")

    def fake_generate(model_dir, quantization, prompts, max_tokens, batch=16):
        calls.append([p[-1]["content"] for p in prompts])
        return [ANSWERS[p[-1]["content"]] for p in prompts]

    monkeypatch.setattr(build_general, "generate", fake_generate)
    build_general.main(["--model-dir", str(tmp_path), "--quantization", "nf4", "--source", str(source),
                        "--out", str(tmp_path / "general.yaml"), "--verdicts", str(tmp_path / "v.json")]
                       + (["--rerun-all"] if rerun_all else []))
    return [c["id"] for c in yaml.safe_load((tmp_path / "general.yaml").read_text(encoding="utf-8"))["cases"]]


def test_a_reject_list_added_later_drops_the_case_without_regenerating(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    assert _build(tmp_path, monkeypatch, "", calls) == ["hexagon", "paris"]  # "six" credits the contradiction
    assert len(calls) == 1 and len(calls[0]) == 2
    kept = _build(tmp_path, monkeypatch, ", params: {reject: [has eight sides]}", calls)
    assert kept == ["paris"]
    assert len(calls) == 1  # re-scored from the stored answers
    verdicts = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert verdicts["hexagon"]["max_tokens=48"]["nf4"] == {"output": ANSWERS["How many sides does a hexagon have?"],
                                                           "passed": False}


def test_an_earlier_builds_verdict_without_its_answer_is_kept_until_rerun_all(tmp_path, monkeypatch):
    legacy = {"hexagon": {"max_tokens=48": {"nf4": {"output": None, "passed": True}}}}
    (tmp_path / "v.json").write_text(json.dumps(legacy), encoding="utf-8")
    calls: list[list[str]] = []
    assert _build(tmp_path, monkeypatch, ", params: {reject: [has eight sides]}", calls) == ["hexagon", "paris"]
    assert calls == [["What city is the capital of France?"]]  # only the candidate without a verdict
    assert _build(tmp_path, monkeypatch, ", params: {reject: [has eight sides]}", calls, rerun_all=True) == ["paris"]
    assert len(calls) == 2 and len(calls[1]) == 2


def test_the_shipped_general_suite_holds_no_case_its_own_stored_answers_fail():
    here = Path(build_general.__file__).parent
    suite = load_suite(here / "data" / "general.yaml")
    verdicts = json.loads((here / "sources" / "general_verdicts.json").read_text(encoding="utf-8"))
    assert len(suite.cases) >= 100
    for case in suite.cases:
        stored = verdicts[case.id]["max_tokens=48"]
        assert set(stored) == {"none", "nf4"}, case.id  # full precision and the served nf4
        for quantization, verdict in stored.items():
            result = score_output(case.scorer, verdict["output"], case.expected, case.params)
            assert result.passed, (case.id, quantization, result.reason)
