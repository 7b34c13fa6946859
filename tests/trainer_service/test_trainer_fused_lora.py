"""The fused LoRA branch computes PEFT's LoRA linear: same outputs, same gradients, same fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from trainer_testkit import jsonl

from trainer_service.data.packing import make_batch
from trainer_service.data.validation import validate_dataset
from trainer_service.training.config import TrainingConfig
from trainer_service.training.dropout import FastMaskDropout, use_fast_mask_dropout
from trainer_service.training.fused_lora import LoRABranch, fused_lora_forward, use_fused_lora
from trainer_service.training.loop import TokenLoss
from trainer_service.training.model import build_peft_model


@settings(max_examples=40, deadline=None)
@given(tokens=st.integers(1, 17), d_in=st.integers(1, 12), d_out=st.integers(1, 12), r=st.integers(1, 4),
       p=st.sampled_from([0.0, 0.1, 0.5]), seed=st.integers(0, 2**16), x_grad=st.booleans())
def test_branch_is_the_lora_formula(tokens, d_in, d_out, r, p, seed, x_grad) -> None:
    """y = W x + s/(1-p) · B A (m ⊙ x), and autograd of that formula gives the same gradients."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, tokens, d_in, generator=g, dtype=torch.float64).requires_grad_(x_grad)
    w = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    a = torch.randn(r, d_in, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(d_out, r, generator=g, dtype=torch.float64, requires_grad=True)
    keep = (torch.rand(2, tokens, d_in, generator=g) >= p).to(torch.float64) if p else None
    scale = 1.7 / (1 - p)
    up = torch.randn(2, tokens, d_out, generator=g, dtype=torch.float64)

    def grads(fn):
        for t in (x, a, b):
            t.grad = None
        y = fn()
        y.backward(up)
        return y.detach(), *(t.grad.clone() if t.grad is not None else None for t in (x, a, b))

    masked = (lambda t: t * keep) if keep is not None else (lambda t: t)
    want = grads(lambda: x @ w.t() + scale * (masked(x) @ a.t()) @ b.t())
    got = grads(lambda: LoRABranch.apply(x, x @ w.t(), a, b, keep, scale))
    for expected, actual in zip(want, got):
        assert (expected is None) == (actual is None)
        if expected is not None:
            torch.testing.assert_close(actual, expected)


def _batch(tokenizer, toy_records):
    report = validate_dataset(jsonl(toy_records[:8]), tokenizer, max_seq_length=128)
    assert report.valid, report.issues
    return make_batch(report.train, max_len=128, pad_id=tokenizer.pad_token_id, packing=True)


def _replay_masks(model) -> None:
    """Make every FastMaskDropout return, call by call, the masks of its previous pass."""
    for module in model.modules():
        if isinstance(module, FastMaskDropout):
            drawn, replay, draw = [], [], module.keep_mask

            def keep_mask(shape, value=1.0, _draw=draw, _drawn=drawn, _replay=replay):
                if _replay:
                    return _replay.pop(0) * value
                mask = _draw(shape)
                _drawn.append(mask)
                return mask * value

            module.keep_mask = keep_mask
            module._replay_state = (drawn, replay)


def _rewind(model) -> None:
    for module in model.modules():
        if isinstance(module, FastMaskDropout):
            drawn, replay = module._replay_state
            replay[:] = drawn
            drawn.clear()


@pytest.mark.parametrize("method, dtype", [("lora", "float32"), ("qlora", "float32"), ("qlora", "bfloat16")])
def test_fused_model_matches_peft_loss_and_gradients(tiny_model_dir, tokenizer, toy_records, method, dtype) -> None:
    cfg = TrainingConfig(adapter_name="f", adapter_method=method, r=4, alpha=8, dropout=0.2,
                         training_dataset_id="ds-x", compute_dtype=dtype)
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu"))
    torch.manual_seed(3)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)  # PEFT starts B at 0; non-zero B makes every gradient non-trivial
    assert use_fast_mask_dropout(model) == 14
    _replay_masks(model)
    loss_module = TokenLoss(model).train()
    b = _batch(tokenizer, toy_records)
    lora_params = {n: p for n, p in model.named_parameters() if p.requires_grad}

    def run():
        model.zero_grad(set_to_none=True)
        loss, _, _ = loss_module(b.input_ids, b.labels, b.position_ids, b.attention_mask)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in lora_params.items()}

    peft_loss, peft_grads = run()
    _rewind(model)
    assert use_fused_lora(model) == 14
    fused_loss, fused_grads = run()
    # fp32: the same sums in another order, ~1e-6 apart. bf16 compute: a last-bit difference in the
    # LoRA branch can flip the bf16 rounding (2⁻⁹) of a later base matmul's input: ~1e-4 on the
    # loss, ~0.5 % of a gradient's norm.
    tol = 1e-5 if dtype == "float32" else 4e-3
    torch.testing.assert_close(fused_loss, peft_loss, rtol=tol, atol=0.0)
    assert peft_grads.keys() == fused_grads.keys() and len(peft_grads) == 28
    for name, grad in peft_grads.items():
        assert grad.abs().sum() > 0, name
        assert (fused_grads[name] - grad).norm() <= 5 * tol * grad.norm(), name


def test_unfusable_calls_take_peft_path(tiny_model_dir, tokenizer, toy_records) -> None:
    cfg = TrainingConfig(adapter_name="f", adapter_method="lora", r=4, alpha=8, dropout=0.0, training_dataset_id="ds-x")
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu")).eval()
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)
    b = _batch(tokenizer, toy_records)
    with torch.no_grad():
        reference = model(input_ids=b.input_ids, position_ids=b.position_ids).logits
        with model.disable_adapter():
            base = model(input_ids=b.input_ids, position_ids=b.position_ids).logits
        use_fused_lora(model)
        fused = model(input_ids=b.input_ids, position_ids=b.position_ids).logits
        with model.disable_adapter():
            fused_disabled = model(input_ids=b.input_ids, position_ids=b.position_ids).logits
        model.merge_adapter()
        merged = model(input_ids=b.input_ids, position_ids=b.position_ids).logits
        model.unmerge_adapter()
    assert not torch.allclose(reference, base, atol=1e-3)  # the adapter does change the output
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(fused_disabled, base)
    torch.testing.assert_close(merged, reference, rtol=1e-4, atol=1e-3)


def test_dropout_module_outside_the_fast_path_falls_back(tiny_model_dir) -> None:
    """An nn.Dropout (e.g. on CUDA, where the fast masks are not installed) keeps PEFT's forward."""
    cfg = TrainingConfig(adapter_name="f", adapter_method="lora", r=4, alpha=8, dropout=0.5, training_dataset_id="ds-x")
    model = build_peft_model(Path(tiny_model_dir), cfg, torch.device("cpu")).train()
    layer = model.get_base_model().model.layers[0].self_attn.q_proj
    calls = []
    layer.lora_dropout["default"].register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(1, 5, layer.in_features)
    torch.manual_seed(0)
    want = type(layer).forward(layer, x)
    torch.manual_seed(0)
    got = fused_lora_forward(layer, x)
    torch.testing.assert_close(got, want)
    assert len(calls) == 2  # PEFT's own dropout ran both times
