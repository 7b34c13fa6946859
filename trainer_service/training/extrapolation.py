"""The update a job registers: the trained adapter, or the trained adapter extrapolated by part.

A job with ``extrapolate`` factors other than 1 registers ``W + s·(α/r)·B·A`` instead of
``W + (α/r)·B·A`` (``lorafleet/adapters/extrapolate.py``: the math, and why per part). The scaled copy is
written next to the trained checkpoint, which stays as trained, so the job's validation metrics and its
checkpoint still describe the update the optimizer found. A directory left by a process that died
mid-write is replaced: the copy is a pure function of the checkpoint and the factors.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lorafleet.adapters.extrapolate import extrapolate
from trainer_service.training.config import TrainingConfig

EXTRAPOLATED_DIR = "extrapolated"


def registered_adapter(config: TrainingConfig, trained: Path) -> tuple[Path, str]:
    """(the directory to register, a one-line account of what was done to it) for the adapter in ``trained``."""
    factors = config.extrapolation
    if factors is None:
        return trained, ""
    target = trained.parent / EXTRAPOLATED_DIR
    shutil.rmtree(target, ignore_errors=True)
    touched = extrapolate(trained, target, factors)
    return target, (f"update extrapolated before registering: MLP x{factors.mlp:g} ({touched['mlp']} modules), "
                    f"attention x{factors.attention:g} ({touched['attention']} modules)")
