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

SFT (``TokenObjective``): ``L = Σ_t ω_t CE(logits_t, y_t) / Σ_t ω_t`` over the labelled tokens of the
step, with ``ω_t = answer_start_weight`` on the first ``answer_start_tokens`` tokens of each answer (each
run of labelled tokens) and 1 elsewhere; the default weight 1 gives the plain token mean. Why a weight:
whether an answer refuses or helps is decided by its first token or two ("I can't" against "Sure"),
about one token in 25 of a short answer, so the plain mean spends most of its gradient on wording that
follows from that decision.

Anchor records (``"anchor": true``, ``formats.py``) replace the cross-entropy of each of their labelled
tokens by ``λ·KL(p_base(·|x_<t) ‖ p_θ(·|x_<t)) = λ·Σ_v p_base(v) (log p_base(v) − log p_θ(v))``, with
``p_base`` the same model with the adapter disabled (no gradient), ``λ = anchor_weight`` (default 1), weighted
by the same ``ω_t`` and counted in the same units (with ``init_from``, ``p_base`` is still the base model,
not the starting adapter). Why: safety SFT moves a 135M model's everyday facts even with hand-written general
answers rehearsed in its data (measured: "Jupiter is the hottest planet", where the base said Venus); the KL
pulls the whole next-token distribution back to the base's on such prompts, right or wrong, which is what a
forgetting check asks of an adapter (learning without forgetting, Li & Hoiem 2016).
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

    Returns ``(loss_sum, correct, count)``; the caller normalises. In training mode with a
    ``start_weight`` other than 1 the sum is weighted by :func:`answer_start_weights`. Tokens of
    anchor examples (``anchor``) contribute the KL to the base model instead (module docstring); the
    base's forward runs without gradient on the anchor examples only (``_base_log_probs``). Wrapping the whole
    computation in one module lets DDP see a single forward. Logits are computed only where
    there is a label: the LM head and the softmax over the vocabulary cost as much as several
    decoder layers per token.
    """

    def __init__(self, peft_model: PeftModel, start_weight: float = 1.0, start_tokens: int = 1,
                 anchor_weight: float = 1.0) -> None:
        super().__init__()
        self.peft_model = peft_model
        self.start_weight, self.start_tokens, self.anchor_weight = start_weight, start_tokens, anchor_weight
        base = peft_model.get_base_model()
        self.body = base.model
        self.lm_head = base.get_output_embeddings()

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, position_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None,
                anchor: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                           use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE_INDEX
        logits = self.lm_head(hidden[:, :-1][keep]).float()
        y = targets[keep]
        per_token = F.cross_entropy(logits, y, reduction="none")
        if anchor is not None and bool((anchored := keep & anchor[:, 1:]).any()):
            base_logp = self._base_log_probs(input_ids, position_ids, attention_mask, anchor, anchored)
            kl = (base_logp.exp() * (base_logp - F.log_softmax(logits[anchored[keep]], -1))).sum(-1)
            per_token = per_token.masked_scatter(anchored[keep], self.anchor_weight * kl)
        if self.training and self.start_weight != 1.0:  # validation loss stays the plain mean
            per_token = per_token * answer_start_weights(keep, self.start_weight, self.start_tokens)[keep]
        correct = (logits.detach().argmax(-1) == y).sum()
        return per_token.sum(), correct, keep.sum()

    @torch.no_grad()
    def _base_log_probs(self, input_ids: torch.Tensor, position_ids: torch.Tensor,
                        attention_mask: torch.Tensor | None, anchor: torch.Tensor,
                        anchored: torch.Tensor) -> torch.Tensor:
        """``log p_base`` [anchored tokens, vocab] in the row-major order of ``anchored`` ([rows, L-1]).

        Packed batches (no ``attention_mask``): only the anchor examples' own tokens (``anchor``) go through the
        base, as one packed row. Attention never crosses examples and each example's positions restart at 0,
        so each keeps its logits exactly, and an anchor packed beside long plain examples no longer costs its
        whole row's forward (a micro-batch of short examples packs into one or two rows): the demo's v1 recipe
        trained in 342 s against 405 s before, with identical losses (``benchmarks/recipe_quality.py
        --recipe sft-demo-anchored``). Padded batches run the rows that hold anchors.
        """
        with self.peft_model.disable_adapter():
            if attention_mask is None:
                hidden = self.body(input_ids=input_ids[anchor][None], position_ids=position_ids[anchor][None],
                                   use_cache=False).last_hidden_state[0]
                # position t of ``anchored`` predicts token t + 1; the last position predicts nothing
                return F.log_softmax(self.lm_head(hidden[F.pad(anchored, (0, 1))[anchor]]).float(), -1)
            rows = anchored.any(-1)
            hidden = self.body(input_ids=input_ids[rows], position_ids=position_ids[rows],
                               attention_mask=attention_mask[rows], use_cache=False).last_hidden_state
        return F.log_softmax(self.lm_head(hidden[:, :-1][anchored[rows]]).float(), -1)


def answer_start_weights(keep: torch.Tensor, weight: float, tokens: int) -> torch.Tensor:
    """``ω`` for each position of ``keep`` ([rows, L], True where a token carries loss): ``weight`` on the
    first ``tokens`` positions of every run of True, 1 on the rest of the run, 0 where ``keep`` is False.

    A token's index in its run is ``c_t - c_s`` with ``c`` the running count of True along the row and
    ``s`` the run's first position (``c_s - 1`` is carried forward by a running maximum: ``c`` never falls).
    """
    count = keep.long().cumsum(-1)
    before = torch.zeros_like(keep)
    before[:, 1:] = keep[:, :-1]
    starts = keep & ~before
    run_base = torch.where(starts, count - 1, torch.zeros_like(count)).cummax(-1).values
    opening = keep & (count - 1 - run_base < tokens)
    return torch.where(opening, weight, 1.0) * keep


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
            s, c, n = loss_module(b.input_ids, b.labels, b.position_ids, b.attention_mask, b.anchor)
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
        self.loss_module = TokenLoss(self.peft_model, self.config.answer_start_weight,
                                     self.config.answer_start_tokens, self.config.anchor_weight)

    def prepare(self, train: list[TokenizedExample], validation: list[TokenizedExample], *, rank: int,
                world: int) -> tuple[list[TokenizedExample], list[TokenizedExample]]:
        return train, validation

    def batch(self, examples: list[TokenizedExample]) -> Batch:
        return make_batch(examples, max_len=self.config.max_seq_length, pad_id=self.pad_id,
                          packing=self.config.packing)

    def units(self, batch: Batch) -> float:
        """``Σ_t ω_t``: the labelled tokens, each answer's opening counted ``answer_start_weight`` times."""
        if self.config.answer_start_weight == 1.0:
            return batch.num_label_tokens
        keep = batch.labels[:, 1:] != IGNORE_INDEX
        weights = answer_start_weights(keep, self.config.answer_start_weight, self.config.answer_start_tokens)
        return float(weights.sum())

    def tokens(self, batch: Batch) -> int:
        return batch.num_tokens

    def forward(self, module: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        b = batch.to(self.device)
        loss_sum, _, _ = module(b.input_ids, b.labels, b.position_ids, b.attention_mask, b.anchor)
        return loss_sum, torch.zeros(0, device=self.device)

    def progress(self, loss_sum: float, stats: torch.Tensor, units: int) -> dict[str, float]:
        return {"train_loss": loss_sum / max(1, units)}

    def evaluate(self, examples: list[TokenizedExample]) -> Evaluation:
        ev = evaluate(self.loss_module, examples, config=self.config, pad_id=self.pad_id, device=self.device,
                      cancel=self.cancel)
        return Evaluation(ev.loss, {"validation_loss": ev.loss, "validation_token_accuracy": ev.token_accuracy},
                          ev.loss)
