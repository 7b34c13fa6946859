"""torch's int8 CPU kernels against the int4 base: one is faster at 16+ rows, but changes the answers. (Not taken.)

    python benchmarks/decode_int8.py [--out benchmarks/results/decode_int8.json]

The speed issue asks to compare int8 and int4 weight-only kernels with the int4 default. torch (and
torchao, whose CPU int8 weight-only path calls the same op) has two int8 kernels for a CPU:

* ``int8_weight_only``: ``aten._weight_int8pack_mm``, int8 weights with one scale per output channel,
  bf16 activations;
* ``w8a8_dynamic``: ``quantized.linear_dynamic`` (fbgemm, ``torch.ao.quantization.quantize_dynamic``
  with per-channel weights): int8 weights, and fp32 activations quantized to 8 bits per call with
  one scale for the whole input tensor.

Speed: the 30 layers' base matmuls with SmolLM2-135M's fused shapes (q|k|v, o, gate|up, down), at
1 / 4 / 16 / 32 / 64 rows, on one fresh thread with the server's OpenMP settings: the median of 12
steps after 3 warm-up steps, in ms, against the engine's int4 kernel (``quant.Int4Weight``, with the
fp32 -> bf16 -> fp32 casts the engine pays around it).

Quality, on the real model through transformers (fp32 reference, every linear layer but the head
replaced): the first 40 general and 20 over-refusal suite prompts (chat template), 48 greedy tokens
of the reference each; then, for each format, the teacher-forced share of positions where its top-1
token equals the reference's, the mean KL(reference || format) per position, and how many of the 60
free-running greedy answers are identical. int4 (group-32, as ``quant.Int4Weight`` quantizes) is
the control: the embedded model's weights come from a 4-bit GGUF, so group-32 int4 holds them
exactly and its answers equal the reference's.

Two more rows of the quality table keep the int4 weights and change only what each linear layer's input is
rounded to before its product: ``int4_bf16_activations`` (bf16: what the engine's int4 kernel multiplies)
and ``int4_q8_activations`` (8 bits per row and group of 32 inputs, ``x ≈ d·round(x/d)`` with
``d = max|x|/127``: llama.cpp's Q4_1 x Q8_1, the numerics an integer ``vpdpbusd`` kernel needs; torch has no
such CPU kernel, so only its answers are measured here). They say what 8-bit activations would cost the
answers against the bf16 activations served today.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_cli import median_ms, run_measurement  # noqa: E402
from bench_model import embedded_model_dir, suite_answers  # noqa: E402

SHAPES = [(576, 960), (576, 576), (576, 3072), (1536, 576)]  # (in, out) per fused projection
LAYERS = 30
ROWS = (1, 4, 16, 32, 64)
ANSWER_TOKENS = 48


def _kernels(torch, w) -> dict:
    """One callable per format for the weight ``w [out, in]`` (fp32 input, fp32 output)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from inference_service.model.quant import Int4Weight

    int4 = Int4Weight(w, device=torch.device("cpu"))
    scale = w.abs().amax(1) / 127
    q8 = (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    scale16 = scale.to(torch.bfloat16)
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
    lin.weight.data = w
    dyn = quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear: per_channel_dynamic_qconfig})[0]
    return {"int4": lambda x: int4.mm(x.to(torch.bfloat16)).float(),
            "int8_weight_only": lambda x: torch.ops.aten._weight_int8pack_mm(x.to(torch.bfloat16), q8, scale16).float(),
            "w8a8_dynamic": dyn}


def speed() -> dict:
    import torch

    weights = [torch.randn(n, k) * 0.02 for k, n in SHAPES * LAYERS]
    kernels = [_kernels(torch, w) for w in weights]
    out: dict = {}
    with torch.inference_mode():
        for rows in ROWS:
            xs = {k: torch.randn(rows, k) for k, _ in SHAPES}
            for fmt in kernels[0]:
                def step(fmt=fmt, xs=xs) -> None:
                    for (k, _), ks in zip(SHAPES * LAYERS, kernels):
                        ks[fmt](xs[k])
                out.setdefault(fmt, {})[rows] = median_ms(lambda _, step=step: step(), 15, 3)
    return out


def _q8_groups(torch, x):
    """``x`` rounded to 8 bits per row and group of 32 inputs: ``d·round(x/d)``, ``d = max|x|/127`` (0 stays 0)."""
    g = x.reshape(*x.shape[:-1], x.shape[-1] // 32, 32)
    d = g.abs().amax(-1, keepdim=True) / 127
    safe = torch.where(d > 0, d, torch.ones_like(d))
    return (torch.round(g / safe) * d).reshape(x.shape)


ACTIVATIONS = {"int4_bf16_activations": lambda torch, x: x.bfloat16().float(), "int4_q8_activations": _q8_groups}


def _replace_linears(torch, model, fmt: str):
    """``model`` with every linear layer but the head in ``fmt`` (int4 as group-32 quantize/dequantize; the
    ``ACTIVATIONS`` formats also round each layer's input)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from inference_service.model.quant import Int4Weight

    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in n]
    if fmt == "w8a8_dynamic":
        return quantize_dynamic(model, {n: per_channel_dynamic_qconfig for n in names})
    for n in names:
        lin = model.get_submodule(n)
        w = lin.weight.detach().float()
        if fmt == "int4" or fmt in ACTIVATIONS:
            approx = Int4Weight(w, device=torch.device("cpu")).dense().float()
        else:
            scale = w.abs().amax(1, keepdim=True) / 127
            approx = (w / scale).round().clamp(-127, 127) * scale
        with torch.no_grad():
            lin.weight.copy_(approx)
        if fmt in ACTIVATIONS:
            lin.register_forward_pre_hook(lambda _, args, act=ACTIVATIONS[fmt]: (act(torch, args[0]),))
    return model


def quality() -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = embedded_model_dir()
    tok = AutoTokenizer.from_pretrained(str(model_dir))

    def load():
        return AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    ref = load()
    answers = suite_answers(ref, tok, (("general.yaml", 40), ("over_refusal.yaml", 20)), ANSWER_TOKENS)
    with torch.inference_mode():
        seqs = [(n, full, ref(full).logits[0, n - 1:-1]) for n, full in answers]
    out = {}
    for fmt in ("int4", "int8_weight_only", "w8a8_dynamic", *ACTIVATIONS):
        model = _replace_linears(torch, load(), fmt)
        agree = total = same = 0
        kl = 0.0
        with torch.inference_mode():
            for n, full, ref_logits in seqs:
                logits = model(full).logits[0, n - 1:-1]
                agree += int((logits.argmax(-1) == ref_logits.argmax(-1)).sum())
                total += logits.shape[0]
                kl += float(torch.nn.functional.kl_div(logits.log_softmax(-1), ref_logits.log_softmax(-1),
                                                       log_target=True, reduction="sum"))
                free = model.generate(full[:, :n], max_new_tokens=ANSWER_TOKENS, do_sample=False)
                same += int(free.shape == full.shape and bool((free == full).all()))
        out[fmt] = {"top1_agreement": round(agree / total, 4), "mean_kl": round(kl / total, 5),
                    "identical_answers": f"{same}/{len(seqs)}"}
    return out


def measure() -> dict:
    import torch

    return {"threads": torch.get_num_threads(), "torch": torch.__version__,
            "speed_ms_30_layers_by_rows": speed(), "quality_vs_fp32": quality()}


def main() -> None:
    run_measurement(measure, __doc__, ROOT / "benchmarks" / "results" / "decode_int8.json")


if __name__ == "__main__":
    main()
