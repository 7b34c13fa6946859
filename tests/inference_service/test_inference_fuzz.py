"""InferenceService under generated hostile requests (tests/grpc_fuzz.py) on a real loopback server
running the tiny runtime (conftest.py: a 2-layer random Llama with the real tokenizer).

Bar: at least 2,000 requests, none answered INTERNAL or UNKNOWN, every status message at most
1 KiB, the server still SERVING afterwards, nothing written outside its home directory. Requests
are kept cheap: at most a few new tokens, short deadlines.
"""

from __future__ import annotations

from pathlib import Path

from grpc_fuzz import HOSTILE_TEXT, assert_serving, fuzz_service, snapshot
from hypothesis import strategies as st

from lorafleet.config import Settings
from lorafleet.registry.store import Registry
from lorafleet.server.background import BackgroundServer
from lorafleet.v1 import inference_pb2

EXAMPLES = 200  # x 10 calls


def test_inference_service_survives_fuzzing(tmp_path: Path, tiny_model_dir: Path, tiny_spec, tiny_adapters) -> None:
    settings = Settings.from_env(environ={}, home=tmp_path / "home", base_model=str(tiny_model_dir),
                                 quantization="none", device="cpu", adapter_slots=2, adapter_host_cache=4,
                                 max_batch_size=8, max_adapter_rank=32, max_new_tokens_limit=4, default_max_tokens=2,
                                 max_queue=32, alias_poll_s=0.5, log_format="text", log_level="WARNING")
    registry = Registry.from_settings(settings)
    for name, path in tiny_adapters.items():
        registry.register_version(name, path, base_spec=tiny_spec, lineage={"source": "imported"})
        registry.set_alias(name, "production", 1)
    refs = [*tiny_adapters, *(f"{n}@1" for n in tiny_adapters), "attn-r4@production", "mlp-r8@2"]
    prompts = st.sampled_from(["Hello", "The quick brown fox", "", "\x00", "a" * 4000, "😀" * 100]) | st.text(
        max_size=40)
    roles = st.sampled_from(["user", "assistant", "system", "tool", "", "a" * 100_000])
    overrides = {
        "lorafleet.v1.SamplingParams.max_tokens": st.sampled_from([0, 1, 2, 3, 4, 5, 2**31, 2**32 - 1]),
        "lorafleet.v1.GenerateRequest.prompt": prompts, "lorafleet.v1.GenerateStreamRequest.prompt": prompts,
        "lorafleet.v1.ChatMessage.role": roles,
        "lorafleet.v1.ChatMessage.content": st.sampled_from(["hi", "", "a" * 4000, *HOSTILE_TEXT[:20]]),
    }
    before = snapshot(tmp_path, skip=[settings.home])
    with BackgroundServer("inference", settings, port=0, metrics_port=0, registry=registry) as server:
        stats = fuzz_service(server.address, [inference_pb2.DESCRIPTOR.services_by_name["InferenceService"]],
                             examples=EXAMPLES, text_extra=refs, overrides=overrides, timeout=3.0)
        assert_serving(server.address)
    registry.close()
    print(f"\nInferenceService fuzz: {stats.summary()}")
    assert stats.requests >= 2000 and not stats.failures
    assert snapshot(tmp_path, skip=[settings.home]) == before
