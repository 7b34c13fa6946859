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
        torch.testing.assert_close(bank_layer(x), bank_layer.base(x) + s * (x @ A.T) @ B.T, rtol=1e-3, atol=1e-3)
    rt.bank.clear()
    rt.engine.start()
    with_adapter = tokens_of(rt.engine.submit(request(rt, "Hello there", adapter=a, max_tokens=6)).wait_sync(60))
    without = tokens_of(rt.engine.submit(request(rt, "Hello there", max_tokens=6)).wait_sync(60))
    assert len(with_adapter) == 6 and with_adapter != without
