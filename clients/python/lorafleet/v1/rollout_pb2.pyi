import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lorafleet.v1 import common_pb2 as _common_pb2
from lorafleet.v1 import inference_pb2 as _inference_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RolloutMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLLOUT_MODE_UNSPECIFIED: _ClassVar[RolloutMode]
    ROLLOUT_MODE_SHADOW: _ClassVar[RolloutMode]
    ROLLOUT_MODE_CANARY: _ClassVar[RolloutMode]

class RolloutState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLLOUT_STATE_UNSPECIFIED: _ClassVar[RolloutState]
    ROLLOUT_STATE_RUNNING: _ClassVar[RolloutState]
    ROLLOUT_STATE_PROMOTED: _ClassVar[RolloutState]
    ROLLOUT_STATE_ROLLED_BACK: _ClassVar[RolloutState]
    ROLLOUT_STATE_ABORTED: _ClassVar[RolloutState]

class TrafficArm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAFFIC_ARM_UNSPECIFIED: _ClassVar[TrafficArm]
    TRAFFIC_ARM_PRODUCTION: _ClassVar[TrafficArm]
    TRAFFIC_ARM_CANARY: _ClassVar[TrafficArm]
    TRAFFIC_ARM_SHADOW: _ClassVar[TrafficArm]

class GuardrailDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_DECISION_UNSPECIFIED: _ClassVar[GuardrailDecision]
    GUARDRAIL_DECISION_CONTINUE: _ClassVar[GuardrailDecision]
    GUARDRAIL_DECISION_WORSE: _ClassVar[GuardrailDecision]
    GUARDRAIL_DECISION_NOT_WORSE: _ClassVar[GuardrailDecision]

class RolloutAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLLOUT_ACTION_UNSPECIFIED: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_START: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_NEXT_STAGE: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_SET_WEIGHT: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_ROLL_BACK: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_PROMOTE: _ClassVar[RolloutAction]
    ROLLOUT_ACTION_ABORT: _ClassVar[RolloutAction]
ROLLOUT_MODE_UNSPECIFIED: RolloutMode
ROLLOUT_MODE_SHADOW: RolloutMode
ROLLOUT_MODE_CANARY: RolloutMode
ROLLOUT_STATE_UNSPECIFIED: RolloutState
ROLLOUT_STATE_RUNNING: RolloutState
ROLLOUT_STATE_PROMOTED: RolloutState
ROLLOUT_STATE_ROLLED_BACK: RolloutState
ROLLOUT_STATE_ABORTED: RolloutState
TRAFFIC_ARM_UNSPECIFIED: TrafficArm
TRAFFIC_ARM_PRODUCTION: TrafficArm
TRAFFIC_ARM_CANARY: TrafficArm
TRAFFIC_ARM_SHADOW: TrafficArm
GUARDRAIL_DECISION_UNSPECIFIED: GuardrailDecision
GUARDRAIL_DECISION_CONTINUE: GuardrailDecision
GUARDRAIL_DECISION_WORSE: GuardrailDecision
GUARDRAIL_DECISION_NOT_WORSE: GuardrailDecision
ROLLOUT_ACTION_UNSPECIFIED: RolloutAction
ROLLOUT_ACTION_START: RolloutAction
ROLLOUT_ACTION_NEXT_STAGE: RolloutAction
ROLLOUT_ACTION_SET_WEIGHT: RolloutAction
ROLLOUT_ACTION_ROLL_BACK: RolloutAction
ROLLOUT_ACTION_PROMOTE: RolloutAction
ROLLOUT_ACTION_ABORT: RolloutAction

class RolloutStage(_message.Message):
    __slots__ = ("mode", "weight_percent")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    mode: RolloutMode
    weight_percent: float
    def __init__(self, mode: _Optional[_Union[RolloutMode, str]] = ..., weight_percent: _Optional[float] = ...) -> None: ...

class ArmSummary(_message.Message):
    __slots__ = ("arm", "version", "requests", "scored", "errors", "refusal_rate", "format_valid_rate", "format_checked", "p95_time_to_first_token_seconds", "mean_feedback", "feedback_count")
    ARM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SCORED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_RATE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VALID_RATE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_CHECKED_FIELD_NUMBER: _ClassVar[int]
    P95_TIME_TO_FIRST_TOKEN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    arm: TrafficArm
    version: int
    requests: int
    scored: int
    errors: int
    refusal_rate: float
    format_valid_rate: float
    format_checked: int
    p95_time_to_first_token_seconds: float
    mean_feedback: float
    feedback_count: int
    def __init__(self, arm: _Optional[_Union[TrafficArm, str]] = ..., version: _Optional[int] = ..., requests: _Optional[int] = ..., scored: _Optional[int] = ..., errors: _Optional[int] = ..., refusal_rate: _Optional[float] = ..., format_valid_rate: _Optional[float] = ..., format_checked: _Optional[int] = ..., p95_time_to_first_token_seconds: _Optional[float] = ..., mean_feedback: _Optional[float] = ..., feedback_count: _Optional[int] = ...) -> None: ...

class GuardrailStatus(_message.Message):
    __slots__ = ("name", "metric", "decision", "candidate_count", "incumbent_count", "candidate_mean", "incumbent_mean", "difference", "ci_low", "ci_high", "p_worse", "p_not_worse", "alpha", "min_effect", "higher_is_worse", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_MEAN_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_MEAN_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    P_WORSE_FIELD_NUMBER: _ClassVar[int]
    P_NOT_WORSE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    MIN_EFFECT_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_WORSE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric: str
    decision: GuardrailDecision
    candidate_count: int
    incumbent_count: int
    candidate_mean: float
    incumbent_mean: float
    difference: float
    ci_low: float
    ci_high: float
    p_worse: float
    p_not_worse: float
    alpha: float
    min_effect: float
    higher_is_worse: bool
    required: bool
    def __init__(self, name: _Optional[str] = ..., metric: _Optional[str] = ..., decision: _Optional[_Union[GuardrailDecision, str]] = ..., candidate_count: _Optional[int] = ..., incumbent_count: _Optional[int] = ..., candidate_mean: _Optional[float] = ..., incumbent_mean: _Optional[float] = ..., difference: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., p_worse: _Optional[float] = ..., p_not_worse: _Optional[float] = ..., alpha: _Optional[float] = ..., min_effect: _Optional[float] = ..., higher_is_worse: _Optional[bool] = ..., required: _Optional[bool] = ...) -> None: ...

class LiveCase(_message.Message):
    __slots__ = ("request_id", "arm", "prompt", "reply", "production_reply", "guardrail", "expire_time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_REPLY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    arm: TrafficArm
    prompt: str
    reply: str
    production_reply: str
    guardrail: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., arm: _Optional[_Union[TrafficArm, str]] = ..., prompt: _Optional[str] = ..., reply: _Optional[str] = ..., production_reply: _Optional[str] = ..., guardrail: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RolloutDecision(_message.Message):
    __slots__ = ("action", "reason", "actor", "time", "evidence", "cases", "stage_index", "weight_percent")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    STAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    action: RolloutAction
    reason: str
    actor: str
    time: _timestamp_pb2.Timestamp
    evidence: _containers.RepeatedCompositeFieldContainer[GuardrailStatus]
    cases: _containers.RepeatedCompositeFieldContainer[LiveCase]
    stage_index: int
    weight_percent: float
    def __init__(self, action: _Optional[_Union[RolloutAction, str]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence: _Optional[_Iterable[_Union[GuardrailStatus, _Mapping]]] = ..., cases: _Optional[_Iterable[_Union[LiveCase, _Mapping]]] = ..., stage_index: _Optional[int] = ..., weight_percent: _Optional[float] = ...) -> None: ...

class Rollout(_message.Message):
    __slots__ = ("id", "adapter_name", "incumbent_version", "candidate_version", "state", "mode", "weight_percent", "stages", "stage_index", "sampling_rate", "policy", "evaluation_id", "reason", "create_time", "update_time", "finish_time", "arms", "guardrails", "decisions", "report_json_path", "report_html_path")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    STAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_RATE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_PATH_FIELD_NUMBER: _ClassVar[int]
    REPORT_HTML_PATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    adapter_name: str
    incumbent_version: int
    candidate_version: int
    state: RolloutState
    mode: RolloutMode
    weight_percent: float
    stages: _containers.RepeatedCompositeFieldContainer[RolloutStage]
    stage_index: int
    sampling_rate: float
    policy: str
    evaluation_id: str
    reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    arms: _containers.RepeatedCompositeFieldContainer[ArmSummary]
    guardrails: _containers.RepeatedCompositeFieldContainer[GuardrailStatus]
    decisions: _containers.RepeatedCompositeFieldContainer[RolloutDecision]
    report_json_path: str
    report_html_path: str
    def __init__(self, id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., incumbent_version: _Optional[int] = ..., candidate_version: _Optional[int] = ..., state: _Optional[_Union[RolloutState, str]] = ..., mode: _Optional[_Union[RolloutMode, str]] = ..., weight_percent: _Optional[float] = ..., stages: _Optional[_Iterable[_Union[RolloutStage, _Mapping]]] = ..., stage_index: _Optional[int] = ..., sampling_rate: _Optional[float] = ..., policy: _Optional[str] = ..., evaluation_id: _Optional[str] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., arms: _Optional[_Iterable[_Union[ArmSummary, _Mapping]]] = ..., guardrails: _Optional[_Iterable[_Union[GuardrailStatus, _Mapping]]] = ..., decisions: _Optional[_Iterable[_Union[RolloutDecision, _Mapping]]] = ..., report_json_path: _Optional[str] = ..., report_html_path: _Optional[str] = ...) -> None: ...

class StartRolloutRequest(_message.Message):
    __slots__ = ("adapter", "mode", "weight_percent", "weight_steps", "sampling_rate", "policy", "evaluation_id")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_STEPS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_RATE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    mode: RolloutMode
    weight_percent: float
    weight_steps: _containers.RepeatedScalarFieldContainer[float]
    sampling_rate: float
    policy: str
    evaluation_id: str
    def __init__(self, adapter: _Optional[str] = ..., mode: _Optional[_Union[RolloutMode, str]] = ..., weight_percent: _Optional[float] = ..., weight_steps: _Optional[_Iterable[float]] = ..., sampling_rate: _Optional[float] = ..., policy: _Optional[str] = ..., evaluation_id: _Optional[str] = ...) -> None: ...

class StartRolloutResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class GetRolloutRequest(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: str
    def __init__(self, rollout: _Optional[str] = ...) -> None: ...

class GetRolloutResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class ListRolloutsRequest(_message.Message):
    __slots__ = ("adapter_name", "state", "page_size", "page_token")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    state: RolloutState
    page_size: int
    page_token: str
    def __init__(self, adapter_name: _Optional[str] = ..., state: _Optional[_Union[RolloutState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRolloutsResponse(_message.Message):
    __slots__ = ("rollouts", "next_page_token")
    ROLLOUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rollouts: _containers.RepeatedCompositeFieldContainer[Rollout]
    next_page_token: str
    def __init__(self, rollouts: _Optional[_Iterable[_Union[Rollout, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchRolloutRequest(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: str
    def __init__(self, rollout: _Optional[str] = ...) -> None: ...

class WatchRolloutResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class SetRolloutWeightRequest(_message.Message):
    __slots__ = ("rollout", "weight_percent", "reason")
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    rollout: str
    weight_percent: float
    reason: str
    def __init__(self, rollout: _Optional[str] = ..., weight_percent: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class SetRolloutWeightResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class PromoteRolloutRequest(_message.Message):
    __slots__ = ("rollout", "reason")
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    rollout: str
    reason: str
    def __init__(self, rollout: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PromoteRolloutResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class AbortRolloutRequest(_message.Message):
    __slots__ = ("rollout", "reason")
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    rollout: str
    reason: str
    def __init__(self, rollout: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AbortRolloutResponse(_message.Message):
    __slots__ = ("rollout",)
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    rollout: Rollout
    def __init__(self, rollout: _Optional[_Union[Rollout, _Mapping]] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "score", "thumbs_up", "comment")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    score: float
    thumbs_up: bool
    comment: str
    def __init__(self, request_id: _Optional[str] = ..., score: _Optional[float] = ..., thumbs_up: _Optional[bool] = ..., comment: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("request_id", "adapter", "arm", "rollout_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter: str
    arm: TrafficArm
    rollout_id: str
    def __init__(self, request_id: _Optional[str] = ..., adapter: _Optional[str] = ..., arm: _Optional[_Union[TrafficArm, str]] = ..., rollout_id: _Optional[str] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("request_id", "adapter_name", "version", "arm", "rollout_id", "paired_request_id", "sampled", "prompt", "messages", "reply", "finish_reason", "completion_tokens", "time_to_first_token_seconds", "total_seconds", "error_code", "time")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_ID_FIELD_NUMBER: _ClassVar[int]
    PAIRED_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    adapter_name: str
    version: int
    arm: TrafficArm
    rollout_id: str
    paired_request_id: str
    sampled: bool
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    reply: str
    finish_reason: _inference_pb2.FinishReason
    completion_tokens: int
    time_to_first_token_seconds: float
    total_seconds: float
    error_code: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., version: _Optional[int] = ..., arm: _Optional[_Union[TrafficArm, str]] = ..., rollout_id: _Optional[str] = ..., paired_request_id: _Optional[str] = ..., sampled: _Optional[bool] = ..., prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., reply: _Optional[str] = ..., finish_reason: _Optional[_Union[_inference_pb2.FinishReason, str]] = ..., completion_tokens: _Optional[int] = ..., time_to_first_token_seconds: _Optional[float] = ..., total_seconds: _Optional[float] = ..., error_code: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordObservationsRequest(_message.Message):
    __slots__ = ("observations", "source")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[Observation]
    source: str
    def __init__(self, observations: _Optional[_Iterable[_Union[Observation, _Mapping]]] = ..., source: _Optional[str] = ...) -> None: ...

class RecordObservationsResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...
