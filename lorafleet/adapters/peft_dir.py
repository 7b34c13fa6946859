"""Inspection of a PEFT LoRA adapter directory against the served base model.

Only what LoRAFleet can serve is accepted: plain LoRA (``peft_type`` LORA) on linear layers,
stored as ``adapter_model.safetensors`` (a pickle ``adapter_model.bin`` can run code when
loaded, so it is refused). For every targeted module ``m`` with base weight ``W`` of shape
``[out, in]`` the file must hold ``lora_A`` of shape ``[r, in]`` and ``lora_B`` of shape
``[out, r]``, so that ``W' = W + s·B·A`` is well defined. Only the safetensors header is read
(no tensor data), so inspection is cheap even for large adapters.

Errors: malformed or unsupported adapters are InvalidArgument (field ``path``); an adapter made
for another base (a module the base does not have, or shapes that do not fit) is
FailedPrecondition. ``base_model_name_or_path`` in the config is informative only.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from lorafleet.adapters.lora import MAX_LORA_ALPHA, MAX_LORA_RANK, LoraSpec, split_weight_name
from lorafleet.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:  # importing lorafleet.base_model pulls in torch; the registry does not need it
    from lorafleet.base_model.spec import BaseModelSpec

log = logging.getLogger(__name__)

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PICKLE_WEIGHTS_FILE = "adapter_model.bin"
# Config features whose weights we could not apply with W + s·B·A on linear layers.
_UNSUPPORTED_FLAGS = {
    "use_dora": "DoRA (use_dora) adds a magnitude vector the LoRA bank does not apply",
    "lora_bias": "lora_bias adds a bias to lora_B the LoRA bank does not apply",
    "use_qalora": "QALoRA adapters are not servable",
}


@dataclass(frozen=True)
class AdapterInspection:
    """What an adapter directory holds, after it was checked against a base."""

    path: Path
    lora: LoraSpec
    resolved_target_modules: tuple[str, ...]  # full module paths carrying LoRA weights, sorted
    num_parameters: int
    size_bytes: int
    files: tuple[str, ...]
    base_model_name_or_path: str | None


def _invalid(path: Path, reason: str) -> InvalidArgument:
    return InvalidArgument(f"{path}: {reason}", field="path")


def _mismatch(path: Path, reason: str, base: BaseModelSpec) -> FailedPrecondition:
    return FailedPrecondition(
        f"{path}: adapter does not fit the served base model {base.name!r} ({base.model_type}, "
        f"fingerprint {base.fingerprint[:19]}): {reason}",
        field="path",
    )


def read_adapter_config(path: Path) -> dict[str, Any]:
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise _invalid(path, f"no {CONFIG_FILE}; not a PEFT adapter directory")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _invalid(path, f"{CONFIG_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise _invalid(path, f"{CONFIG_FILE} must hold a JSON object")
    return cfg


def _refuse_unsupported(path: Path, cfg: dict[str, Any]) -> None:
    """InvalidArgument for PEFT features one shared base with a LoRA bank cannot serve."""
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise _invalid(path, f"peft_type {peft_type!r} is not supported; only LoRA adapters can be served")
    for key, why in _UNSUPPORTED_FLAGS.items():
        if cfg.get(key):
            raise _invalid(path, f"{why}; retrain without {key}")
    if cfg.get("modules_to_save"):
        raise _invalid(
            path,
            f"modules_to_save={cfg['modules_to_save']!r} replaces whole base modules per adapter, which one "
            "shared base cannot serve to many adapters at once; retrain without modules_to_save",
        )
    if cfg.get("trainable_token_indices"):
        raise _invalid(path, "trainable_token_indices changes embedding rows, which the LoRA bank cannot serve")
    if cfg.get("target_parameters"):
        raise _invalid(path, "target_parameters (LoRA on raw parameters) is not supported; target linear modules")
    for key in ("rank_pattern", "alpha_pattern"):
        if cfg.get(key):
            raise _invalid(path, f"{key} (per-module ranks or alphas) is not supported; use one r and lora_alpha")


def _target_modules(path: Path, targets: Any) -> tuple[str, ...]:
    if isinstance(targets, str):
        return (targets,)
    if isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets):
        # PEFT may save resolved full paths (e.g. for all-linear); keep the short names.
        return tuple(sorted({t.rsplit(".", 1)[-1] for t in targets}))
    raise _invalid(path, f"target_modules must be a string or a non-empty list of strings, got {targets!r}")


def lora_spec_from_config(path: Path, cfg: dict[str, Any]) -> LoraSpec:
    """Read r/alpha/dropout/targets/rslora, refusing PEFT features we cannot serve."""
    _refuse_unsupported(path, cfg)
    try:
        r = int(cfg["r"])
        alpha = float(cfg.get("lora_alpha", r))
        dropout = float(cfg.get("lora_dropout", 0.0) or 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid(path, f"{CONFIG_FILE} needs an integer 'r' and numeric 'lora_alpha': {exc}") from exc
    if not 1 <= r <= MAX_LORA_RANK:
        raise _invalid(path, f"r must be in [1, {MAX_LORA_RANK}], got {r}")
    if not (math.isfinite(alpha) and 0 < alpha <= MAX_LORA_ALPHA):
        raise _invalid(path, f"lora_alpha must be a finite number in (0, {MAX_LORA_ALPHA:g}], got {alpha:g}")
    targets = _target_modules(path, cfg.get("target_modules"))
    return LoraSpec(r=r, alpha=alpha, dropout=dropout, target_modules=targets,
                    use_rslora=bool(cfg.get("use_rslora", False)))


def _read_tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        if (path / PICKLE_WEIGHTS_FILE).exists():
            raise _invalid(
                path,
                f"{PICKLE_WEIGHTS_FILE} is a pickle file (loading it can run arbitrary code); only safetensors "
                "adapters are accepted — save with save_pretrained(..., safe_serialization=True) "
                f"to get {WEIGHTS_FILE}",
            )
        raise _invalid(path, f"no {WEIGHTS_FILE}")
    try:
        with safe_open(str(weights), framework="pt") as st:
            # safe_open has keys() but is not iterable, so SIM118's `for key in st` would fail
            return {key: tuple(st.get_slice(key).get_shape()) for key in st.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise _invalid(path, f"{WEIGHTS_FILE} is not a readable safetensors file: {exc}") from exc


def _lora_pairs(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, dict[str, tuple[int, ...]]]:
    """Group the tensor shapes by module (``{module: {"A": shape, "B": shape}}``); anything else is refused."""
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    unexpected: list[str] = []
    for key, shape in shapes.items():
        split = split_weight_name(key)
        if split is None:
            unexpected.append(key)
            continue
        module, which = split
        pairs.setdefault(module, {})[which] = shape
    if unexpected:
        embed = [k for k in unexpected if "lora_embedding" in k or "modules_to_save" in k or "trainable_tokens" in k]
        if embed:
            raise _invalid(path, f"holds embedding/modules_to_save weights the LoRA bank cannot serve: {embed[:3]}")
        raise _invalid(path, f"holds tensors that are not LoRA linear weights: {sorted(unexpected)[:5]}")
    if not pairs:
        raise _invalid(path, f"{WEIGHTS_FILE} holds no LoRA tensors (*.lora_A.weight / *.lora_B.weight)")
    return pairs


def _check_module(path: Path, module: str, pair: dict[str, tuple[int, ...]], lora: LoraSpec,
                  base_spec: BaseModelSpec) -> int:
    """Check one module's lora_A / lora_B against the base and the config; returns its parameter count."""
    if set(pair) != {"A", "B"}:
        missing = "lora_B" if "A" in pair else "lora_A"
        raise _invalid(path, f"module {module} has no {missing} weight")
    a, b = pair["A"], pair["B"]
    if len(a) != 2 or len(b) != 2:
        raise _invalid(path, f"module {module}: lora_A {list(a)} and lora_B {list(b)} must be matrices")
    if module not in base_spec.linear_modules:
        raise _mismatch(path, f"the base has no linear module {module!r} (adapter targets another architecture)",
                        base_spec)
    short = module.rsplit(".", 1)[-1]
    expect = base_spec.linear_shapes[short]
    if a[1] != expect.in_features or b[0] != expect.out_features:
        raise _mismatch(
            path,
            f"module {module}: lora_A {list(a)} / lora_B {list(b)} need [r, {expect.in_features}] / "
            f"[{expect.out_features}, r] for this base",
            base_spec,
        )
    if a[0] != lora.r or b[1] != lora.r:
        raise _invalid(path, f"module {module}: rank mismatch, lora_A {list(a)} / lora_B {list(b)} "
                             f"but r={lora.r} in {CONFIG_FILE}")
    return a[0] * a[1] + b[0] * b[1]


def _adapter_files(path: Path) -> tuple[str, ...]:
    """Regular top-level files only: subdirectories (checkpoints) are not part of the adapter, and
    symlinks are followed only for the two files that define it."""
    return tuple(sorted(p.name for p in path.iterdir() if not p.name.startswith(".") and p.is_file()
                        and (not p.is_symlink() or p.name in (CONFIG_FILE, WEIGHTS_FILE))))


def inspect_adapter(path: Path, base_spec: BaseModelSpec) -> AdapterInspection:
    """Validate the PEFT adapter in ``path`` against ``base_spec``; see the module docstring."""
    path = Path(path)
    if not path.is_dir():
        raise _invalid(path, "does not exist or is not a directory")
    cfg = read_adapter_config(path)
    lora = lora_spec_from_config(path, cfg)
    pairs = _lora_pairs(path, _read_tensor_shapes(path))
    num_params = sum(_check_module(path, module, pairs[module], lora, base_spec) for module in sorted(pairs))
    if cfg.get("fan_in_fan_out"):  # checked after the modules: a GPT-2 adapter is a base mismatch first
        raise _invalid(path, "fan_in_fan_out=true stores transposed (Conv1D) weights; this base has nn.Linear layers")
    files = _adapter_files(path)
    size = sum((path / f).stat().st_size for f in files)
    return AdapterInspection(
        path=path,
        lora=lora,
        resolved_target_modules=tuple(sorted(pairs)),
        num_parameters=num_params,
        size_bytes=size,
        files=files,
        base_model_name_or_path=cfg.get("base_model_name_or_path"),
    )
