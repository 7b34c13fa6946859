"""PEFT's LoRA linear, with the LoRA branch as one autograd node: fewer passes over activations.

A LoRA linear computes (Hu et al. 2021)::

    y = W x + s · B A D(x),        s = alpha / r  (rsLoRA: alpha / √r)

with W frozen (fp32, or nf4 dequantized on the fly), A ∈ R^{r×d_in}, B ∈ R^{d_out×r} and
D LoRA dropout: D(x) = x ⊙ m / (1 - p), m_i ~ Bernoulli(1 - p). PEFT evaluates it as a chain of
separate tensors: clone(W x) (the 4-bit layer's defensive copy), B(A(D(x))), × s, + — each a
full pass over a [tokens × d_out] activation, and autograd saves a float copy of the mask. On a
CPU the GEMMs of a step already run near peak; the ~40 % of the step that is not a base GEMM is
mostly such memory-bound passes, so removing them is what is left to gain.

Here the branch is one ``torch.autograd.Function`` over ``(x, W x, A, B)``, with the dropout
scale folded into the GEMM's alpha (s' = s / (1 - p)) and m a 0/1 float mask:

    forward:   x_d = m ⊙ x;  h = x_d Aᵀ;  y = addmm(W x, h, Bᵀ, alpha=s')
    backward:  g_h = s' · g B;   ∂A = g_hᵀ x_d;   ∂B = s' · gᵀ h;   ∂x = m ⊙ (g_h A);   ∂(W x) = g

— forward, one pass over the [tokens × d_out] activation instead of four (clone, B h, × s, +);
backward, none for the scale — and the base layer's own
autograd (bitsandbytes' ``MatMul4Bit`` or ``F.linear``) still handles W. Same math as PEFT: the
tests compare outputs and gradients against PEFT's forward with the same masks.

Installed per module instance by ``use_fused_lora`` (training on CPU, next to the fast dropout
masks it draws from). Anything the fused path does not cover — merged or disabled adapters,
several active adapters, per-request ``adapter_names``, DoRA and other variants, a LoRA bias,
mixed dtypes, ``nn.Dropout`` masks — goes through PEFT's own ``forward`` unchanged.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainer_service.training.dropout import FastMaskDropout

if TYPE_CHECKING:
    from peft import PeftModel


class LoRABranch(torch.autograd.Function):
    """``base_out + s' · ((keep ⊙ x) Aᵀ) Bᵀ`` with ``keep`` 0/1 (or None: no dropout); gradients in
    the module docstring."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, base_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                keep: torch.Tensor | None, scale: float) -> torch.Tensor:
        d_in, d_out = a.shape[1], b.shape[0]
        x2 = x.reshape(-1, d_in)
        keep2 = keep.reshape(-1, d_in) if keep is not None else None
        xd = x2 if keep2 is None else x2 * keep2
        h = torch.mm(xd, a.t())
        out = torch.addmm(base_out.reshape(-1, d_out), h, b.t(), alpha=scale)
        ctx.save_for_backward(xd, h, a, b, keep2)
        ctx.scale, ctx.x_shape = scale, x.shape
        return out.view(base_out.shape)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        xd, h, a, b, keep2 = ctx.saved_tensors
        g = grad.reshape(-1, b.shape[0])
        grad_h = torch.mm(g, b).mul_(ctx.scale)  # [tokens, r]: small
        grad_x = grad_a = grad_b = None
        if ctx.needs_input_grad[2]:
            grad_a = torch.mm(grad_h.t(), xd)
        if ctx.needs_input_grad[3]:
            grad_b = torch.mm(h.t(), g).mul_(ctx.scale).t()  # (hᵀ g)ᵀ: BLAS reads g row-major, ~1.5× faster
        if ctx.needs_input_grad[0]:
            grad_xd = torch.mm(grad_h, a)
            grad_x = (grad_xd if keep2 is None else grad_xd.mul_(keep2)).view(ctx.x_shape)
        return grad_x, grad, grad_a, grad_b, None, None


def _fusable(layer: Any, x: torch.Tensor, kwargs: dict[str, Any]) -> str | None:
    """The one active adapter the fused path can run, or None to use PEFT's forward."""
    if layer.disable_adapters or layer.merged or kwargs.get("adapter_names") is not None:
        return None
    active = [n for n in layer.active_adapters if n in layer.lora_A]
    if len(active) != 1:
        return None
    name = active[0]
    a, b = layer.lora_A[name], layer.lora_B[name]
    if name in getattr(layer, "lora_variant", {}) or getattr(b, "bias", None) is not None:
        return None
    if not isinstance(layer.lora_dropout[name], (FastMaskDropout, nn.Identity)):
        return None
    if x.dtype != a.weight.dtype or b.weight.dtype != a.weight.dtype:
        return None
    return name


def fused_lora_forward(layer: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Drop-in ``forward`` for a PEFT LoRA ``Linear``/``Linear4bit`` instance."""
    name = _fusable(layer, x, kwargs)
    if name is None:
        return type(layer).forward(layer, x, *args, **kwargs)
    base_out = layer.base_layer(x, *args, **kwargs)
    if base_out.dtype != x.dtype:
        return type(layer).forward(layer, x, *args, **kwargs)
    dropout = layer.lora_dropout[name]
    scale = float(layer.scaling[name])
    keep = None
    if isinstance(dropout, FastMaskDropout) and dropout.training and dropout.p > 0.0:
        keep = dropout.keep_mask(x.shape).to(device=x.device, dtype=x.dtype)
        scale /= 1.0 - dropout.effective_p
    return LoRABranch.apply(x, base_out, layer.lora_A[name].weight, layer.lora_B[name].weight, keep, scale)


def use_fused_lora(peft_model: PeftModel) -> int:
    """Route every PEFT LoRA linear of the model through ``fused_lora_forward``; returns how many."""
    from peft.tuners.lora import LoraLayer

    fused = 0
    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and isinstance(getattr(module, "base_layer", None), nn.Linear):
            module.forward = types.MethodType(fused_lora_forward, module)
            fused += 1
    return fused
