"""What an evaluation found, typed: each case's two outputs and scores, each suite's paired comparison.

Why one place: the same results go into the JSON report (all of them), into the evaluation record (trimmed,
``plan.RecordedSuite``) and through the protobuf edge; with these models the keys are written once instead
of in three dict literals. ``score_suites`` is the step that produces them from the generated pairs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from eval_service.policy import CaseScores, SuiteComparison, SuiteScores
from eval_service.scoring.scorers import is_graded, score_output
from eval_service.suites.models import Suite, SuiteKind

# (suite name, case id) -> (candidate output, baseline output)
Outputs = dict[tuple[str, str], tuple[str, str]]


class CaseOutcome(BaseModel):
    """One case, candidate and baseline side by side."""

    model_config = ConfigDict(frozen=True)

    suite: str
    kind: SuiteKind
    case_id: str
    prompt: str
    expected: str
    scorer: str
    tags: tuple[str, ...]
    candidate_output: str
    baseline_output: str
    candidate_passed: bool
    baseline_passed: bool
    candidate_score: float
    baseline_score: float
    candidate_reason: str
    baseline_reason: str
    contaminated: bool
    near_duplicate: bool


class SuiteResult(BaseModel):
    """One suite's paired comparison and the cases the candidate failed."""

    model_config = ConfigDict(frozen=True)

    suite: str
    kind: SuiteKind
    num_cases: int
    gated_cases: int
    candidate_score: float
    baseline_score: float
    candidate_pass_rate: float
    baseline_pass_rate: float
    both_passed: int
    candidate_only_passed: int
    baseline_only_passed: int
    neither_passed: int
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    failing_cases: tuple[CaseOutcome, ...]

    @classmethod
    def of(cls, cmp: SuiteComparison, cases: list[CaseOutcome]) -> SuiteResult:
        """``cases``: every outcome of the evaluation; the suite's own are picked by name."""
        rows = [c for c in cases if c.suite == cmp.suite]
        return cls(
            suite=cmp.suite, kind=cmp.kind, num_cases=len(rows), gated_cases=cmp.gated_cases,
            candidate_score=cmp.candidate_score, baseline_score=cmp.baseline_score,
            candidate_pass_rate=cmp.candidate_pass_rate, baseline_pass_rate=cmp.baseline_pass_rate,
            both_passed=cmp.both_passed, candidate_only_passed=cmp.candidate_only,
            baseline_only_passed=cmp.baseline_only, neither_passed=cmp.neither,
            effect=cmp.test.effect, ci_low=cmp.test.ci_low, ci_high=cmp.test.ci_high,
            p_value=cmp.test.p_value, test=cmp.test.test,
            failing_cases=tuple(c for c in rows if not c.candidate_passed))


def score_suites(suites: list[Suite], outputs: Outputs, contaminated: set[str],
                 near: set[str]) -> tuple[list[SuiteScores], list[CaseOutcome]]:
    """Score both outputs of every case: the scores the gates take, and the outcomes the report shows."""
    suite_scores: list[SuiteScores] = []
    rows: list[CaseOutcome] = []
    for s in suites:
        cases: list[CaseScores] = []
        for c in s.cases:
            cand_out, base_out = outputs[(s.name, c.id)]
            rc = score_output(c.scorer, cand_out, c.expected, c.params)
            rb = score_output(c.scorer, base_out, c.expected, c.params)
            cases.append(CaseScores(c.id, rc.passed, rb.passed, rc.score, rb.score, tags=c.tags))
            rows.append(CaseOutcome(
                suite=s.name, kind=s.kind, case_id=c.id, prompt=c.user_text, expected=c.expected_text(),
                scorer=c.scorer, tags=c.tags, candidate_output=cand_out, baseline_output=base_out,
                candidate_passed=rc.passed, baseline_passed=rb.passed,
                candidate_score=rc.score, baseline_score=rb.score,
                candidate_reason=rc.reason, baseline_reason=rb.reason,
                contaminated=c.id in contaminated, near_duplicate=c.id in near))
        suite_scores.append(SuiteScores(s.name, s.kind, cases, {c.id for c in s.cases} & contaminated,
                                        graded_scorers=any(is_graded(c.scorer, c.params) for c in s.cases)))
    return suite_scores, rows
