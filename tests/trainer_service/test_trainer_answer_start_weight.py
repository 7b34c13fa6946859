"""SFT's answer-start weight (objective.py): the opening tokens of each answer count ``answer_start_weight``
times in the token mean; validation loss stays the plain mean."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from trainer_testkit import jsonl, toy_sft_config

from lorafleet.errors import InvalidArgument
from trainer_service.data.packing import packed_batch
from trainer_service.data.tokenize import IGNORE_INDEX
from trainer_service.data.validation import validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model
from trainer_service.training.objective import TokenObjective, answer_start_weights


def _runs(row: list[bool]) -> list[tuple[int, int]]:
    """(start, length) of every run of True."""
    runs, start = [], None
    for i, v in enumerate([*row, False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def test_the_opening_of_every_run_gets_the_weight() -> None:
    keep = torch.tensor([[0, 1, 1, 1, 0, 0, 1, 1, 0, 1], [1, 1, 0, 1, 1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    assert answer_start_weights(keep, 5.0, 2).tolist() == [[0, 5, 5, 1, 0, 0, 5, 5, 0, 5],
                                                           [5, 5, 0, 5, 5, 1, 1, 0, 0, 0]]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=1, max_size=4),
       weight=st.floats(1.0, 100.0), tokens=st.integers(1, 6))
def test_weights_follow_the_runs(rows, weight, tokens) -> None:
    w = answer_start_weights(torch.tensor(rows), weight, tokens)
    for r, row in enumerate(rows):
        want = [0.0] * len(row)
        for start, length in _runs(row):
            for i in range(length):
                want[start + i] = weight if i < tokens else 1.0
        assert w[r].tolist() == pytest.approx(want)


@pytest.mark.parametrize("bad", [{"answer_start_weight": 0.5}, {"answer_start_weight": 101.0},
                                 {"answer_start_weight": float("nan")}, {"answer_start_tokens": 0}])
def test_out_of_range_values_name_the_field(bad) -> None:
    with pytest.raises(InvalidArgument) as err:
        toy_sft_config(**bad)
    assert err.value.field == f"hyperparameters.{next(iter(bad))}"


def _train_and_val(tokenizer, toy_records):
    report = validate_dataset(jsonl(toy_records[:40]), tokenizer, max_seq_length=128,
                              validation_data=jsonl(toy_records[40:]))
    assert report.valid, report.issues
    return report.train, report.validation


def test_the_training_loss_is_the_weighted_mean_and_validation_the_plain_one(tiny_model_dir, tokenizer,
                                                                             toy_records) -> None:
    train, _ = _train_and_val(tokenizer, toy_records)
    cfg = toy_sft_config(answer_start_weight=4.0, answer_start_tokens=3)
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    objective = TokenObjective(cfg, model, tokenizer.pad_token_id, torch.device("cpu"))
    b = packed_batch(train[:6], 128, tokenizer.pad_token_id)
    keep = b.labels[:, 1:] != IGNORE_INDEX
    with torch.no_grad():
        logits = model(input_ids=b.input_ids, position_ids=b.position_ids).logits[:, :-1]
        ce = F.cross_entropy(logits.float().transpose(1, 2), b.labels[:, 1:].clamp(min=0), reduction="none")
        weights = answer_start_weights(keep, 4.0, 3)
        objective.loss_module.train()
        weighted, _, _ = objective.loss_module(b.input_ids, b.labels, b.position_ids)
        objective.loss_module.eval()
        plain, _, n = objective.loss_module(b.input_ids, b.labels, b.position_ids)
    torch.testing.assert_close(weighted, (ce * weights).sum(), atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(plain, (ce * keep).sum(), atol=1e-3, rtol=1e-5)
    # each example's answer is one run, so the weighted units add 3 answers' openings at weight 4
    assert objective.units(b) == pytest.approx(int(n) + 3 * 6 * (4.0 - 1.0))
    assert TokenObjective(toy_sft_config(), model, tokenizer.pad_token_id, torch.device("cpu")).units(b) == int(n)


def _opening_loss(model, batch) -> float:
    """Mean cross-entropy over the first 2 tokens of each answer."""
    keep = batch.labels[:, 1:] != IGNORE_INDEX
    opening = answer_start_weights(keep, 2.0, 2) == 2.0
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, position_ids=batch.position_ids).logits[:, :-1]
    ce = F.cross_entropy(logits.float().transpose(1, 2), batch.labels[:, 1:].clamp(min=0), reduction="none")
    return float(ce[opening].mean())


def test_a_larger_weight_learns_the_openings_faster(tiny_model_dir, tokenizer, toy_records, tmp_path) -> None:
    train, _ = _train_and_val(tokenizer, toy_records)
    batch = packed_batch(train, 128, tokenizer.pad_token_id)
    after = {}
    for weight in (1.0, 20.0):
        cfg = toy_sft_config(answer_start_weight=weight, answer_start_tokens=2, max_steps=3)
        model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
        sink = DirCheckpointSink(tmp_path / str(weight))
        TrainingLoop(cfg, model, tokenizer, device=torch.device("cpu"), sink=sink).run(train, [])
        after[weight] = _opening_loss(model.eval(), batch)
    assert after[20.0] < after[1.0]
