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

class DatasetFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_FORMAT_UNSPECIFIED: _ClassVar[DatasetFormat]
    DATASET_FORMAT_CHAT: _ClassVar[DatasetFormat]
    DATASET_FORMAT_PROMPT_COMPLETION: _ClassVar[DatasetFormat]
    DATASET_FORMAT_TEXT: _ClassVar[DatasetFormat]
    DATASET_FORMAT_PREFERENCE: _ClassVar[DatasetFormat]

class TrainingMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_METHOD_UNSPECIFIED: _ClassVar[TrainingMethod]
    TRAINING_METHOD_SFT: _ClassVar[TrainingMethod]
    TRAINING_METHOD_DPO: _ClassVar[TrainingMethod]

class DpoLossType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DPO_LOSS_TYPE_UNSPECIFIED: _ClassVar[DpoLossType]
    DPO_LOSS_TYPE_SIGMOID: _ClassVar[DpoLossType]
    DPO_LOSS_TYPE_IPO: _ClassVar[DpoLossType]
    DPO_LOSS_TYPE_ROBUST: _ClassVar[DpoLossType]

class PreferenceMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PREFERENCE_METRIC_UNSPECIFIED: _ClassVar[PreferenceMetric]
    PREFERENCE_METRIC_LOSS: _ClassVar[PreferenceMetric]
    PREFERENCE_METRIC_MARGIN: _ClassVar[PreferenceMetric]

class AdapterMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADAPTER_METHOD_UNSPECIFIED: _ClassVar[AdapterMethod]
    ADAPTER_METHOD_LORA: _ClassVar[AdapterMethod]
    ADAPTER_METHOD_QLORA: _ClassVar[AdapterMethod]

class LrScheduler(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LR_SCHEDULER_UNSPECIFIED: _ClassVar[LrScheduler]
    LR_SCHEDULER_LINEAR: _ClassVar[LrScheduler]
    LR_SCHEDULER_COSINE: _ClassVar[LrScheduler]
    LR_SCHEDULER_CONSTANT: _ClassVar[LrScheduler]

class ComputeDtype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPUTE_DTYPE_UNSPECIFIED: _ClassVar[ComputeDtype]
    COMPUTE_DTYPE_FLOAT32: _ClassVar[ComputeDtype]
    COMPUTE_DTYPE_BFLOAT16: _ClassVar[ComputeDtype]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_VALIDATING: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class IssueSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUE_SEVERITY_UNSPECIFIED: _ClassVar[IssueSeverity]
    ISSUE_SEVERITY_ERROR: _ClassVar[IssueSeverity]
    ISSUE_SEVERITY_WARNING: _ClassVar[IssueSeverity]

class TrainingEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_EVENT_TYPE_UNSPECIFIED: _ClassVar[TrainingEventType]
    TRAINING_EVENT_TYPE_STATE_CHANGED: _ClassVar[TrainingEventType]
    TRAINING_EVENT_TYPE_PROGRESS: _ClassVar[TrainingEventType]
    TRAINING_EVENT_TYPE_EVALUATION: _ClassVar[TrainingEventType]
    TRAINING_EVENT_TYPE_CHECKPOINT_SAVED: _ClassVar[TrainingEventType]
    TRAINING_EVENT_TYPE_LOG: _ClassVar[TrainingEventType]
DATASET_FORMAT_UNSPECIFIED: DatasetFormat
DATASET_FORMAT_CHAT: DatasetFormat
DATASET_FORMAT_PROMPT_COMPLETION: DatasetFormat
DATASET_FORMAT_TEXT: DatasetFormat
DATASET_FORMAT_PREFERENCE: DatasetFormat
TRAINING_METHOD_UNSPECIFIED: TrainingMethod
TRAINING_METHOD_SFT: TrainingMethod
TRAINING_METHOD_DPO: TrainingMethod
DPO_LOSS_TYPE_UNSPECIFIED: DpoLossType
DPO_LOSS_TYPE_SIGMOID: DpoLossType
DPO_LOSS_TYPE_IPO: DpoLossType
DPO_LOSS_TYPE_ROBUST: DpoLossType
PREFERENCE_METRIC_UNSPECIFIED: PreferenceMetric
PREFERENCE_METRIC_LOSS: PreferenceMetric
PREFERENCE_METRIC_MARGIN: PreferenceMetric
ADAPTER_METHOD_UNSPECIFIED: AdapterMethod
ADAPTER_METHOD_LORA: AdapterMethod
ADAPTER_METHOD_QLORA: AdapterMethod
LR_SCHEDULER_UNSPECIFIED: LrScheduler
LR_SCHEDULER_LINEAR: LrScheduler
LR_SCHEDULER_COSINE: LrScheduler
LR_SCHEDULER_CONSTANT: LrScheduler
COMPUTE_DTYPE_UNSPECIFIED: ComputeDtype
COMPUTE_DTYPE_FLOAT32: ComputeDtype
COMPUTE_DTYPE_BFLOAT16: ComputeDtype
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_VALIDATING: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
ISSUE_SEVERITY_UNSPECIFIED: IssueSeverity
ISSUE_SEVERITY_ERROR: IssueSeverity
ISSUE_SEVERITY_WARNING: IssueSeverity
TRAINING_EVENT_TYPE_UNSPECIFIED: TrainingEventType
TRAINING_EVENT_TYPE_STATE_CHANGED: TrainingEventType
TRAINING_EVENT_TYPE_PROGRESS: TrainingEventType
TRAINING_EVENT_TYPE_EVALUATION: TrainingEventType
TRAINING_EVENT_TYPE_CHECKPOINT_SAVED: TrainingEventType
TRAINING_EVENT_TYPE_LOG: TrainingEventType

class DatasetMetadata(_message.Message):
    __slots__ = ("filename", "format", "sha256")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    filename: str
    format: DatasetFormat
    sha256: str
    def __init__(self, filename: _Optional[str] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: DatasetMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[DatasetMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("id", "filename", "sha256", "size_bytes", "num_examples", "format", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    NUM_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    filename: str
    sha256: str
    size_bytes: int
    num_examples: int
    format: DatasetFormat
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., filename: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., num_examples: _Optional[int] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadDatasetResponse(_message.Message):
    __slots__ = ("dataset",)
    DATASET_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class ValidateDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "path", "format", "validation_dataset_id", "validation_path", "max_seq_length")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_PATH_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    path: str
    format: DatasetFormat
    validation_dataset_id: str
    validation_path: str
    max_seq_length: int
    def __init__(self, dataset_id: _Optional[str] = ..., path: _Optional[str] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., validation_dataset_id: _Optional[str] = ..., validation_path: _Optional[str] = ..., max_seq_length: _Optional[int] = ...) -> None: ...

class DatasetIssue(_message.Message):
    __slots__ = ("line", "severity", "code", "message", "file")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    line: int
    severity: IssueSeverity
    code: str
    message: str
    file: str
    def __init__(self, line: _Optional[int] = ..., severity: _Optional[_Union[IssueSeverity, str]] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., file: _Optional[str] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("num_examples", "total_tokens", "max_tokens", "mean_tokens", "format", "duplicates")
    NUM_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    num_examples: int
    total_tokens: int
    max_tokens: int
    mean_tokens: float
    format: DatasetFormat
    duplicates: int
    def __init__(self, num_examples: _Optional[int] = ..., total_tokens: _Optional[int] = ..., max_tokens: _Optional[int] = ..., mean_tokens: _Optional[float] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., duplicates: _Optional[int] = ...) -> None: ...

class ValidateDatasetResponse(_message.Message):
    __slots__ = ("valid", "issues", "stats", "validation_stats")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_STATS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    issues: _containers.RepeatedCompositeFieldContainer[DatasetIssue]
    stats: DatasetStats
    validation_stats: DatasetStats
    def __init__(self, valid: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[DatasetIssue, _Mapping]]] = ..., stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., validation_stats: _Optional[_Union[DatasetStats, _Mapping]] = ...) -> None: ...

class Hyperparameters(_message.Message):
    __slots__ = ("epochs", "batch_size", "gradient_accumulation_steps", "learning_rate", "lr_scheduler", "warmup_ratio", "warmup_steps", "max_seq_length", "seed", "packing", "eval_every_steps", "early_stopping_patience", "weight_decay", "max_steps", "gradient_checkpointing", "compute_dtype", "answer_start_weight", "answer_start_tokens", "anchor_weight")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    WARMUP_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PACKING_FIELD_NUMBER: _ClassVar[int]
    EVAL_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_PATIENCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_CHECKPOINTING_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_DTYPE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_START_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_START_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    lr_scheduler: LrScheduler
    warmup_ratio: float
    warmup_steps: int
    max_seq_length: int
    seed: int
    packing: bool
    eval_every_steps: int
    early_stopping_patience: int
    weight_decay: float
    max_steps: int
    gradient_checkpointing: bool
    compute_dtype: ComputeDtype
    answer_start_weight: float
    answer_start_tokens: int
    anchor_weight: float
    def __init__(self, epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., gradient_accumulation_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., lr_scheduler: _Optional[_Union[LrScheduler, str]] = ..., warmup_ratio: _Optional[float] = ..., warmup_steps: _Optional[int] = ..., max_seq_length: _Optional[int] = ..., seed: _Optional[int] = ..., packing: _Optional[bool] = ..., eval_every_steps: _Optional[int] = ..., early_stopping_patience: _Optional[int] = ..., weight_decay: _Optional[float] = ..., max_steps: _Optional[int] = ..., gradient_checkpointing: _Optional[bool] = ..., compute_dtype: _Optional[_Union[ComputeDtype, str]] = ..., answer_start_weight: _Optional[float] = ..., answer_start_tokens: _Optional[int] = ..., anchor_weight: _Optional[float] = ...) -> None: ...

class DpoConfig(_message.Message):
    __slots__ = ("beta", "loss_type", "label_smoothing", "sft_weight", "best_metric")
    BETA_FIELD_NUMBER: _ClassVar[int]
    LOSS_TYPE_FIELD_NUMBER: _ClassVar[int]
    LABEL_SMOOTHING_FIELD_NUMBER: _ClassVar[int]
    SFT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    BEST_METRIC_FIELD_NUMBER: _ClassVar[int]
    beta: float
    loss_type: DpoLossType
    label_smoothing: float
    sft_weight: float
    best_metric: PreferenceMetric
    def __init__(self, beta: _Optional[float] = ..., loss_type: _Optional[_Union[DpoLossType, str]] = ..., label_smoothing: _Optional[float] = ..., sft_weight: _Optional[float] = ..., best_metric: _Optional[_Union[PreferenceMetric, str]] = ...) -> None: ...

class Extrapolation(_message.Message):
    __slots__ = ("mlp", "attention")
    MLP_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_FIELD_NUMBER: _ClassVar[int]
    mlp: float
    attention: float
    def __init__(self, mlp: _Optional[float] = ..., attention: _Optional[float] = ...) -> None: ...

class CreateTrainingJobRequest(_message.Message):
    __slots__ = ("adapter_name", "method", "adapter_method", "lora", "hyperparameters", "training_dataset_id", "training_dataset_path", "validation_dataset_id", "validation_dataset_path", "validation_split", "dataset_format", "description", "dpo", "init_from", "extrapolate")
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_METHOD_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATASET_PATH_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_PATH_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    DATASET_FORMAT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DPO_FIELD_NUMBER: _ClassVar[int]
    INIT_FROM_FIELD_NUMBER: _ClassVar[int]
    EXTRAPOLATE_FIELD_NUMBER: _ClassVar[int]
    adapter_name: str
    method: TrainingMethod
    adapter_method: AdapterMethod
    lora: _common_pb2.LoraConfig
    hyperparameters: Hyperparameters
    training_dataset_id: str
    training_dataset_path: str
    validation_dataset_id: str
    validation_dataset_path: str
    validation_split: float
    dataset_format: DatasetFormat
    description: str
    dpo: DpoConfig
    init_from: str
    extrapolate: Extrapolation
    def __init__(self, adapter_name: _Optional[str] = ..., method: _Optional[_Union[TrainingMethod, str]] = ..., adapter_method: _Optional[_Union[AdapterMethod, str]] = ..., lora: _Optional[_Union[_common_pb2.LoraConfig, _Mapping]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., training_dataset_id: _Optional[str] = ..., training_dataset_path: _Optional[str] = ..., validation_dataset_id: _Optional[str] = ..., validation_dataset_path: _Optional[str] = ..., validation_split: _Optional[float] = ..., dataset_format: _Optional[_Union[DatasetFormat, str]] = ..., description: _Optional[str] = ..., dpo: _Optional[_Union[DpoConfig, _Mapping]] = ..., init_from: _Optional[str] = ..., extrapolate: _Optional[_Union[Extrapolation, _Mapping]] = ...) -> None: ...

class CreateTrainingJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: TrainingJob
    def __init__(self, job: _Optional[_Union[TrainingJob, _Mapping]] = ...) -> None: ...

class TrainingProgress(_message.Message):
    __slots__ = ("step", "total_steps", "epoch", "train_loss", "learning_rate", "tokens_per_second", "eta_seconds", "tokens_trained", "elapsed_seconds", "preference")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_TRAINED_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    epoch: float
    train_loss: float
    learning_rate: float
    tokens_per_second: float
    eta_seconds: float
    tokens_trained: int
    elapsed_seconds: float
    preference: PreferenceMetrics
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., epoch: _Optional[float] = ..., train_loss: _Optional[float] = ..., learning_rate: _Optional[float] = ..., tokens_per_second: _Optional[float] = ..., eta_seconds: _Optional[float] = ..., tokens_trained: _Optional[int] = ..., elapsed_seconds: _Optional[float] = ..., preference: _Optional[_Union[PreferenceMetrics, _Mapping]] = ...) -> None: ...

class PreferenceMetrics(_message.Message):
    __slots__ = ("rewards_chosen", "rewards_rejected", "reward_margin", "reward_accuracy")
    REWARDS_CHOSEN_FIELD_NUMBER: _ClassVar[int]
    REWARDS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    REWARD_MARGIN_FIELD_NUMBER: _ClassVar[int]
    REWARD_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    rewards_chosen: float
    rewards_rejected: float
    reward_margin: float
    reward_accuracy: float
    def __init__(self, rewards_chosen: _Optional[float] = ..., rewards_rejected: _Optional[float] = ..., reward_margin: _Optional[float] = ..., reward_accuracy: _Optional[float] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("step", "train_loss", "validation_loss", "validation_token_accuracy", "path", "create_time", "best", "validation_preference")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_LOSS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_TOKEN_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    step: int
    train_loss: float
    validation_loss: float
    validation_token_accuracy: float
    path: str
    create_time: _timestamp_pb2.Timestamp
    best: bool
    validation_preference: PreferenceMetrics
    def __init__(self, step: _Optional[int] = ..., train_loss: _Optional[float] = ..., validation_loss: _Optional[float] = ..., validation_token_accuracy: _Optional[float] = ..., path: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best: _Optional[bool] = ..., validation_preference: _Optional[_Union[PreferenceMetrics, _Mapping]] = ...) -> None: ...

class TrainingJob(_message.Message):
    __slots__ = ("id", "adapter_name", "state", "config", "progress", "checkpoints", "adapter_version", "error", "metrics", "dataset_sha256", "create_time", "start_time", "finish_time")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISH_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    adapter_name: str
    state: JobState
    config: CreateTrainingJobRequest
    progress: TrainingProgress
    checkpoints: _containers.RepeatedCompositeFieldContainer[Checkpoint]
    adapter_version: int
    error: str
    metrics: _containers.ScalarMap[str, float]
    dataset_sha256: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    finish_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., adapter_name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., config: _Optional[_Union[CreateTrainingJobRequest, _Mapping]] = ..., progress: _Optional[_Union[TrainingProgress, _Mapping]] = ..., checkpoints: _Optional[_Iterable[_Union[Checkpoint, _Mapping]]] = ..., adapter_version: _Optional[int] = ..., error: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., dataset_sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTrainingJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetTrainingJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: TrainingJob
    def __init__(self, job: _Optional[_Union[TrainingJob, _Mapping]] = ...) -> None: ...

class ListTrainingJobsRequest(_message.Message):
    __slots__ = ("state", "adapter_name", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    adapter_name: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., adapter_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrainingJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[TrainingJob]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[TrainingJob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelTrainingJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelTrainingJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: TrainingJob
    def __init__(self, job: _Optional[_Union[TrainingJob, _Mapping]] = ...) -> None: ...

class TrainingEvent(_message.Message):
    __slots__ = ("sequence", "time", "type", "state", "progress", "checkpoint", "message")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    type: TrainingEventType
    state: JobState
    progress: TrainingProgress
    checkpoint: Checkpoint
    message: str
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[_Union[TrainingEventType, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[TrainingProgress, _Mapping]] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class WatchTrainingJobRequest(_message.Message):
    __slots__ = ("job_id", "after_sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_sequence: int
    def __init__(self, job_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchTrainingJobResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: TrainingEvent
    def __init__(self, event: _Optional[_Union[TrainingEvent, _Mapping]] = ...) -> None: ...
