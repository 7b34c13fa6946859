"""Training under ``torchrun`` with DistributedDataParallel (gloo on CPU, NCCL on CUDA).

    torchrun --standalone --nproc_per_node 2 -m trainer_service.training.ddp_main --config job.json

``job.json``::

    {"config": {...TrainingConfig fields...}, "base_model_dir": "/models/smollm2",
     "train_path": "train.jsonl", "validation_path": "val.jsonl" (optional), "output_dir": "out/",
     "init_adapter_dir": "/adapters/support-bot/1" (optional: the PEFT adapter of config.init_from)}

DPO (``config.method == "dpo"``) runs the same way on preference data: each rank computes the
reference log-probabilities of every ``world``-th chunk of pairs and an all-reduce gives all of
them to every rank; the step's loss is the mean over its pairs on all ranks.

Scale-out uses torch's own engine (torchrun / a Kubeflow PyTorchJob), not a home-made scheduler.
Every rank reads and tokenizes the same data and shuffles with the same seed, so all ranks agree
on each step's examples without communication; rank ``r`` takes micro-batches ``r, r+world, ...``
of the step (see ``TrainingLoop``), gradients are all-reduced by DDP, and the loss is normalised
by the step's labelled tokens over all ranks — so N ranks × batch b give the same update as one
process with batch b and N accumulation steps. Rank 0 writes checkpoints to
``output_dir/checkpoints`` and ``output_dir/result.json`` (its ``adapter_dir`` is the update to register:
extrapolated beside the checkpoint when the config asks, ``training/extrapolation.py``); every rank writes
``output_dir/rank-<r>.json`` with a checksum of its LoRA weights (equal on all ranks).

No resume: a DDP job writes no resume checkpoints (``training/resume.py`` keeps one process's random
streams, not every rank's) and a restarted torchrun starts again from step 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from trainer_service.data.validation import validate_dataset
from trainer_service.enums import DatasetFormat
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.extrapolation import registered_adapter
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model, load_tokenizer

log = logging.getLogger(__name__)


def lora_checksum(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().abs().sum() for p in model.parameters() if p.requires_grad))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LoRAFleet DDP training worker (run under torchrun)")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    job = json.loads(args.config.read_text())
    config = TrainingConfig.from_dict(job["config"])
    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    out = Path(job["output_dir"])
    try:
        base_dir = Path(job["base_model_dir"])
        tokenizer = load_tokenizer(base_dir)
        validation = Path(job["validation_path"]).read_bytes() if job.get("validation_path") else None
        report = validate_dataset(Path(job["train_path"]).read_bytes(), tokenizer, max_seq_length=config.max_seq_length,
                                  validation_data=validation, fmt=None)
        if not report.valid:
            raise SystemExit("dataset invalid: " + "; ".join(str(i) for i in report.errors()[:10]))
        train, validation = report.train, report.validation
        if config.method == "dpo" and report.format is not DatasetFormat.PREFERENCE:
            raise SystemExit(f"method dpo needs preference data, not {report.format}")
        if config.method != "dpo" and report.format is DatasetFormat.PREFERENCE:  # SFT on the chosen answers
            train, validation = [p.chosen for p in train], [p.chosen for p in validation]
        init = Path(job["init_adapter_dir"]) if job.get("init_adapter_dir") else None
        if config.init_from and init is None:
            raise SystemExit("config.init_from is set: give the adapter's directory as init_adapter_dir")
        model = build_peft_model(base_dir, config, device, init_adapter_dir=init)
        ids = [device.index] if cuda else None

        def wrap(module: torch.nn.Module) -> torch.nn.Module:
            return DistributedDataParallel(module, device_ids=ids)

        def emit(kind: str, payload: dict) -> None:
            if rank == 0 and kind in ("progress", "evaluation"):
                log.info(kind, extra=payload)
                print(json.dumps({"event": kind, **payload}), flush=True)

        loop = TrainingLoop(config, model, tokenizer, device=device,
                            sink=DirCheckpointSink(out / "checkpoints") if rank == 0 else None,
                            emit=emit, rank=rank, world=world, wrap=wrap)
        result = loop.run(train, validation)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "world": world, "steps": result.steps,
                                                           "lora_checksum": lora_checksum(model)}))
        if rank == 0:
            adapter_dir = registered_adapter(config, result.adapter_dir)[0] if result.adapter_dir else None
            (out / "result.json").write_text(json.dumps({
                "adapter_dir": str(adapter_dir) if adapter_dir else "", "steps": result.steps,
                "world_size": world, "metrics": result.metrics}, indent=2))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
