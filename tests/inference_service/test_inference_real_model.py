"""End-to-end checks on the real SmolLM2-135M-Instruct (slow: seconds to load, CPU decoding)."""

from __future__ import annotations

import pytest
from helpers_inference import (
    host,
    make_peft_adapter,
    peft_greedy,
    request,
    served_adapter,
    tiny_settings,
    tokens_of,
)

from inference_service.runtime import build_runtime
from lorafleet.base_model import read_base_model_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_adapter(tmp_path_factory, real_base_model_dir):
    return make_peft_adapter(real_base_model_dir, tmp_path_factory.mktemp("real-adapter") / "a", r=16, alpha=32.0,
                             targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                             rslora=False, seed=5)


@pytest.mark.parametrize("operands", ["fp32", "bf16", "int8"])
def test_bank_equals_peft_on_the_real_model_fp32(real_base_model_dir, real_adapter, operands, tmp_path):
    """fp32 base; the adapter exact (fp32 operands), rounded to bf16 (bf16 operands) or quantized to int8 after
    that (int8 operands), PEFT on the same copy."""
    spec = read_base_model_spec(real_base_model_dir)
    rt = build_runtime(real_base_model_dir, spec, tiny_settings(max_new_tokens_limit=64, lora_decode_operands=operands))
    rt.engine.start()
    try:
        a = host(rt, "real", real_adapter)
        req = request(rt, "The three primary colors are", adapter=a, max_tokens=16)
        got = tokens_of(rt.engine.submit(req).wait_sync(300))
        served = served_adapter(real_adapter, operands, tmp_path / "rounded")
        assert got == peft_greedy(real_base_model_dir, served, req.prompt_ids, 16)
    finally:
        rt.engine.stop()


def test_nf4_base_answers_a_chat_question(real_base_model_dir):
    from inference_service.engine.types import GenerationRequest, SamplingSpec
    from inference_service.request_parsing import PromptInput, encode_prompt

    spec = read_base_model_spec(real_base_model_dir)
    rt = build_runtime(real_base_model_dir, spec, tiny_settings(quantization="nf4", max_new_tokens_limit=64))
    assert type(rt.layers["model.layers.0.self_attn.q_proj"].base).__name__ == "Linear4bit"
    rt.engine.start()
    try:
        messages = (("user", "What is the capital of France?"),)
        ids = encode_prompt(rt.tokenizer, PromptInput(prompt=None, messages=messages))
        ev = rt.engine.submit(GenerationRequest("q", ids, SamplingSpec(max_tokens=24))).wait_sync(300)
        text = "".join(e.delta for e in ev)
        assert "Paris" in text, text
    finally:
        rt.engine.stop()
