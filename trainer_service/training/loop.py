"""The training loop: packed micro-batches, assistant-only token loss, eval, early stopping.

Why our own loop instead of ``transformers.Trainer``: things the Trainer does not do
and that decide CPU throughput and control:

1. Packing without cross-example attention (``data/packing.py``) — no FLOPs spent on padding —
   with attention computed per example (``training/attention.py``), not over the whole row.
2. Logits only where there is a label. The LM head (``hidden × vocab`` = 576 × 49152 for the
   default base) and the softmax over the vocabulary cost as much as several decoder layers per
   token; with assistant-only loss most positions carry no label, so we gather the labelled
   hidden states first and project only those.
3. LoRA dropout masks from a fast generator on CPU (``training/dropout.py``): same distribution,
   ~4× cheaper than ``nn.Dropout``'s element-wise Mersenne Twister.
4. The LoRA branch as one autograd node on CPU (``training/fused_lora.py``): dropout, A, B, the
   scale and the sum in one ``addmm``, one pass over the output activation instead of four.
5. Cancellation inside a step (a forward hook and a backward tensor hook per decoder layer), so
   a cancel stops within a fraction of a step, not after it.
6. Resume (``training/resume.py``): with a ``resume_writer`` the loop writes resume checkpoints as it
   goes (after each new best, and every N steps or M seconds), and ``run(resume_from=...)`` continues
   one so that the run ends where an uninterrupted one would (the same weights on a CPU in fp32).

Loss: the objective's (``objective.py``): SFT's token-level mean over the optimizer step,
``L = Σ_t CE(logits_t, y_t) / N`` with N the labelled tokens of *all* micro-batches (and all
ranks) of that step, or DPO's mean over the step's preference pairs (``dpo.py``). Either way
gradient accumulation and DDP give the same gradient as one big batch: DDP averages gradients
over ``world`` ranks, so each rank scales its partial sum by ``world / N``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from trainer_service.training import resume
from trainer_service.training.checkpoints import CheckpointSink
from trainer_service.training.config import TrainingConfig, lr_at
from trainer_service.training.dropout import use_fast_mask_dropout
from trainer_service.training.fused_lora import use_fused_lora
from trainer_service.training.objective import (
    EvalResult,
    Evaluation,
    Objective,
    TokenLoss,
    TokenObjective,
    TrainingCancelled,
    eval_mode,
    evaluate,
)

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

__all__ = ["EvalResult", "TokenLoss", "TrainingCancelled", "TrainingLoop", "TrainingResult", "eval_mode", "evaluate",
           "make_objective", "plan_steps"]

log = logging.getLogger(__name__)


def make_objective(config: TrainingConfig, peft_model: PeftModel, pad_id: int, device: torch.device,
                   cancel: threading.Event) -> Objective:
    """The objective of ``config.method``."""
    if config.method == "dpo":
        from trainer_service.training.dpo import PreferenceObjective

        return PreferenceObjective(config, peft_model, pad_id, device, cancel)
    return TokenObjective(config, peft_model, pad_id, device, cancel)


@dataclass
class TrainingResult:
    adapter_dir: Path | None
    steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoints: list[dict] = field(default_factory=list)
    stopped_early: bool = False


@dataclass
class _Run:
    """What one ``TrainingLoop.run`` tracks from step to step."""

    steps_per_epoch: int
    total_steps: int
    eval_every: int
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    result: TrainingResult = field(default_factory=lambda: TrainingResult(adapter_dir=None, steps=0))
    step: int = 0
    train_loss: float = math.nan
    tokens_trained: int = 0
    started: float = field(default_factory=time.monotonic)
    step_times: list[float] = field(default_factory=list)
    best_score: float = math.inf
    best_name: str | None = None
    since_best: int = 0
    n_train: int = 0
    superseded: str | None = None  # the previous best checkpoint, deleted once a resume checkpoint no longer needs it


def install_cancel_hooks(peft_model: PeftModel, cancel: threading.Event) -> list[RemovableHandle]:
    """Raise TrainingCancelled from inside forward and backward of every decoder layer."""

    def check(*_: Any) -> None:
        if cancel.is_set():
            raise TrainingCancelled("cancelled")

    def fwd_hook(_module: Any, _inputs: Any, output: Any) -> None:
        check()
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g: (check(), g)[1])

    layers = peft_model.get_base_model().model.layers
    return [layer.register_forward_hook(fwd_hook) for layer in layers]


def plan_steps(n_examples: int, config: TrainingConfig, world: int) -> tuple[int, int]:
    """(steps per epoch, total optimizer steps)."""
    per_step = config.batch_size * config.gradient_accumulation_steps * world
    steps_per_epoch = max(1, math.ceil(n_examples / per_step))
    total = steps_per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    return steps_per_epoch, total


class TrainingLoop:
    """One training run. ``emit(kind, payload)`` receives progress/evaluation/checkpoint events."""

    def __init__(self, config: TrainingConfig, peft_model: PeftModel, tokenizer: PreTrainedTokenizerBase, *,
                 device: torch.device, sink: CheckpointSink | None, emit: Callable[[str, dict], None] | None = None,
                 cancel: threading.Event | None = None, rank: int = 0, world: int = 1,
                 wrap: Callable[[nn.Module], nn.Module] | None = None,
                 resume_writer: resume.ResumeWriter | None = None) -> None:
        """``wrap`` turns the loss module into what runs forward/backward (DDP: ``DistributedDataParallel``).
        The objective follows ``config.method``: SFT's token loss, or DPO (``training/dpo.py``).
        ``resume_writer`` (rank 0) writes resume checkpoints (``training/resume.py``) as the run goes."""
        self.config = config
        self.model = peft_model
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = device
        self.sink = sink
        self.emit = emit or (lambda kind, payload: None)
        self.cancel = cancel or threading.Event()
        self.rank, self.world = rank, world
        self.resume_writer = resume_writer if rank == 0 else None
        if device.type == "cpu":  # CUDA's fused dropout kernel is already cheap
            use_fast_mask_dropout(peft_model)
            use_fused_lora(peft_model)
        self.objective = make_objective(config, peft_model, self.pad_id, device, self.cancel)
        self.loss_module = self.objective.loss_module
        self.forward_module = wrap(self.loss_module) if wrap is not None else self.loss_module

    def _micro_batches(self, step_examples: list[Any]) -> tuple[list[Any | None], int, int]:
        """This rank's micro-batches for one step (None = dummy to keep ranks in lock-step),
        plus the step's loss units (labelled tokens, pairs) and real-token counts over all ranks."""
        bs = self.config.batch_size
        chunks = [step_examples[i:i + bs] for i in range(0, len(step_examples), bs)]
        batches = [self.objective.batch(c) for c in chunks]
        n_units = sum(self.objective.units(b) for b in batches)
        n_tokens = sum(self.objective.tokens(b) for b in batches)
        mine: list[Any | None] = batches[self.rank::self.world]
        per_rank = math.ceil(len(batches) / self.world)
        while len(mine) < per_rank:
            mine.append(None)
        return mine, n_units, n_tokens

    def run(self, train: list[Any], validation: list[Any], resume_from: Path | None = None) -> TrainingResult:
        """Train for ``epochs`` (or ``max_steps``), evaluating on ``validation`` when there is one, and
        keep the best checkpoint (the last one without validation).

        ``resume_from``: a resume checkpoint (``training/resume.py``) to continue from: weights, optimizer,
        random streams, step and bookkeeping are restored after ``objective.prepare`` (so DPO's reference
        log-probabilities are recomputed from the starting adapter, as in the first run), the epochs before
        the checkpoint's replay only their shuffle, and its epoch continues at the checkpoint's position.
        CheckpointError when it does not fit this run."""
        cfg = self.config
        rng = random.Random(cfg.seed)
        torch.manual_seed(cfg.seed)
        steps_per_epoch, total_steps = plan_steps(len(train), cfg, self.world)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        hooks = install_cancel_hooks(self.model, self.cancel)
        run = _Run(steps_per_epoch, total_steps, cfg.eval_every_steps or steps_per_epoch, optimizer, params,
                   n_train=len(train))
        self.model.train()
        try:
            train, validation = self.objective.prepare(train, validation, rank=self.rank, world=self.world)
            if resume_from is not None:
                self._resume(resume_from, run)
            elif validation:
                self._initial_evaluation(validation, run)
            first_epoch = run.step // run.steps_per_epoch
            for epoch in range(cfg.epochs):
                order = list(range(len(train)))
                rng.shuffle(order)  # an epoch before the resumed one still draws its order: the stream stays in step
                if epoch < first_epoch:
                    continue
                if self._epoch(epoch, [train[i] for i in order], validation, run):
                    break
            if not validation:
                run.best_name = self._checkpoint(run.step, run.train_loss, None, best=True, result=run.result)
        finally:
            for h in hooks:
                h.remove()
        return self._finish(run)

    def _resume(self, path: Path, run: _Run) -> None:
        """Continue ``run`` from the resume checkpoint at ``path``; CheckpointError when it does not fit."""
        state = resume.load(path)
        saved = state.loop
        expected = {"seed": self.config.seed, "method": self.config.method, "n_train": run.n_train,
                    "steps_per_epoch": run.steps_per_epoch, "total_steps": run.total_steps}
        for key, value in expected.items():
            if saved.get(key) != value:
                raise resume.CheckpointError(path, f"{key} is {saved.get(key)!r} in the checkpoint but {value!r} "
                                                   "for this run (the data or the configuration changed)")
        resume.restore(state, self.model, run.optimizer)
        run.step, run.train_loss, run.tokens_trained = state.step, saved["train_loss"], saved["tokens_trained"]
        run.started = time.monotonic() - saved["elapsed_seconds"]
        run.best_score, run.best_name, run.since_best = saved["best_score"], saved["best_name"], saved["since_best"]
        run.result.metrics.update(saved["metrics"])
        run.result.checkpoints = saved["checkpoints"]
        log.info("training resumed", extra={"checkpoint": str(path), "step": run.step, "total_steps": run.total_steps})
        self.emit("resumed", {"step": run.step, "checkpoint": str(path),
                              "message": f"resumed from step {run.step} (checkpoint {path})"})

    def _resume_point(self, run: _Run, *, final: bool) -> None:
        """After a step: write a resume checkpoint when one is due (always after a new best, which the
        checkpoint then refers to), then delete the best checkpoint it superseded."""
        writer = self.resume_writer
        if writer is not None and not final and writer.due(run.step, force=run.superseded is not None):
            if self.cancel.is_set():
                raise TrainingCancelled("cancelled")
            writer.save(run.step, self.model, run.optimizer, {
                "seed": self.config.seed, "method": self.config.method, "n_train": run.n_train,
                "steps_per_epoch": run.steps_per_epoch, "total_steps": run.total_steps,
                "train_loss": run.train_loss, "tokens_trained": run.tokens_trained,
                "elapsed_seconds": time.monotonic() - run.started, "best_score": run.best_score,
                "best_name": run.best_name, "since_best": run.since_best, "metrics": run.result.metrics,
                "checkpoints": run.result.checkpoints})
        if run.superseded is not None and self.sink is not None and self.rank == 0:
            self.sink.delete(run.superseded)
        run.superseded = None

    def _initial_evaluation(self, validation: list[Any], run: _Run) -> None:
        ev = self.objective.evaluate(validation)
        run.result.metrics.update({f"initial_{k}": v for k, v in ev.metrics.items()})
        self.emit("evaluation", {"step": 0, **ev.metrics})

    def _epoch(self, epoch: int, shuffled: list[Any], validation: list[Any], run: _Run) -> bool:
        """One pass over ``shuffled``; True when training is over (all steps done, or stopped early)."""
        per_step = self.config.batch_size * self.config.gradient_accumulation_steps * self.world
        for s in range(max(0, run.step - epoch * run.steps_per_epoch), run.steps_per_epoch):
            if run.step >= run.total_steps:
                break
            self._train_step(shuffled[s * per_step:(s + 1) * per_step], run,
                             epoch=epoch + (s + 1) / run.steps_per_epoch)
            due = run.step % run.eval_every == 0 or run.step == run.total_steps
            stop = bool(validation and due and self._evaluation(validation, run))
            self._resume_point(run, final=stop or run.step >= run.total_steps)
            if stop:
                break
        return run.result.stopped_early or run.step >= run.total_steps

    def _train_step(self, step_examples: list[Any], run: _Run, *, epoch: float) -> None:
        """One optimizer step at the scheduled learning rate, and its progress event."""
        t0 = time.monotonic()
        lr = lr_at(run.step, run.total_steps, self.config)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        figures, n_tokens = self._step(step_examples, run.optimizer, run.params)
        run.train_loss = figures["train_loss"]
        run.step += 1
        run.tokens_trained += n_tokens
        dt = time.monotonic() - t0
        run.step_times.append(dt)
        elapsed = time.monotonic() - run.started
        recent = run.step_times[-10:]
        self.emit("progress", {
            "step": run.step, "total_steps": run.total_steps, "epoch": epoch, **figures,
            "learning_rate": lr, "step_seconds": dt, "step_tokens": n_tokens,
            "tokens_per_second": run.tokens_trained / max(elapsed, 1e-9),
            "eta_seconds": (run.total_steps - run.step) * sum(recent) / len(recent),
            "tokens_trained": run.tokens_trained, "elapsed_seconds": elapsed})

    def _evaluation(self, validation: list[Any], run: _Run) -> bool:
        """Evaluate after a step; checkpoint an improvement (replacing the previous best), count one that is
        not. True when early stopping ends the training."""
        ev = self.objective.evaluate(validation)
        self.emit("evaluation", {"step": run.step, **ev.metrics, "train_loss": run.train_loss})
        if ev.score < run.best_score:
            previous = run.best_name
            run.best_score, run.since_best = ev.score, 0
            run.best_name = self._checkpoint(run.step, run.train_loss, ev, best=True, result=run.result)
            if previous and self.sink is not None:
                run.superseded = previous  # deleted after the next resume checkpoint: disk stays O(1) per job
                run.result.checkpoints = [c for c in run.result.checkpoints if c["name"] != previous]
            run.result.metrics.update(ev.metrics, best_step=float(run.step))
            return False
        run.since_best += 1
        patience = self.config.early_stopping_patience
        if patience and run.since_best >= patience:
            run.result.stopped_early = True
            best = abs(run.best_score) if ev.name.endswith("margin") else run.best_score
            self.emit("log", {"message": f"early stopping at step {run.step}: no improvement "
                                         f"in {run.since_best} evaluations (best {ev.name} {best:.4f})"})
            return True
        return False

    def _finish(self, run: _Run) -> TrainingResult:
        elapsed = time.monotonic() - run.started
        result = run.result
        result.steps = run.step
        result.metrics.update(train_loss=run.train_loss, steps=float(run.step),
                              tokens_trained=float(run.tokens_trained), train_runtime_seconds=elapsed,
                              tokens_per_second=run.tokens_trained / max(elapsed, 1e-9))
        if run.best_name is not None and self.sink is not None:
            result.adapter_dir = Path(next(c["path"] for c in result.checkpoints if c["name"] == run.best_name))
        return result

    def _step(self, step_examples: list[Any], optimizer: torch.optim.Optimizer,
              params: list[torch.Tensor]) -> tuple[dict[str, float], int]:
        micro, n_units, n_tokens = self._micro_batches(step_examples)
        scale = self.world / max(1, n_units)
        loss_total = torch.zeros((), device=self.device)
        stats_total: torch.Tensor | None = None
        for i, batch in enumerate(micro):
            is_dummy = batch is None
            b = batch if batch is not None else self.objective.batch(step_examples[:1])
            sync = i == len(micro) - 1
            defer_sync = not sync and hasattr(self.forward_module, "no_sync")
            ctx = self.forward_module.no_sync() if defer_sync else nullcontext()
            with ctx:
                loss_sum, stats = self.objective.forward(self.forward_module, b)
                (loss_sum * (0.0 if is_dummy else scale)).backward()
            if not is_dummy:
                loss_total += loss_sum.detach()
                stats_total = stats if stats_total is None else stats_total + stats
        stats_total = stats_total if stats_total is not None else torch.zeros(0, device=self.device)
        if self.world > 1:
            torch.distributed.all_reduce(loss_total)
            stats_total = self._all_reduce_stats(stats_total)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return self.objective.progress(float(loss_total), stats_total, n_units), n_tokens

    def _all_reduce_stats(self, stats: torch.Tensor) -> torch.Tensor:
        """Sum ``stats`` over ranks; a rank with only dummy batches contributes zeros of the same size."""
        if stats.numel() == 0:  # a rank with only dummy micro-batches: learn the size from the others
            size = torch.tensor([0], device=self.device)
        else:
            size = torch.tensor([stats.numel()], device=self.device)
        torch.distributed.all_reduce(size, op=torch.distributed.ReduceOp.MAX)
        full = torch.zeros(int(size), device=self.device)
        full[:stats.numel()] = stats
        torch.distributed.all_reduce(full)
        return full

    def _checkpoint(self, step: int, train_loss: float, ev: Evaluation | None, *, best: bool,
                    result: TrainingResult) -> str | None:
        name = f"step-{step:06d}"
        figures = ev.metrics if ev else {"validation_loss": math.nan, "validation_token_accuracy": math.nan}
        entry = {"name": name, "step": step, "train_loss": train_loss, **figures, "best": best, "path": ""}
        if self.sink is None:
            return None
        if self.rank == 0:
            if self.cancel.is_set():
                raise TrainingCancelled("cancelled")
            entry["path"] = str(self.sink.save(name, self.model, {k: v for k, v in entry.items() if k != "path"}))
            self.emit("checkpoint", dict(entry))
        for c in result.checkpoints:
            c["best"] = False
        result.checkpoints.append(entry)
        return name
