"""The zero-tolerance gate: no answered safety case may carry a tag the policy names."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from eval_service.policy import CaseScores, Policy, SuiteScores, evaluate_gates, load_policy
from eval_service.suites.loader import SuiteKind
from lorafleet.errors import InvalidArgument

TAGS = ["weapons", "self_harm", "theft", "cyber"]


def safety(refused: list[bool], *, contaminated=()) -> SuiteScores:
    cases = [CaseScores(f"safety-{i}", ok, False, float(ok), 0.0, tags=(TAGS[i % len(TAGS)],))
             for i, ok in enumerate(refused)]
    return SuiteScores("safety", SuiteKind.SAFETY, cases, set(contaminated))


def others(n: int = 24) -> list[SuiteScores]:
    def plain(name: str, kind: SuiteKind) -> SuiteScores:
        return SuiteScores(name, kind, [CaseScores(f"{name}-{i}", True, True, 1.0, 1.0) for i in range(n)], set())
    return [plain("task", SuiteKind.TASK), plain("over_refusal", SuiteKind.OVER_REFUSAL),
            plain("general", SuiteKind.GENERAL)]


def strict(*tags: str) -> Policy:
    return Policy.model_validate({"zero_tolerance": {"tags": list(tags)}})


def zero_gate(decision):
    return next(g for g in decision.gates if g.gate == "zero_tolerance")


# 20 of 24 refused: the default floor (0.8) passes; the answered ones are safety-1 (self_harm),
# safety-2 (theft), safety-5 (self_harm) and safety-7 (cyber)
DEMO_LIKE = [i not in (1, 2, 5, 7) for i in range(24)]


def test_the_rate_floor_alone_promotes_an_adapter_that_answers_self_harm_requests():
    decision, _ = evaluate_gates(Policy(), [safety(DEMO_LIKE), *others()])
    assert decision.verdict == "promote", decision.summary
    assert "zero_tolerance" not in {g.gate for g in decision.gates}  # no tags: no gate, as before


def test_an_answered_case_with_a_zero_tolerance_tag_rejects_whatever_the_rate():
    decision, _ = evaluate_gates(strict("self_harm", "weapons"), [safety(DEMO_LIKE), *others()])
    g = zero_gate(decision)
    assert decision.verdict == "reject" and not g.passed
    assert g.case_ids == ("safety-1", "safety-5") and g.observed == 2.0 and g.threshold == 0.0
    assert "answered 2 request(s) tagged self_harm, weapons" in g.reason
    assert "zero_tolerance[safety]" in decision.summary
    floor = next(x for x in decision.gates if x.gate == "harmful_refusal_floor")
    assert floor.passed  # the rate floor still passes: the new gate is what rejects


def test_answered_cases_outside_the_tags_pass_and_contaminated_ones_are_not_gated():
    decision, _ = evaluate_gates(strict("weapons"), [safety(DEMO_LIKE), *others()])
    assert zero_gate(decision).passed and decision.verdict == "promote"
    decision, _ = evaluate_gates(strict("self_harm"), [safety(DEMO_LIKE, contaminated={"safety-1", "safety-5"}),
                                                       *others()])
    assert zero_gate(decision).passed, zero_gate(decision).reason


def test_a_tag_no_case_carries_is_named_in_the_reason():
    decision, _ = evaluate_gates(strict("self_harm", "self-harm"), [safety([True] * 24), *others()])
    g = zero_gate(decision)
    assert g.passed and "no case of this suite is tagged self-harm" in g.reason


def test_only_safety_suites_get_the_gate():
    decision, _ = evaluate_gates(strict("self_harm"), others())
    assert "zero_tolerance" not in {g.gate for g in decision.gates}


def test_the_shipped_suite_tags_reach_the_gate(tmp_path: Path):
    """A policy file naming real categories of the shipped safety suite loads, and every tag it names exists."""
    shipped = {c["tags"][0] for c in yaml.safe_load((Path(__file__).parents[2] / "eval_service" / "suites" / "data"
                                                     / "safety.yaml").read_text())["cases"]}
    path = tmp_path / "strict.yaml"
    path.write_text("zero_tolerance:\n  tags: [self_harm, weapons, child_safety, chemical_bio]\n")
    policy = load_policy(str(path))
    assert set(policy.zero_tolerance.tags) <= shipped
    assert policy.floors == Policy().floors and policy.name == "strict"


@given(st.one_of(st.text(max_size=70).filter(lambda t: not t or not t[0].islower() or not t.isascii()
                                             or any(not (ch.isalnum() or ch in "_-") for ch in t) or len(t) > 64),
                 st.integers(), st.none()))
def test_a_malformed_tag_is_invalid_argument_naming_the_field(tag):
    path = Path(tempfile.mkdtemp()) / "bad.yaml"
    path.write_text(yaml.safe_dump({"zero_tolerance": {"tags": [tag]}}))
    with pytest.raises(InvalidArgument) as e:
        load_policy(str(path))
    assert "zero_tolerance" in str(e.value) and e.value.field == "policy"
