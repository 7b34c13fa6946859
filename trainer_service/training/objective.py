"""What a training loop optimises: SFT's token loss here, DPO's preference loss in ``dpo.py``.

The loop (``loop.py``) owns what every method shares: the data order, optimizer steps, the
learning-rate schedule, gradient accumulation and DDP, cancellation, evaluation cadence, the
best checkpoint and early stopping. An ``Objective`` owns what differs between methods:

- how a micro-batch is made from a step's examples (``batch``) and the unit its loss averages
  over (``units``: labelled tokens for SFT, preference pairs for DPO);
- the loss of a micro-batch as a *sum* over those units plus a vector of summed statistics
  (``forward``); the loop scales the sum by ``world / N`` with N the units of the whole optimizer
  step on all ranks, so accumulation and DDP give the gradient of one big batch;
- the step's progress figures from the all-reduced sums (``progress``);
- an evaluation on validation data (``evaluate``), with the score that picks the best checkpoint
  (lower is better);
- anything to compute once before training (``prepare``: DPO's reference log-probabilities).

SFT (``TokenObjective``): ``L = Σ_t CE(logits_t, y_t) / N`` over the labelled tokens of the step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from trainer_service.data.packing import Batch, make_batch
from trainer_service.data.tokenize import IGNORE_INDEX, TokenizedExample
from trainer_service.training.config import TrainingConfig

if TYPE_CHECKING:
    from peft import PeftModel


class TrainingCancelled(Exception):
    """Raised inside the loop when the job's cancel event is set."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled("cancelled")


def eval_mode(module: nn.Module) -> None:
    """``module.eval()``, except bitsandbytes 4-bit linears stay in training mode.

    In eval mode on a CPU with AVX512-BF16, bitsandbytes repacks each nf4 weight in place into
    an inference-only layout on its first no-grad forward — slow, and the training forward
    that follows must not see it. Those layers have no dropout or norm statistics, so keeping
    their ``training`` flag changes nothing else; LoRA dropout modules do switch to eval.
    """
    module.eval()
    for m in module.modules():
        if type(m).__name__ == "Linear4bit" and type(m).__module__.startswith("bitsandbytes"):
            m.training = True


@dataclass
class Evaluation:
    """One evaluation: ``metrics`` as emitted and recorded (``validation_loss``, ...); ``score`` picks the
    best checkpoint (lower is better); ``name`` says what the score is, for log lines."""

    loss: float
    metrics: dict[str, float]
    score: float
    name: str = "validation loss"


@dataclass
class EvalResult:
    loss: float
    token_accuracy: float
    tokens: int


class Objective(Protocol):
    loss_module: nn.Module  # what forward and backward run through (DDP wraps it)

    def prepare(self, train: list[Any], validation: list[Any], *, rank: int,
                world: int) -> tuple[list[Any], list[Any]]: ...
    def batch(self, examples: list[Any]) -> Any: ...
    def units(self, batch: Any) -> int: ...
    def tokens(self, batch: Any) -> int: ...
    def forward(self, module: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]: ...
    def progress(self, loss_sum: float, stats: torch.Tensor, units: int) -> dict[str, float]: ...
    def evaluate(self, examples: list[Any]) -> Evaluation: ...


class TokenLoss(nn.Module):
    """Summed cross-entropy and correct-argmax count over labelled tokens only.

    Returns ``(loss_sum, correct, count)``; the caller normalises. Wrapping the whole
    computation in one module lets DDP see a single forward. Logits are computed only where
    there is a label: the LM head and the softmax over the vocabulary cost as much as several
    decoder layers per token.
    """

    def __init__(self, peft_model: PeftModel) -> None:
        super().__init__()
        self.peft_model = peft_model
        base = peft_model.get_base_model()
        self.body = base.model
        self.lm_head = base.get_output_embeddings()

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, position_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                           use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE_INDEX
        logits = self.lm_head(hidden[:, :-1][keep]).float()
        y = targets[keep]
        loss_sum = F.cross_entropy(logits, y, reduction="sum")
        correct = (logits.detach().argmax(-1) == y).sum()
        return loss_sum, correct, keep.sum()


@torch.no_grad()
def evaluate(loss_module: nn.Module, examples: list[TokenizedExample], *, config: TrainingConfig, pad_id: int,
             device: torch.device, cancel: threading.Event | None = None) -> EvalResult:
    was_training = loss_module.training
    eval_mode(loss_module)
    total, correct, count = 0.0, 0, 0
    try:
        for i in range(0, len(examples), config.batch_size):
            check_cancel(cancel)
            b = make_batch(examples[i:i + config.batch_size], max_len=config.max_seq_length, pad_id=pad_id,
                           packing=config.packing).to(device)
            s, c, n = loss_module(b.input_ids, b.labels, b.position_ids, b.attention_mask)
            total += float(s)
            correct += int(c)
            count += int(n)
    finally:
        loss_module.train(was_training)
    return EvalResult(total / max(1, count), correct / max(1, count), count)


@dataclass
class TokenObjective:
    """SFT: mean token cross-entropy over the labelled (answer) tokens of the step."""

    config: TrainingConfig
    peft_model: PeftModel
    pad_id: int
    device: torch.device
    cancel: threading.Event | None = None
    loss_module: nn.Module = field(init=False)

    def __post_init__(self) -> None:
        self.loss_module = TokenLoss(self.peft_model)

    def prepare(self, train: list[TokenizedExample], validation: list[TokenizedExample], *, rank: int,
                world: int) -> tuple[list[TokenizedExample], list[TokenizedExample]]:
        return train, validation

    def batch(self, examples: list[TokenizedExample]) -> Batch:
        return make_batch(examples, max_len=self.config.max_seq_length, pad_id=self.pad_id,
                          packing=self.config.packing)

    def units(self, batch: Batch) -> int:
        return batch.num_label_tokens

    def tokens(self, batch: Batch) -> int:
        return batch.num_tokens

    def forward(self, module: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        b = batch.to(self.device)
        loss_sum, _, _ = module(b.input_ids, b.labels, b.position_ids, b.attention_mask)
        return loss_sum, torch.zeros(0, device=self.device)

    def progress(self, loss_sum: float, stats: torch.Tensor, units: int) -> dict[str, float]:
        return {"train_loss": loss_sum / max(1, units)}

    def evaluate(self, examples: list[TokenizedExample]) -> Evaluation:
        ev = evaluate(self.loss_module, examples, config=self.config, pad_id=self.pad_id, device=self.device,
                      cancel=self.cancel)
        return Evaluation(ev.loss, {"validation_loss": ev.loss, "validation_token_accuracy": ev.token_accuracy},
                          ev.loss)
