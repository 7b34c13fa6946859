"""Base model provisioning (embedded GGUF → safetensors cache) and its spec/fingerprint."""

from lorafleet.base_model.fingerprint import compute_fingerprint, read_base_model_spec
from lorafleet.base_model.provision import EMBEDDED_NAME, resolve_base_model_dir
from lorafleet.base_model.spec import BaseModelSpec, LinearShape

__all__ = [
    "EMBEDDED_NAME",
    "BaseModelSpec",
    "LinearShape",
    "compute_fingerprint",
    "read_base_model_spec",
    "resolve_base_model_dir",
]
