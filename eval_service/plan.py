"""The evaluation record's payload as typed models: what was asked, what it resolved to, what the run found.

Why models: the payload of an ``evaluations`` record is written by ``create`` (the plan), updated by the
run (progress, then results and decision), read back by the run, the start-up recovery, the servicer and
the protobuf edge. As a dict its ~22 keys were spelled by hand in each of those places; here they are
fields with types, and each writer persists only the fields it changed (``to_json``), because
``RecordStore.update`` merges top-level keys.

The JSON keys are the ones these records have always had, so records already in a database load as they
are. Keys a record lacks take the defaults below (a QUEUED record has no ``start_time`` yet); keys these
models do not know are ignored.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict

from eval_service.generation import EngineInfo, GenerationParams
from eval_service.policy import Decision
from eval_service.results import SuiteResult
from lorafleet.registry.models import AdapterState, Record

# Lifecycle of an evaluation record (see runner.py).
QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
ACTIVE_STATES = (QUEUED, RUNNING)
FAILING_CASES_IN_RECORD = 50  # per suite in the DB record; the report has them all


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class EvaluationRequest(BaseModel):
    """What CreateEvaluation asks for, as plain values (checked and resolved by ``planner.Planner``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapter: str
    suites: tuple[str, ...] = ()
    baseline: str = "production"  # production | base_model | adapter
    baseline_adapter: str = ""
    policy: str = ""
    promote_to: str = ""
    max_cases_per_suite: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


class SuiteProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    suite: str
    cases_done: int = 0
    cases_total: int = 0


class RecordedSuite(SuiteResult):
    """A suite's result as the record keeps it: the first ``FAILING_CASES_IN_RECORD`` failing cases."""

    failing_cases_total: int = 0

    @classmethod
    def trimmed(cls, result: SuiteResult) -> RecordedSuite:
        return cls.model_validate({**dict(result), "failing_cases": result.failing_cases[:FAILING_CASES_IN_RECORD],
                                   "failing_cases_total": len(result.failing_cases)})


class RecordedDecision(Decision):
    """The gates' decision as recorded: its summary notes what applying it did, and the alias it moved."""

    promoted_alias: str = ""

    @classmethod
    def applied(cls, decision: Decision, promoted_alias: str, note: str = "") -> RecordedDecision:
        summary = decision.summary + (f" ({note})" if note else "")
        return cls.model_validate({**dict(decision), "summary": summary, "promoted_alias": promoted_alias})


class EvaluationPlan(BaseModel):
    """What was asked and what it resolved to when the evaluation was created."""

    model_config = ConfigDict(validate_assignment=True)

    adapter: str  # the candidate, name@version
    baseline_adapter: str = ""  # name@version, or "" for the base model
    baseline_label: str = ""  # how reports name the baseline and why it was chosen
    suites: list[str] = []
    policy: str = ""  # the policy's name
    policy_ref: str = ""  # as requested: a shipped policy's name, a file, or "" for the default
    promote_to: str = ""  # alias to move on PROMOTE, "" for a report only
    promote_alias_version_at_start: int = 0  # compare-and-set of the alias move (0: it did not exist)
    max_cases_per_suite: int = 0
    sampling: GenerationParams
    suite_max_tokens: dict[str, int] = {}
    create_time: str = ""

    def suite_params(self, suite: str) -> GenerationParams:
        """The sampling parameters with this suite's generation length."""
        return dataclasses.replace(self.sampling, max_tokens=self.suite_max_tokens.get(suite, self.sampling.max_tokens))

    @property
    def baseline_name(self) -> str:
        return self.baseline_adapter or "base model"


class EvaluationPayload(EvaluationPlan):
    """The whole payload of an ``evaluations`` record: the plan, then what the run recorded."""

    progress: list[SuiteProgress] = []
    suite_results: list[RecordedSuite] = []
    decision: RecordedDecision | None = None
    contaminated_case_ids: list[str] = []
    near_duplicate_case_ids: list[str] = []
    report_json_path: str = ""
    report_html_path: str = ""
    engine: EngineInfo | None = None
    error: str = ""
    previous_state: AdapterState | None = None  # the candidate's state before the run set EVALUATING
    start_time: str = ""
    finish_time: str = ""

    @classmethod
    def of(cls, record: Record) -> EvaluationPayload:
        return cls.model_validate(record.payload)

    def to_json(self, *fields: str) -> dict[str, Any]:
        """The payload as JSON values; only ``fields`` when given (what an update merges in)."""
        return self.model_dump(mode="json", include=set(fields) or None)
