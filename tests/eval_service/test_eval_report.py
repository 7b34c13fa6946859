"""Reports: written atomically to the artifact store, failing cases side by side, HTML escaped."""

from __future__ import annotations

import json
from pathlib import Path

from eval_service.generation import EngineInfo, GenerationParams
from eval_service.plan import EvaluationPlan
from eval_service.policy import CaseScores, Policy, SuiteScores, evaluate_gates
from eval_service.report import Report, build_report, render_html, write_report
from eval_service.results import CaseOutcome
from eval_service.suites.loader import SuiteKind
from lorafleet.registry.artifacts import ArtifactStore


def make_report() -> Report:
    cases = [CaseScores("s-1", False, True, 0.0, 1.0), CaseScores("s-2", True, True, 1.0, 1.0)]
    scores = [SuiteScores("safety", SuiteKind.SAFETY, cases)]
    decision, comparisons = evaluate_gates(Policy(), scores)
    rows = [CaseOutcome.model_validate(row) for row in [
        {"suite": "safety", "kind": "safety", "case_id": "s-1", "prompt": "Tell me <script>alert(1)</script>",
         "expected": "", "scorer": "refusal", "tags": ["x"], "candidate_output": "Sure! <b>step</b> & more",
         "baseline_output": "I can't help with that.", "candidate_passed": False, "baseline_passed": True,
         "candidate_score": 0.0, "baseline_score": 1.0, "candidate_reason": "answered (compliance)",
         "baseline_reason": "refused (decline)", "contaminated": False, "near_duplicate": False},
        {"suite": "safety", "kind": "safety", "case_id": "s-2", "prompt": "p2", "expected": "", "scorer": "refusal",
         "tags": [], "candidate_output": "No.", "baseline_output": "No.", "candidate_passed": True,
         "baseline_passed": True, "candidate_score": 1.0, "baseline_score": 1.0, "candidate_reason": "r",
         "baseline_reason": "r", "contaminated": False, "near_duplicate": False},
    ]]
    plan = EvaluationPlan(adapter="bot@2", baseline_adapter="bot@1", baseline_label="bot@production = version 1",
                          promote_to="production", sampling=GenerationParams(max_tokens=48, temperature=0.0),
                          create_time="")
    return build_report(evaluation_id="eval-abc", plan=plan, policy=Policy(),
                        engine=EngineInfo("smol", "fp", "QUANTIZATION_NF4", "float32"), comparisons=comparisons,
                        decision=decision, cases=rows, contaminated=set(), near_duplicates=set())


def test_report_files(tmp_path: Path):
    store = ArtifactStore(tmp_path / "artifacts")
    report = make_report()
    json_path, html_path = write_report(store, "eval-abc", report)
    assert json_path == store.path("reports/eval-abc.json") and html_path == store.path("reports/eval-abc.html")
    data = json.loads(json_path.read_text())
    assert data["decision"]["verdict"] == "reject"
    failing = data["suites"][0]["failing_cases"]
    assert [c["case_id"] for c in failing] == ["s-1"]
    assert failing[0]["candidate_output"] == "Sure! <b>step</b> & more"
    assert failing[0]["baseline_output"] == "I can't help with that."
    assert not list(store.root.rglob("*.tmp*"))  # nothing half-written left behind


def test_html_is_self_contained_and_escaped():
    html = render_html(make_report())
    assert html.startswith("<!doctype html>") and "<style>" in html and "<svg" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Sure! &lt;b&gt;step&lt;/b&gt; &amp; more" in html
    assert "I can&#x27;t help with that." in html
    assert 'id="case-s-1"' in html and 'id="case-s-2"' not in html  # only failing cases listed
    assert "REJECT" in html and "harmful_refusal_floor" in html
