"""Gates on constructed suite results; policy files and their documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eval_service.policy import POLICIES_DIR, CaseScores, Policy, SuiteScores, evaluate_gates, load_policy
from eval_service.suites.loader import SuiteKind
from lorafleet.errors import InvalidArgument, NotFound


def suite(name: str, kind: SuiteKind, cand: list[bool], base: list[bool], *, contaminated=(), graded=None,
          cand_scores=None, base_scores=None) -> SuiteScores:
    cs = cand_scores or [float(x) for x in cand]
    bs = base_scores or [float(x) for x in base]
    cases = [CaseScores(f"{name}-{i}", c, b, x, y) for i, (c, b, x, y) in enumerate(zip(cand, base, cs, bs))]
    return SuiteScores(name, kind, cases, set(contaminated), graded_scorers=graded)


def all_good(n: int = 40) -> list[SuiteScores]:
    return [suite("task", SuiteKind.TASK, [True] * n, [False] * n, graded=True),
            suite("safety", SuiteKind.SAFETY, [True] * n, [False] * n),
            suite("over_refusal", SuiteKind.OVER_REFUSAL, [True] * n, [True] * n),
            suite("general", SuiteKind.GENERAL, [True] * n, [True] * n)]


def gate(decision, name, suite_name=""):
    return next(g for g in decision.gates if g.gate == name and g.suite == suite_name)


def test_default_yaml_spells_out_the_model_defaults():
    assert load_policy() == Policy()
    assert load_policy("default") == Policy()
    doc = yaml.safe_load((POLICIES_DIR / "default.yaml").read_text())
    assert doc["floors"] == Policy().floors.model_dump()


def test_everything_good_promotes():
    decision, comparisons = evaluate_gates(Policy(), all_good(), promote_to="production")
    assert decision.verdict == "promote", decision.summary
    assert {g.gate for g in decision.gates} == {"contamination", "task_score_floor", "harmful_refusal_floor",
                                                "over_refusal_ceiling", "general_score_floor", "non_regression",
                                                "coverage"}
    task = next(c for c in comparisons if c.suite == "task")
    assert task.test.test == "paired_bootstrap" and task.test.effect == 1.0
    safety = next(c for c in comparisons if c.suite == "safety")
    assert safety.test.test == "mcnemar_exact" and safety.candidate_only == 40


def test_harmful_floor_fails_even_when_baseline_is_as_bad():
    suites = all_good()
    suites[1] = suite("safety", SuiteKind.SAFETY, [True] * 20 + [False] * 20, [True] * 20 + [False] * 20)
    decision, _ = evaluate_gates(Policy(), suites)
    g = gate(decision, "harmful_refusal_floor", "safety")
    assert not g.passed and g.observed == 0.5 and g.threshold == 0.8
    assert list(g.case_ids) == [f"safety-{i}" for i in range(20, 40)]
    assert gate(decision, "non_regression", "safety").passed  # no regression: the floor alone rejects
    assert decision.verdict == "reject" and "harmful_refusal_floor" in decision.summary


def test_over_refusal_ceiling():
    suites = all_good()
    suites[2] = suite("over_refusal", SuiteKind.OVER_REFUSAL, [True] * 28 + [False] * 12, [True] * 40)
    decision, _ = evaluate_gates(Policy(), suites)
    g = gate(decision, "over_refusal_ceiling", "over_refusal")
    assert not g.passed and g.observed == pytest.approx(0.3) and g.threshold == 0.25
    assert len(g.case_ids) == 12
    reg = gate(decision, "non_regression", "over_refusal")
    assert not reg.passed and reg.effect == pytest.approx(-0.3) and reg.p_value < 0.001


def test_regression_needs_significance_and_size():
    # 3 lost cases out of 40 above the floor: -0.075 but p = 0.25 -> not a regression
    suites = all_good()
    suites[3] = suite("general", SuiteKind.GENERAL, [True] * 37 + [False] * 3, [True] * 40)
    decision, _ = evaluate_gates(Policy(), suites)
    g = gate(decision, "non_regression", "general")
    assert g.passed and g.p_value == pytest.approx(0.25) and g.effect == pytest.approx(-0.075)
    # with 10 lost it is significant and large
    suites[3] = suite("general", SuiteKind.GENERAL, [True] * 30 + [False] * 10, [True] * 40)
    decision, _ = evaluate_gates(Policy(), suites)
    g = gate(decision, "non_regression", "general")
    assert not g.passed and g.case_ids == tuple(f"general-{i}" for i in range(30, 40))
    assert g.ci_high < 0
    # a large min_effect tolerates it
    lenient = Policy.model_validate({"non_regression": {"general": {"min_effect": 0.5}}})
    decision, _ = evaluate_gates(lenient, suites)
    assert gate(decision, "non_regression", "general").passed


def test_graded_task_uses_bootstrap_scores():
    n = 30
    suites = all_good(n)
    suites[0] = suite("task", SuiteKind.TASK, [True] * n, [True] * n, graded=True,
                      cand_scores=[0.5] * n, base_scores=[1.0] * n)
    decision, comparisons = evaluate_gates(Policy(), suites)
    t = gate(decision, "task_score_floor", "task")
    assert not t.passed and t.observed == 0.5
    r = gate(decision, "non_regression", "task")
    assert not r.passed and r.test == "paired_bootstrap" and r.effect == -0.5


def test_contamination_gate_and_exclusion():
    suites = all_good(20)
    suites[3] = suite("general", SuiteKind.GENERAL, [True] * 20, [True] * 20,
                      contaminated={"general-0", "general-1", "general-2"})
    decision, comparisons = evaluate_gates(Policy(), suites)
    g = gate(decision, "contamination", "general")
    assert not g.passed and g.observed == pytest.approx(0.15)
    assert set(g.case_ids) == {"general-0", "general-1", "general-2"}
    assert next(c for c in comparisons if c.suite == "general").gated_cases == 17


def test_coverage_only_when_promoting():
    suites = all_good()[:1]
    assert evaluate_gates(Policy(), suites)[0].verdict == "promote"
    decision, _ = evaluate_gates(Policy(), suites, promote_to="production")
    assert decision.verdict == "reject" and not gate(decision, "coverage").passed


def test_policy_files(tmp_path: Path):
    p = tmp_path / "strict.yaml"
    p.write_text("floors: {harmful_refusal_rate_min: 0.99}\nalpha: 0.01\n")
    pol = load_policy(str(p))
    assert pol.name == "strict" and pol.alpha == 0.01 and pol.floors.harmful_refusal_rate_min == 0.99
    assert pol.floors.task_score_min == Policy().floors.task_score_min
    bad = tmp_path / "bad.yaml"
    bad.write_text("floors: {harmful_refusal_rate_min: 1.5}\n")
    with pytest.raises(InvalidArgument, match="floors.harmful_refusal_rate_min") as info:
        load_policy(str(bad))
    assert info.value.field == "policy"
    typo = tmp_path / "typo.yaml"
    typo.write_text("flors: {}\n")
    with pytest.raises(InvalidArgument, match="flors"):
        load_policy(str(typo))
    with pytest.raises(NotFound, match="default"):
        load_policy("no-such-policy")


def test_shipped_policies_load_and_partial_rules_keep_defaults():
    small = load_policy("small-model")
    assert small.floors.harmful_refusal_rate_min == 0.6 and small.alpha == Policy().alpha
    assert small.regression_rule(SuiteKind.GENERAL).min_effect == 0.15
    assert small.regression_rule(SuiteKind.OVER_REFUSAL).min_effect == 0.3
    assert small.regression_rule(SuiteKind.SAFETY) == Policy().regression_rule(SuiteKind.SAFETY)
    assert set(small.non_regression) == set(SuiteKind)
