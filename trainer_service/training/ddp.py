"""Launch helper for DDP training: writes the job file and the torchrun command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainer_service.training.config import TrainingConfig


def write_job_file(path: Path, config: TrainingConfig, *, base_model_dir: Path, train_path: Path,
                   output_dir: Path, validation_path: Path | None = None, init_adapter_dir: Path | None = None) -> Path:
    """``init_adapter_dir``: the PEFT directory of ``config.init_from`` (a registry version's artifact path)."""
    path.write_text(json.dumps({"config": config.model_dump(mode="json"), "base_model_dir": str(base_model_dir),
                                "train_path": str(train_path), "output_dir": str(output_dir),
                                "validation_path": str(validation_path) if validation_path else "",
                                "init_adapter_dir": str(init_adapter_dir) if init_adapter_dir else ""}, indent=2))
    return path


def torchrun_command(job_file: Path, *, nproc_per_node: int, nnodes: int = 1) -> list[str]:
    """``torchrun`` as ``python -m torch.distributed.run`` (same interpreter, no PATH lookup)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc_per_node}"]
    cmd += ["--standalone"] if nnodes == 1 else [f"--nnodes={nnodes}"]
    return cmd + ["-m", "trainer_service.training.ddp_main", "--config", str(job_file)]
