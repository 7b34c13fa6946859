"""The bank computes what PEFT computes: same greedy tokens per adapter, alone and in mixed batches.

With ``lora_decode_operands=bf16`` (the default on a base that is not 4-bit) the engine serves each adapter
rounded to bf16, exactly: its greedy tokens are PEFT's on the rounded adapter. With ``int8`` each rank component
of the rounded adapter is quantized to int8 on its own absmax, and the greedy tokens are PEFT's on that quantized
adapter. (How far rounding moves a delta: within 2^-7 of the fp32 delta's largest entry,
``test_inference_decode_plan.py``.)"""

from __future__ import annotations

import pytest
from helpers_inference import host, peft_greedy, request, served_adapter, tokens_of

PROMPTS = ["Hello there, how are", "The capital of France is a city that", "1 2 3 4",
           "Once upon a time in a land far away there lived a"]


@pytest.mark.parametrize("operands", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("name", ["attn-r4", "mlp-r8", "all-r16", "o-r2"])
def test_greedy_tokens_equal_peft_for_each_adapter(tiny_runtime_factory, tiny_model_dir, tiny_adapters, name,
                                                   operands, tmp_path):
    rt = tiny_runtime_factory(lora_decode_operands=operands)
    rt.engine.start()
    adapter = host(rt, name, tiny_adapters[name])
    req = request(rt, PROMPTS[1], adapter=adapter, max_tokens=12)
    got = tokens_of(rt.engine.submit(req).wait_sync(60))
    served = served_adapter(tiny_adapters[name], operands, tmp_path / name)
    want = peft_greedy(tiny_model_dir, served, req.prompt_ids, 12)
    assert got == want
    # the adapter matters: the base model alone decodes differently
    assert got != peft_greedy(tiny_model_dir, None, req.prompt_ids, 12)


def test_each_row_of_a_mixed_batch_equals_the_request_alone(tiny_runtime_factory, tiny_adapters):
    names = list(tiny_adapters) + [None]
    # alone: one request at a time
    solo = tiny_runtime_factory(max_batch_size=8)
    solo.engine.start()
    alone = {}
    for i, n in enumerate(names):
        a = host(solo, n, tiny_adapters[n]) if n else None
        alone[i] = tokens_of(solo.engine.submit(request(solo, PROMPTS[i % 4], adapter=a, max_tokens=10)).wait_sync(60))
    # together: all queued before the worker starts -> one mixed prefill group, one mixed batch
    rt = tiny_runtime_factory(max_batch_size=8)
    adapters = {n: host(rt, n, tiny_adapters[n]) if n else None for n in names}
    handles = [rt.engine.submit(request(rt, PROMPTS[i % 4], adapter=adapters[n], max_tokens=10))
               for i, n in enumerate(names)]
    rt.engine.start()
    together = {i: tokens_of(h.wait_sync(60)) for i, h in enumerate(handles)}
    assert together == alone
    assert rt.engine.steps <= 12  # decoded together (10 tokens), not one after another
    assert len({tuple(t) for t in alone.values()}) == len(names)  # adapters really differ


def test_seeded_sampling_is_reproducible_and_batch_independent(tiny_runtime_factory, tiny_adapters):
    rt = tiny_runtime_factory()
    rt.engine.start()
    a = host(rt, "all-r16", tiny_adapters["all-r16"])
    kw = dict(adapter=a, max_tokens=12, temperature=1.0, top_p=0.95, top_k=50, seed=1234)
    first = tokens_of(rt.engine.submit(request(rt, PROMPTS[0], **kw)).wait_sync(60))
    # again, this time sharing the batch with other sampled requests
    handles = [rt.engine.submit(request(rt, PROMPTS[0], **kw))]
    handles += [rt.engine.submit(request(rt, PROMPTS[i], adapter=a, max_tokens=12, temperature=1.0, seed=i))
                for i in (1, 2)]
    second = tokens_of(handles[0].wait_sync(60))
    for h in handles[1:]:
        h.wait_sync(60)
    other_seed = tokens_of(rt.engine.submit(request(rt, PROMPTS[0], **{**kw, "seed": 99})).wait_sync(60))
    assert first == second
    assert other_seed != first
