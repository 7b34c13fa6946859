"""bitsandbytes nf4 / int8 bases load and serve on this machine (CPU), with the bank on top."""

from __future__ import annotations

import pytest
import torch
from helpers_inference import host, request, tokens_of


@pytest.mark.parametrize("quantization,layer_type", [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_quantized_base_serves_adapters(tiny_runtime_factory, tiny_adapters, quantization, layer_type):
    rt = tiny_runtime_factory(quantization=quantization)
    bank_layer = rt.layers["model.layers.0.self_attn.q_proj"]
    assert type(bank_layer.base).__name__ == layer_type
    a = host(rt, "all-r16", tiny_adapters["all-r16"])
    # the bank adds exactly scale·(x·Aᵀ)·Bᵀ on top of the quantized base output
    x = torch.randn(1, 3, bank_layer.in_features)
    rt.bank.set_slots([rt.adapters.pin(a)], "cpu")
    with torch.no_grad():
        A, B, s = a.modules["model.layers.0.self_attn.q_proj"]
        A, B = A.float(), B.float()  # host copies are bf16 where the grouped kernel reads bf16 operands
        torch.testing.assert_close(bank_layer(x), bank_layer.base(x) + s * (x @ A.T) @ B.T, rtol=1e-3, atol=1e-3)
    rt.bank.clear()
    rt.engine.start()
    with_adapter = tokens_of(rt.engine.submit(request(rt, "Hello there", adapter=a, max_tokens=6)).wait_sync(60))
    without = tokens_of(rt.engine.submit(request(rt, "Hello there", max_tokens=6)).wait_sync(60))
    assert len(with_adapter) == 6 and with_adapter != without


def test_nf4_parts_run_as_one_packed_kernel_call_with_the_modules_numbers(tiny_runtime_factory):
    """q|k|v and gate|up stacked in bitsandbytes' CPU packing give each part's module output bit for bit,
    at one row (decode) and many (prefill), and the modules keep serving from views of the stack."""
    from bitsandbytes.functional import has_avx512bf16

    from inference_service.model.quant import PackedNf4Weight

    if not has_avx512bf16():
        pytest.skip("bitsandbytes' packed nf4 CPU kernel needs AVX512-BF16")
    rt = tiny_runtime_factory(quantization="nf4")
    layer = rt.model.layers[1]
    attn, mlp = "model.layers.1.self_attn.", "model.layers.1.mlp."
    groups = [(layer.qkv, ["q_proj", "k_proj", "v_proj"], attn), (layer.o, ["o_proj"], attn),
              (layer.gate_up, ["gate_proj", "up_proj"], mlp), (layer.down, ["down_proj"], mlp)]
    torch.manual_seed(0)
    for fused, names, prefix in groups:
        assert isinstance(fused, PackedNf4Weight)
        modules = [rt.layers[prefix + n].base for n in names]
        offset = 0
        for m in modules:  # each module's weight is its rows of the stack, not a second copy
            assert m.weight.data.data_ptr() == fused.packed[offset:].data_ptr()
            offset += int(m.out_features)
        for rows in (1, 5, 40):
            x = torch.randn(rows, fused.in_features)
            with torch.inference_mode():
                expected = torch.cat([m(x) for m in modules], dim=-1)
                got = fused.mm(x)
            assert got.dtype == torch.bfloat16 and got.shape == expected.shape
            assert torch.equal(got.float(), expected), (names, rows)


@pytest.mark.parametrize("quantization", ["nf4", "int8"])
def test_quantized_bases_on_a_cpu_pick_the_fp32_heads_greedy_token_through_the_rescored_head(
        tiny_runtime_factory, quantization):
    """bitsandbytes leaves the head (the tied embedding) in fp32: the engine ranks it (int8, or int4) and rescores
    the best candidates exactly, so the greedy token is still the fp32 head's."""
    from inference_service.model.lm_head import RescoredHead

    rt = tiny_runtime_factory(quantization=quantization)
    assert isinstance(rt.model.head, RescoredHead)
    torch.manual_seed(1)
    hidden = torch.randn(32, rt.model.hidden)
    with torch.inference_mode():
        exact = hidden @ rt.model.embed.t()
        assert torch.equal(rt.model.head.greedy(hidden), exact.argmax(dim=-1))
        logits = rt.model.head.logits(hidden)
        top = exact.topk(8, dim=-1).indices
        torch.testing.assert_close(logits.gather(1, top), exact.gather(1, top), rtol=1e-5, atol=1e-5)
