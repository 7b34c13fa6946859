"""DPO on a tiny random Llama: the loss at the reference, where gradients go, the log-probabilities,
the loss variants, training end to end, and SFT -> DPO from an adapter."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from trainer_testkit import jsonl, preference

from trainer_service.data.validation import validate_dataset
from trainer_service.training.checkpoints import DirCheckpointSink
from trainer_service.training.config import TrainingConfig
from trainer_service.training.dpo import PreferenceObjective, preference_loss
from trainer_service.training.loop import TrainingLoop
from trainer_service.training.model import build_peft_model

CPU = torch.device("cpu")


def _config(**kw) -> TrainingConfig:
    base = dict(adapter_name="toy", method="dpo", adapter_method="lora", r=8, alpha=16, dropout=0.0, epochs=3,
                batch_size=4, learning_rate=1e-2, warmup_ratio=0.0, lr_scheduler="constant",
                training_dataset_id="ds-x", max_seq_length=128, beta=0.1)
    base.update(kw)
    return TrainingConfig(**base)


def _pairs(tokenizer, records):
    report = validate_dataset(jsonl(records[:32]), tokenizer, max_seq_length=128, validation_data=jsonl(records[32:]))
    assert report.valid, report.issues
    return report.train, report.validation


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_loss_is_log_2_and_rewards_zero_when_the_policy_is_the_reference(tiny_model_dir, tokenizer,
                                                                         preference_records, method) -> None:
    train, val = _pairs(tokenizer, preference_records)
    cfg = _config(adapter_method=method, label_smoothing=0.2)
    model = build_peft_model(Path(tiny_model_dir), cfg, CPU)
    objective = PreferenceObjective(cfg, model, tokenizer.pad_token_id, CPU)
    train, val = objective.prepare(train, val, rank=0, world=1)
    assert all(math.isfinite(p.ref_chosen) and math.isfinite(p.ref_rejected) for p in train + val)
    ev = objective.evaluate(val)
    assert ev.metrics["validation_loss"] == pytest.approx(math.log(2), abs=1e-4)
    for key in ("rewards_chosen", "rewards_rejected", "reward_margin"):
        assert ev.metrics[f"validation_{key}"] == pytest.approx(0.0, abs=1e-4), key
    loss_sum, stats = objective.forward(objective.loss_module, objective.batch(train[:4]))  # training mode, no dropout
    assert float(loss_sum) / 4 == pytest.approx(math.log(2), abs=1e-4)
    assert torch.allclose(stats[:2], torch.zeros(2), atol=1e-4)


def test_gradients_reach_only_the_lora_parameters(tiny_model_dir, tokenizer, preference_records) -> None:
    train, val = _pairs(tokenizer, preference_records)
    cfg = _config()
    model = build_peft_model(Path(tiny_model_dir), cfg, CPU)
    with torch.no_grad():  # move off the reference so that every LoRA matrix gets a gradient
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    objective = PreferenceObjective(cfg, model, tokenizer.pad_token_id, CPU)
    train, _ = objective.prepare(train, val, rank=0, world=1)
    assert all(p.grad is None for p in model.parameters())  # the reference pass left no gradients
    loss_sum, _ = objective.forward(objective.loss_module, objective.batch(train[:4]))
    loss_sum.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    lora = {n for n, p in model.named_parameters() if "lora_" in n}
    assert with_grad == lora
    assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n in lora)
    assert all(not p.requires_grad for n, p in model.named_parameters() if n not in lora)


@pytest.mark.parametrize("packing", [True, False])
def test_sequence_log_probs_match_the_model_on_each_sequence_alone(tiny_model_dir, tokenizer, preference_records,
                                                                   packing) -> None:
    """Packed, a pair's prompt is computed once ([prompt, chosen] + the branch [last prompt token, rejected]);
    padded, each sequence has its row. Either way each answer's log-probability is the model's on it alone."""
    train, _ = _pairs(tokenizer, preference_records)
    model = build_peft_model(Path(tiny_model_dir), _config(), CPU).eval()
    objective = PreferenceObjective(_config(packing=packing), model, tokenizer.pad_token_id, CPU)
    pb = objective.batch(train[:3])
    separate = sum(p.num_tokens for p in train[:3])
    assert pb.batch.num_tokens == (separate - sum(p.shared - 1 for p in train[:3]) if packing else separate)
    assert all(p.shared > 5 for p in train[:3])
    with torch.no_grad():
        packed, counts = objective._log_probs(objective.loss_module, pb)
        for k, seq in enumerate(s for p in train[:3] for s in (p.chosen, p.rejected)):
            ids, labels = torch.tensor([seq.input_ids]), torch.tensor([seq.labels])
            logits = model(input_ids=ids).logits[0, :-1].float()
            keep = labels[0, 1:] != -100
            alone = -F.cross_entropy(logits[keep], labels[0, 1:][keep], reduction="sum")
            torch.testing.assert_close(packed[k], alone, atol=1e-4, rtol=1e-4)
            assert counts[k] == seq.num_label_tokens - (1 if seq.labels[0] != -100 else 0)


def test_loss_variants_follow_their_formulas() -> None:
    pw, pl = torch.tensor([-3.0, -1.0]), torch.tensor([-4.0, -0.5])
    rw, rl = torch.tensor([-3.5, -1.2]), torch.tensor([-3.0, -0.7])
    h = (pw - rw) - (pl - rl)
    beta, eps = 0.5, 0.1
    sig = -F.logsigmoid(beta * h)
    losses, r_w, r_l = preference_loss(pw, pl, rw, rl, beta=beta)
    torch.testing.assert_close(losses, sig)
    torch.testing.assert_close(r_w, beta * (pw - rw))
    torch.testing.assert_close(r_l, beta * (pl - rl))
    cdpo, _, _ = preference_loss(pw, pl, rw, rl, beta=beta, label_smoothing=eps)
    torch.testing.assert_close(cdpo, (1 - eps) * sig + eps * -F.logsigmoid(-beta * h))
    robust, _, _ = preference_loss(pw, pl, rw, rl, beta=beta, loss_type="robust", label_smoothing=eps)
    torch.testing.assert_close(robust, ((1 - eps) * sig - eps * -F.logsigmoid(-beta * h)) / (1 - 2 * eps))
    ipo, _, _ = preference_loss(pw, pl, rw, rl, beta=beta, loss_type="ipo")
    torch.testing.assert_close(ipo, (h - 1 / (2 * beta)) ** 2)
    with pytest.raises(ValueError):
        preference_loss(pw, pl, rw, rl, beta=beta, loss_type="hinge")


def test_dpo_training_prefers_the_chosen_answers(tiny_model_dir, tokenizer, preference_records, tmp_path) -> None:
    train, val = _pairs(tokenizer, preference_records)
    cfg = _config(epochs=4, best_metric="margin", sft_weight=0.1)
    model = build_peft_model(Path(tiny_model_dir), cfg, CPU)
    events: list[tuple[str, dict]] = []
    result = TrainingLoop(cfg, model, tokenizer, device=CPU, sink=DirCheckpointSink(tmp_path),
                          emit=lambda k, p: events.append((k, p))).run(train, val)
    m = result.metrics
    assert m["initial_validation_reward_margin"] == pytest.approx(0.0, abs=1e-4)
    assert m["validation_reward_accuracy"] >= 0.9 and m["validation_reward_margin"] > 0.5
    assert m["validation_rewards_chosen"] > m["validation_rewards_rejected"]
    progress = [p for k, p in events if k == "progress"]
    assert [p["step"] for p in progress] == list(range(1, 33))
    assert {"reward_margin", "reward_accuracy", "rewards_chosen", "rewards_rejected"} <= set(progress[-1])
    assert progress[-1]["reward_accuracy"] > progress[0]["reward_accuracy"]
    evals = [p for k, p in events if k == "evaluation"]
    best = max(evals[1:], key=lambda e: e["validation_reward_margin"])
    assert result.metrics["best_step"] == best["step"] and result.adapter_dir.name == f"step-{best['step']:06d}"


def test_dpo_from_an_sft_adapter_uses_it_as_start_and_reference(tiny_model_dir, tokenizer, toy_records,
                                                                preference_records, tmp_path) -> None:
    sft_cfg = _config(method="sft", epochs=1, batch_size=8)
    sft = build_peft_model(Path(tiny_model_dir), sft_cfg, CPU)
    report = validate_dataset(jsonl(toy_records), tokenizer, max_seq_length=128)
    adapter = TrainingLoop(sft_cfg, sft, tokenizer, device=CPU, sink=DirCheckpointSink(tmp_path / "sft"),
                           ).run(report.train, []).adapter_dir
    train, val = _pairs(tokenizer, preference_records)
    cfg = _config(init_from="toy@1", dropout=0.1)
    model = build_peft_model(Path(tiny_model_dir), cfg, CPU, init_adapter_dir=adapter)
    assert model.peft_config["default"].lora_dropout == 0.1
    start = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    assert any(p.abs().sum() > 0 for p in start.values())  # the SFT adapter, not a fresh one
    objective = PreferenceObjective(cfg, model, tokenizer.pad_token_id, CPU)
    train, val = objective.prepare(train, val, rank=0, world=1)
    with torch.no_grad(), model.disable_adapter():
        base = objective._log_probs(objective.loss_module, objective.batch(val[:2]))[0]
    refs = torch.tensor([v for p in val[:2] for v in (p.ref_chosen, p.ref_rejected)], dtype=base.dtype)
    assert not torch.allclose(refs, base, atol=1e-3)  # the reference is the SFT adapter, not the base
    assert objective.evaluate(val).metrics["validation_loss"] == pytest.approx(math.log(2), abs=1e-4)


def test_preference_data_is_validated_line_by_line(tokenizer) -> None:
    good = preference("Hi", "Hello!", "Go away.")
    bad = [
        good,
        {"messages": [{"role": "user", "content": "Hi"}], "chosen": {"role": "assistant", "content": "Hello"},
         "rejected": "No"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x"}], "chosen": "a",
         "rejected": "a"},
        {"prompt": "Hi", "chosen": "", "rejected": {"role": "user", "content": "x"}},
        {"chosen": "a", "rejected": "b"},
        {"messages": [{"role": "user", "content": "Hi"}], "completion": "x"},
        preference("A long one", "word " * 200, "no"),
        good,
    ]
    report = validate_dataset(jsonl(bad) + b"{oops\n", tokenizer, max_seq_length=64)
    assert not report.valid
    assert [(i.line, i.code) for i in report.issues] == [
        (3, "same_answers"), (3, "bad_messages"), (4, "bad_chosen"), (4, "bad_rejected"), (5, "bad_prompt"),
        (6, "mixed_format"), (7, "too_long"), (8, "duplicate"), (9, "bad_json")]
    assert "chosen sequence" in next(i.message for i in report.issues if i.code == "too_long")
    assert report.format.value == "preference" and report.stats.num_examples == 4


def test_shared_prefix_layout_gives_the_same_gradients(tiny_model_dir, tokenizer, preference_records) -> None:
    train, _ = _pairs(tokenizer, preference_records)
    model = build_peft_model(Path(tiny_model_dir), _config(), CPU)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    grads = []
    for packing in (True, False):
        objective = PreferenceObjective(_config(packing=packing), model, tokenizer.pad_token_id, CPU)
        pairs, _ = objective.prepare(train[:4], [], rank=0, world=1)
        model.zero_grad(set_to_none=True)
        loss_sum, _ = objective.forward(objective.loss_module, objective.batch(pairs))
        loss_sum.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, g in grads[0].items():
        torch.testing.assert_close(g, grads[1][name], atol=1e-5, rtol=1e-4)
