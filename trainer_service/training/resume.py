"""Resume checkpoints: everything a training run needs to continue after its process died.

Why a module of its own: the best-adapter checkpoints (``checkpoints.py``) hold only the LoRA
weights, which is what gets registered. Continuing a run so that it ends where an uninterrupted
one would needs more: the optimizer's moments and step counts, the random streams, the position
in the data order and the loop's bookkeeping (best score, early-stopping count, metric history).

Layout of one checkpoint, ``<root>/step-<NNNNNN>/``:

- ``lora.safetensors``: the trainable (LoRA) parameters by name;
- ``optimizer.safetensors``: AdamW's per-parameter state (``exp_avg``, ``exp_avg_sq``, ``step``)
  as ``<index>.<key>``; its param-group settings are in ``state.json``;
- ``rng.safetensors``: torch's CPU generator state (and each CUDA device's, when present);
- ``state.json``: the loop's bookkeeping (step, epoch, seed, best score, ...), the optimizer's param
  groups, Python's ``random`` and NumPy's global state, and every fast LoRA-dropout generator's state;
- ``manifest.json``: format version, and every file's size and SHA-256.

No pickle anywhere: tensors in safetensors, the rest in JSON. There is no LR-scheduler state to
keep: the learning rate is a pure function of the step (``config.lr_at``). The data order is not
stored either: it is re-derived from the seed (one shuffle per epoch), and the checkpoint records
the seed, the epoch length and the dataset size so a resume refuses data that changed.

Atomicity: a checkpoint is written into a dot-prefixed temp directory, fsynced and renamed to its
final name, so a kill -9 mid-write leaves at most a temp directory, which is ignored and removed
later. ``latest`` returns the newest complete-looking checkpoint; ``load`` checks the manifest
(format version, sizes, checksums) and raises :class:`CheckpointError` naming the checkpoint and
the problem; ``restore`` adds name and shape checks against the model being resumed.

Frequency (``ResumeSettings``): every ``every_steps`` optimizer steps or ``every_seconds`` seconds,
whichever comes first, plus whenever a new best adapter is saved; only the newest ``keep`` are
kept. Settings ``LORAFLEET_TRAINER_RESUME_EVERY_STEPS``, ``..._EVERY_SECONDS`` and ``..._KEEP``
(``lorafleet.config``) change the defaults.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lorafleet.registry.artifacts import fsync_path, fsync_tree
from trainer_service.training.dropout import FastMaskDropout

if TYPE_CHECKING:
    from torch import nn

    from lorafleet.config import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST, STATE = "manifest.json", "state.json"
WEIGHTS, OPTIMIZER, RNG = "lora.safetensors", "optimizer.safetensors", "rng.safetensors"
FILES = (STATE, WEIGHTS, OPTIMIZER, RNG)
TEMP_PREFIX = ".resume-tmp-"
_NAME = re.compile(r"^step-(\d{6,})$")


class CheckpointError(Exception):
    """A resume checkpoint that cannot be used; the message names the checkpoint and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"resume checkpoint {path} is unusable: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class ResumeSettings:
    """How often a run writes a resume checkpoint, and how many it keeps."""

    every_steps: int = 25
    every_seconds: float = 60.0
    keep: int = 2

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ResumeSettings:
        """``LORAFLEET_TRAINER_RESUME_*`` (``lorafleet.config``); ``settings`` read from the environment when None."""
        from lorafleet.config import Settings

        s = settings if settings is not None else Settings()
        return cls(s.trainer_resume_every_steps, s.trainer_resume_every_seconds, s.trainer_resume_keep)


@dataclass
class ResumeState:
    """A loaded, checked checkpoint: ``loop`` is ``state.json``'s bookkeeping."""

    path: Path
    step: int
    loop: dict[str, Any]
    lora: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    json_state: dict[str, Any]


# -- where they are ------------------------------------------------------------------------------
def checkpoint_dirs(root: Path) -> list[Path]:
    """The complete-named checkpoints under ``root``, oldest first (temp directories are not among them)."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest(root: Path) -> Path | None:
    """The newest checkpoint under ``root``, or None; abandoned temp directories are removed."""
    remove_temp(root)
    dirs = checkpoint_dirs(root)
    return dirs[-1] if dirs else None


def remove_temp(root: Path) -> None:
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(TEMP_PREFIX):
                shutil.rmtree(p, ignore_errors=True)
                log.info("removed a half-written resume checkpoint", extra={"path": str(p)})


def prune(root: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints under ``root``."""
    for old in checkpoint_dirs(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


# -- writing ---------------------------------------------------------------------------------------
def _rng_json(model: nn.Module) -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state()
    dropout = {name: _plain(m._bits.state) for name, m in model.named_modules() if isinstance(m, FastMaskDropout)}
    return {"python_random": [version, list(mt), gauss],
            "numpy": [np_state[0], np_state[1].tolist(), *[_plain(x) for x in np_state[2:]]],
            "dropout": dropout}


def _plain(value: Any) -> Any:
    """NumPy values as plain JSON values (uint64 generator words as Python ints)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [int(x) for x in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {f"{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous()
               for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, json.loads(json.dumps(sd["param_groups"]))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write(root: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, loop: dict[str, Any]) -> Path:
    """Write the checkpoint of ``step`` under ``root`` atomically; returns its final path."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{final.name}-", dir=root))
    try:
        lora = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(lora, str(tmp / WEIGHTS))
        opt_tensors, groups = _optimizer_parts(optimizer)
        save_file(opt_tensors, str(tmp / OPTIMIZER))
        rng = {"torch_cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        save_file(rng, str(tmp / RNG))
        state = {"step": step, "loop": loop, "optimizer_param_groups": groups, "rng": _rng_json(model)}
        (tmp / STATE).write_text(json.dumps(state, sort_keys=True))
        files = {name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)} for name in FILES}
        (tmp / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION, "step": step, "files": files},
                                               indent=2, sort_keys=True))
        fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_path(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# -- reading ---------------------------------------------------------------------------------------
def verify(path: Path) -> dict[str, Any]:
    """Check the manifest of checkpoint ``path`` (format version, files, sizes, checksums); its content."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
        version = manifest["format_version"]
    except FileNotFoundError:
        raise CheckpointError(path, f"{MANIFEST} is missing") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(path, f"{MANIFEST} is corrupt ({type(exc).__name__}: {exc})") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(path, f"format version {version!r}, this trainer reads {FORMAT_VERSION}")
    for name in FILES:
        f = path / name
        if name not in files:
            raise CheckpointError(path, f"{MANIFEST} does not list {name}")
        if not f.is_file():
            raise CheckpointError(path, f"{name} is missing")
        size = f.stat().st_size
        if size != files[name]["bytes"]:
            raise CheckpointError(path, f"{name} has {size} bytes, the manifest says {files[name]['bytes']}")
        if _sha256(f) != files[name]["sha256"]:
            raise CheckpointError(path, f"{name} fails its SHA-256 check")
    return manifest


def load(path: Path) -> ResumeState:
    """The checked checkpoint at ``path``; CheckpointError naming it and the problem otherwise."""
    verify(path)
    try:
        state = json.loads((path / STATE).read_text())
        tensors = [load_file(str(path / name)) for name in (WEIGHTS, OPTIMIZER, RNG)]
        return ResumeState(path, int(state["step"]), state["loop"], *tensors, json_state=state)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CheckpointError(path, f"cannot be read ({type(exc).__name__}: {exc})") from None


# -- restoring -------------------------------------------------------------------------------------
def restore(state: ResumeState, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Put the checkpoint's weights, optimizer state and random streams into ``model``/``optimizer``."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(state.lora):
        missing, extra = sorted(set(params) - set(state.lora)), sorted(set(state.lora) - set(params))
        raise CheckpointError(state.path, f"LoRA parameters differ from the model's (missing {missing[:3]}, "
                                          f"unexpected {extra[:3]})")
    for name, p in params.items():
        if tuple(p.shape) != tuple(state.lora[name].shape):
            raise CheckpointError(state.path, f"shape mismatch for {name}: checkpoint {tuple(state.lora[name].shape)}"
                                              f", model {tuple(p.shape)}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state.lora[name].to(device=p.device, dtype=p.dtype))
    _restore_optimizer(state, optimizer)
    _restore_rng(state, model)


def _restore_optimizer(state: ResumeState, optimizer: torch.optim.Optimizer) -> None:
    groups = state.json_state["optimizer_param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in state.optimizer.items():
        index, _, name = key.partition(".")
        per_param.setdefault(int(index), {})[name] = t
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(state.path, f"optimizer state does not fit ({exc})") from None


def _restore_rng(state: ResumeState, model: nn.Module) -> None:
    rng = state.json_state["rng"]
    torch.set_rng_state(state.rng["torch_cpu"])
    cuda = [state.rng[k] for k in sorted(k for k in state.rng if k.startswith("cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, mt, gauss = rng["python_random"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    for name, module in model.named_modules():
        if isinstance(module, FastMaskDropout):
            if name not in rng["dropout"]:
                raise CheckpointError(state.path, f"no dropout generator state for {name}")
            module._bits.state = rng["dropout"][name]


class ResumeWriter:
    """A run's resume checkpoints under ``root``: when one is due, writing it, pruning old ones."""

    def __init__(self, root: Path, settings: ResumeSettings | None = None) -> None:
        self.root = Path(root)
        self.settings = settings or ResumeSettings()
        self._last = time.monotonic()

    def due(self, step: int, *, force: bool = False) -> bool:
        s = self.settings
        return force or (s.every_steps > 0 and step % s.every_steps == 0) or (
            s.every_seconds > 0 and time.monotonic() - self._last >= s.every_seconds)

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, loop: dict[str, Any]) -> Path:
        path = write(self.root, step, model, optimizer, loop)
        prune(self.root, self.settings.keep)
        self._last = time.monotonic()
        log.info("resume checkpoint written", extra={"path": str(path), "step": step})
        return path
