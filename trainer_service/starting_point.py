"""Where a job's adapter starts: fresh, or an existing version (``init_from``), e.g. SFT -> DPO.

Why a module of its own: a reference such as ``support-bot@production`` names whatever version the
alias points at *now*. A job is created once but may run later (queued, or re-queued after a
restart), so ``resolve`` pins the reference to ``name@version`` when the job is created, checks
that the version was trained on the served base model, and copies its LoRA shape (rank, alpha,
target modules, rsLoRA) into the job's configuration: the job continues *that* adapter, whatever
LoRA block the request carried. The job's dropout still applies. For DPO the same version is the
reference model (``training/dpo.py``). A version registered extrapolated (``extrapolate``) is continued from
its trained update, its recorded factors divided out (``training/model.py``), so factors never compound.
"""

from __future__ import annotations

from pathlib import Path

from lorafleet.base_model import BaseModelSpec
from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.refs import parse_versioned_ref
from lorafleet.registry.store import Registry
from trainer_service.training.config import TrainingConfig


def resolve(registry: Registry, config: TrainingConfig, spec: BaseModelSpec) -> TrainingConfig:
    """``config`` with ``init_from`` pinned to ``name@version`` and that adapter's LoRA shape; unchanged when
    it starts fresh. NotFound / FailedPrecondition name the field ``init_from``."""
    if not config.init_from:
        return config
    try:
        version = registry.resolve(config.init_from)
    except (NotFound, InvalidArgument) as exc:
        raise type(exc)(exc.message, field="init_from") from exc
    if version.base_fingerprint != spec.fingerprint:
        raise FailedPrecondition(f"{version.ref} was trained on another base model (fingerprint "
                                 f"{version.base_fingerprint[:12]}, served {spec.fingerprint[:12]})", field="init_from")
    lora = version.lora
    targets = tuple(version.resolved_target_modules) or tuple(lora.target_modules)
    return config.model_copy(update={"init_from": version.ref, "r": lora.r, "alpha": float(lora.alpha),
                                     "target_modules": targets, "use_rslora": lora.use_rslora})


def adapter_dir(registry: Registry, config: TrainingConfig) -> Path | None:
    """The artifact directory of the pinned ``init_from`` version; None for a fresh adapter."""
    if not config.init_from:
        return None
    ref = parse_versioned_ref(config.init_from, field="init_from")
    return Path(registry.get_version(ref.name, ref.version).artifact_path)
