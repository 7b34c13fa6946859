import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lorafleet.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SuiteKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUITE_KIND_UNSPECIFIED: _ClassVar[SuiteKind]
    SUITE_KIND_TASK: _ClassVar[SuiteKind]
    SUITE_KIND_SAFETY: _ClassVar[SuiteKind]
    SUITE_KIND_OVER_REFUSAL: _ClassVar[SuiteKind]
    SUITE_KIND_GENERAL: _ClassVar[SuiteKind]

class BaselineKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BASELINE_KIND_UNSPECIFIED: _ClassVar[BaselineKind]
    BASELINE_KIND_PRODUCTION: _ClassVar[BaselineKind]
    BASELINE_KIND_BASE_MODEL: _ClassVar[BaselineKind]
    BASELINE_KIND_ADAPTER: _ClassVar[BaselineKind]

class EvaluationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVALUATION_STATE_UNSPECIFIED: _ClassVar[EvaluationState]
    EVALUATION_STATE_QUEUED: _ClassVar[EvaluationState]
    EVALUATION_STATE_RUNNING: _ClassVar[EvaluationState]
    EVALUATION_STATE_SUCCEEDED: _ClassVar[EvaluationState]
    EVALUATION_STATE_FAILED: _ClassVar[EvaluationState]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_PROMOTE: _ClassVar[Verdict]
    VERDICT_REJECT: _ClassVar[Verdict]
SUITE_KIND_UNSPECIFIED: SuiteKind
SUITE_KIND_TASK: SuiteKind
SUITE_KIND_SAFETY: SuiteKind
SUITE_KIND_OVER_REFUSAL: SuiteKind
SUITE_KIND_GENERAL: SuiteKind
BASELINE_KIND_UNSPECIFIED: BaselineKind
BASELINE_KIND_PRODUCTION: BaselineKind
BASELINE_KIND_BASE_MODEL: BaselineKind
BASELINE_KIND_ADAPTER: BaselineKind
EVALUATION_STATE_UNSPECIFIED: EvaluationState
EVALUATION_STATE_QUEUED: EvaluationState
EVALUATION_STATE_RUNNING: EvaluationState
EVALUATION_STATE_SUCCEEDED: EvaluationState
EVALUATION_STATE_FAILED: EvaluationState
VERDICT_UNSPECIFIED: Verdict
VERDICT_PROMOTE: Verdict
VERDICT_REJECT: Verdict

class Suite(_message.Message):
    __slots__ = ("name", "kind", "num_cases", "description", "scorers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NUM_CASES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: SuiteKind
    num_cases: int
    description: str
    scorers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[SuiteKind, str]] = ..., num_cases: _Optional[int] = ..., description: _Optional[str] = ..., scorers: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateEvaluationRequest(_message.Message):
    __slots__ = ("adapter", "suites", "baseline", "baseline_adapter", "policy", "promote_to", "max_cases_per_suite", "sampling")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    SUITES_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ADAPTER_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PROMOTE_TO_FIELD_NUMBER: _ClassVar[int]
    MAX_CASES_PER_SUITE_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    suites: _containers.RepeatedScalarFieldContainer[str]
    baseline: BaselineKind
    baseline_adapter: str
    policy: str
    promote_to: str
    max_cases_per_suite: int
    sampling: _common_pb2.SamplingParams
    def __init__(self, adapter: _Optional[str] = ..., suites: _Optional[_Iterable[str]] = ..., baseline: _Optional[_Union[BaselineKind, str]] = ..., baseline_adapter: _Optional[str] = ..., policy: _Optional[str] = ..., promote_to: _Optional[str] = ..., max_cases_per_suite: _Optional[int] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ...) -> None: ...

class CreateEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class CaseOutcome(_message.Message):
    __slots__ = ("case_id", "prompt", "candidate_output", "baseline_output", "candidate_passed", "baseline_passed", "candidate_score", "baseline_score", "tags", "expected")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_PASSED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_PASSED_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    prompt: str
    candidate_output: str
    baseline_output: str
    candidate_passed: bool
    baseline_passed: bool
    candidate_score: float
    baseline_score: float
    tags: _containers.RepeatedScalarFieldContainer[str]
    expected: str
    def __init__(self, case_id: _Optional[str] = ..., prompt: _Optional[str] = ..., candidate_output: _Optional[str] = ..., baseline_output: _Optional[str] = ..., candidate_passed: _Optional[bool] = ..., baseline_passed: _Optional[bool] = ..., candidate_score: _Optional[float] = ..., baseline_score: _Optional[float] = ..., tags: _Optional[_Iterable[str]] = ..., expected: _Optional[str] = ...) -> None: ...

class SuiteResult(_message.Message):
    __slots__ = ("suite", "kind", "num_cases", "candidate_score", "baseline_score", "both_passed", "candidate_only_passed", "baseline_only_passed", "neither_passed", "effect", "ci_low", "ci_high", "p_value", "test", "failing_cases")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NUM_CASES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BOTH_PASSED_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_ONLY_PASSED_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ONLY_PASSED_FIELD_NUMBER: _ClassVar[int]
    NEITHER_PASSED_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    FAILING_CASES_FIELD_NUMBER: _ClassVar[int]
    suite: str
    kind: SuiteKind
    num_cases: int
    candidate_score: float
    baseline_score: float
    both_passed: int
    candidate_only_passed: int
    baseline_only_passed: int
    neither_passed: int
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    failing_cases: _containers.RepeatedCompositeFieldContainer[CaseOutcome]
    def __init__(self, suite: _Optional[str] = ..., kind: _Optional[_Union[SuiteKind, str]] = ..., num_cases: _Optional[int] = ..., candidate_score: _Optional[float] = ..., baseline_score: _Optional[float] = ..., both_passed: _Optional[int] = ..., candidate_only_passed: _Optional[int] = ..., baseline_only_passed: _Optional[int] = ..., neither_passed: _Optional[int] = ..., effect: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., p_value: _Optional[float] = ..., test: _Optional[str] = ..., failing_cases: _Optional[_Iterable[_Union[CaseOutcome, _Mapping]]] = ...) -> None: ...

class GateResult(_message.Message):
    __slots__ = ("gate", "suite", "passed", "reason", "observed", "threshold", "case_ids")
    GATE_FIELD_NUMBER: _ClassVar[int]
    SUITE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CASE_IDS_FIELD_NUMBER: _ClassVar[int]
    gate: str
    suite: str
    passed: bool
    reason: str
    observed: float
    threshold: float
    case_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, gate: _Optional[str] = ..., suite: _Optional[str] = ..., passed: _Optional[bool] = ..., reason: _Optional[str] = ..., observed: _Optional[float] = ..., threshold: _Optional[float] = ..., case_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("verdict", "gates", "summary", "promoted_alias")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_ALIAS_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    gates: _containers.RepeatedCompositeFieldContainer[GateResult]
    summary: str
    promoted_alias: str
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., gates: _Optional[_Iterable[_Union[GateResult, _Mapping]]] = ..., summary: _Optional[str] = ..., promoted_alias: _Optional[str] = ...) -> None: ...

class SuiteProgress(_message.Message):
    __slots__ = ("suite", "cases_done", "cases_total")
    SUITE_FIELD_NUMBER: _ClassVar[int]
    CASES_DONE_FIELD_NUMBER: _ClassVar[int]
    CASES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    suite: str
    cases_done: int
    cases_total: int
    def __init__(self, suite: _Optional[str] = ..., cases_done: _Optional[int] = ..., cases_total: _Optional[int] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("id", "adapter", "baseline_adapter", "state", "suite_results", "decision", "report_json_path", "report_html_path", "error", "policy", "promote_to", "progress", "create_time", "finish_time", "contaminated_case_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ADAPTER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUITE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_PATH_FIELD_NUMBER: _ClassVar[int]
    REPORT_HTML_PATH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PROMOTE_TO_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATED_CASE_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    adapter: str
    baseline_adapter: str
    state: EvaluationState
    suite_results: _containers.RepeatedCompositeFieldContainer[SuiteResult]
    decision: Decision
    report_json_path: str
    report_html_path: str
    error: str
    policy: str
    promote_to: str
    progress: _containers.RepeatedCompositeFieldContainer[SuiteProgress]
    create_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    contaminated_case_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., adapter: _Optional[str] = ..., baseline_adapter: _Optional[str] = ..., state: _Optional[_Union[EvaluationState, str]] = ..., suite_results: _Optional[_Iterable[_Union[SuiteResult, _Mapping]]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., report_json_path: _Optional[str] = ..., report_html_path: _Optional[str] = ..., error: _Optional[str] = ..., policy: _Optional[str] = ..., promote_to: _Optional[str] = ..., progress: _Optional[_Iterable[_Union[SuiteProgress, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., contaminated_case_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class GetEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class WatchEvaluationRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: str
    def __init__(self, evaluation_id: _Optional[str] = ...) -> None: ...

class WatchEvaluationResponse(_message.Message):
    __slots__ = ("evaluation", "message")
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    evaluation: Evaluation
    message: str
    def __init__(self, evaluation: _Optional[_Union[Evaluation, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class ListSuitesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSuitesResponse(_message.Message):
    __slots__ = ("suites",)
    SUITES_FIELD_NUMBER: _ClassVar[int]
    suites: _containers.RepeatedCompositeFieldContainer[Suite]
    def __init__(self, suites: _Optional[_Iterable[_Union[Suite, _Mapping]]] = ...) -> None: ...
