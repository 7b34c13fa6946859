"""Anchor records (formats.py, objective.py): ``"anchor": true`` trains a record's answer tokens toward the base
model's next-token distribution (KL with the adapter disabled) instead of toward the written text."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from trainer_testkit import jsonl, toy_sft_config

from trainer_service.data.packing import packed_batch, padded_batch
from trainer_service.data.tokenize import IGNORE_INDEX
from trainer_service.data.validation import parse_jsonl, validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model
from trainer_service.training.objective import TokenLoss, TokenObjective


def _anchored(records: list[dict], every: int = 2) -> list[dict]:
    return [dict(r, anchor=True) if i % every == 0 else r for i, r in enumerate(records)]


def test_anchor_flags_are_parsed_on_every_sft_format() -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    for record in (chat, {"prompt": "a", "completion": "b"}, {"text": "plain text"}):
        parsed = parse_jsonl(jsonl([dict(record, anchor=True), record, dict(record, anchor=False)]))
        assert not parsed.issues
        assert [e.anchor for e in parsed.examples] == [True, False, False]
        # an anchored record and its plain twin are different examples, not duplicates
        assert parsed.examples[0].key() != parsed.examples[1].key()


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                       st.lists(st.booleans(), max_size=2), st.dictionaries(st.text(max_size=3), st.booleans(),
                                                                           max_size=2)))
def test_an_anchor_that_is_not_a_boolean_is_reported_with_its_line(value) -> None:
    good = {"prompt": "a", "completion": "b"}
    parsed = parse_jsonl(jsonl([good, dict(good, anchor=value), good]))
    assert [(i.line, i.code) for i in parsed.issues] == [(2, "bad_anchor")]
    assert "true or false" in parsed.issues[0].message
    assert [e.line for e in parsed.examples] == [1, 3]


def test_every_bad_anchor_is_reported_at_once_and_preference_records_refuse_it() -> None:
    pair = {"prompt": "q", "chosen": "yes", "rejected": "no"}
    parsed = parse_jsonl(jsonl([dict(pair, anchor=True), pair, dict(pair, anchor=1), dict(pair, anchor=False)]))
    assert [(i.line, i.code) for i in parsed.issues] == [(1, "bad_anchor"), (3, "bad_anchor")]
    assert "not to preference pairs" in parsed.issues[0].message
    assert [e.line for e in parsed.examples] == [2, 4]


@pytest.mark.parametrize("make", [packed_batch, padded_batch])
def test_the_batch_marks_exactly_the_anchor_examples_tokens(make, tokenizer, toy_records) -> None:
    report = validate_dataset(jsonl(_anchored(toy_records[:6], every=3)), tokenizer, max_seq_length=128)
    b = make(report.train, 128, tokenizer.pad_token_id)
    flags = torch.tensor([e.anchor for e in report.train])
    want = (b.example_index >= 0) & flags[b.example_index.clamp(min=0)]
    assert b.anchor is not None and torch.equal(b.anchor, want)
    assert int(b.anchor.sum()) == sum(e.num_tokens for e in report.train if e.anchor)
    plain = validate_dataset(jsonl(toy_records[:6]), tokenizer, max_seq_length=128)
    assert make(plain.train, 128, tokenizer.pad_token_id).anchor is None


def _losses(model, b) -> tuple[torch.Tensor, torch.Tensor]:
    """Per labelled token: cross-entropy against the labels and KL(base ‖ model), computed directly."""
    keep = b.labels[:, 1:] != IGNORE_INDEX
    with torch.no_grad():
        logits = model(input_ids=b.input_ids, position_ids=b.position_ids).logits[:, :-1].float()
        with model.disable_adapter():
            base = model(input_ids=b.input_ids, position_ids=b.position_ids).logits[:, :-1].float()
    ce = F.cross_entropy(logits.transpose(1, 2), b.labels[:, 1:].clamp(min=0), reduction="none")
    base_logp = F.log_softmax(base, -1)
    kl = (base_logp.exp() * (base_logp - F.log_softmax(logits, -1))).sum(-1)
    return ce * keep, kl * keep


def test_anchor_tokens_add_the_kl_to_the_base_and_the_rest_their_cross_entropy(tiny_model_dir, tokenizer,
                                                                              toy_records) -> None:
    report = validate_dataset(jsonl(_anchored(toy_records[:8])), tokenizer, max_seq_length=128)
    cfg = toy_sft_config()
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    objective = TokenObjective(cfg, model, tokenizer.pad_token_id, torch.device("cpu"))
    b = packed_batch(report.train, 128, tokenizer.pad_token_id)
    anchored = b.anchor[:, 1:]
    with torch.no_grad():
        fresh, _, _ = objective.loss_module(b.input_ids, b.labels, b.position_ids, None, b.anchor)
    ce, _ = _losses(model, b)
    # a fresh adapter (B = 0) is the base model: its anchors cost nothing
    torch.testing.assert_close(fresh, ce[~anchored].sum(), atol=1e-3, rtol=1e-5)
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0.0, 0.05)
    with torch.no_grad():
        moved, _, _ = objective.loss_module(b.input_ids, b.labels, b.position_ids, None, b.anchor)
        heavier, _, _ = TokenLoss(model, anchor_weight=3.0)(b.input_ids, b.labels, b.position_ids, None, b.anchor)
    ce, kl = _losses(model, b)
    assert float(kl[anchored].sum()) > 1e-3
    torch.testing.assert_close(moved, ce[~anchored].sum() + kl[anchored].sum(), atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(heavier, ce[~anchored].sum() + 3.0 * kl[anchored].sum(), atol=1e-3, rtol=1e-5)


def test_the_kl_gradient_reaches_only_the_adapter(tiny_model_dir, tokenizer, toy_records) -> None:
    report = validate_dataset(jsonl([dict(r, anchor=True) for r in toy_records[:4]]), tokenizer, max_seq_length=128)
    cfg = toy_sft_config()
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0.0, 0.05)
    objective = TokenObjective(cfg, model, tokenizer.pad_token_id, torch.device("cpu"))
    b = packed_batch(report.train, 128, tokenizer.pad_token_id)
    loss, _, _ = objective.loss_module(b.input_ids, b.labels, b.position_ids, None, b.anchor)
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and all("lora_" in n for n in grads)


def test_anchored_records_stay_near_the_base_while_the_others_learn(tiny_model_dir, tokenizer, toy_records,
                                                                  tmp_path) -> None:
    """The same data twice, its weather questions anchored the second time: they end nearer the base, and the
    colour codes are learnt as well as without anchors."""
    weather = [{"messages": [{"role": "user", "content": f"What is the weather like in town {i}?"},
                             {"role": "assistant", "content": "It is mild and dry today."}]} for i in range(16)]
    records = [r for pair in zip(toy_records[:16], weather) for r in pair]
    flags = [i % 2 == 1 for i in range(len(records))]  # the weather records
    probe = packed_batch(validate_dataset(jsonl(records), tokenizer, max_seq_length=128).train, 128,
                         tokenizer.pad_token_id)
    keep = probe.labels[:, 1:] != IGNORE_INDEX
    is_weather = torch.tensor(flags)[probe.example_index[:, 1:].clamp(min=0)] & keep
    kl_after, ce_after = {}, {}
    for anchored in (False, True):
        data = [dict(r, anchor=True) if anchored and f else r for r, f in zip(records, flags)]
        train = validate_dataset(jsonl(data), tokenizer, max_seq_length=128).train
        cfg = toy_sft_config(max_steps=4)
        model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
        sink = DirCheckpointSink(tmp_path / str(anchored))
        TrainingLoop(cfg, model, tokenizer, device=torch.device("cpu"), sink=sink).run(train, [])
        ce, kl = _losses(model.eval(), probe)
        kl_after[anchored] = float(kl[is_weather].mean())
        ce_after[anchored] = float(ce[keep & ~is_weather].mean())
    assert kl_after[True] < 0.5 * kl_after[False], kl_after
    assert ce_after[True] < 1.25 * ce_after[False], ce_after
