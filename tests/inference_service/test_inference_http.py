"""The OpenAI-compatible HTTP front, called with the official ``openai`` client: the same replies as gRPC.

A live server (helpers_http.live_front) serves gRPC and HTTP over the tiny model and a SQLite
registry. Every reply over HTTP is compared with gRPC's ``Generate`` for the same request.
"""

from __future__ import annotations

import contextlib

import grpc
import httpx
import pytest
from helpers_http import live_front, slow_down, wait_until
from helpers_inference import tiny_settings

from inference_service.engine.types import FinishReason
from inference_service.routing import ROUTE_KEY_HEADER, takes_canary
from lorafleet.registry.models import RolloutMode, RolloutStage, RolloutState
from lorafleet.registry.store import Registry
from lorafleet.v1 import common_pb2, inference_pb2

PROMPT = "The quick brown fox jumps over"
CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_adapters, tiny_spec):
    """mlp-r8 v1 (production); attn-r4 v1 (production) and v2 (canary, other weights); a foreign adapter."""
    import dataclasses

    root = tmp_path_factory.mktemp("registry")
    reg = Registry(f"sqlite:///{root / 'registry.db'}", root / "artifacts")
    for name in ("mlp-r8", "attn-r4"):
        reg.register_version(name, tiny_adapters[name], base_spec=tiny_spec, lineage={"source": "imported"})
        reg.set_alias(name, "production", 1)
    reg.register_version("attn-r4", tiny_adapters["o-r2"], base_spec=tiny_spec, lineage={"source": "imported"})
    reg.set_alias("attn-r4", "canary", 2)
    other_base = dataclasses.replace(tiny_spec, fingerprint="sha256:" + "f" * 64)
    reg.register_version("foreign", tiny_adapters["attn-r4"], base_spec=other_base, lineage={"source": "imported"})
    reg.set_alias("foreign", "production", 1)
    yield reg
    reg.close()


@pytest.fixture()
def front(tiny_runtime_factory, registry):
    with live_front(tiny_runtime_factory(), registry, tiny_settings(alias_poll_s=0.0, live_sample_rate=0.0)) as f:
        yield f


def grpc_generate(front, adapter, *, prompt="", messages=(), **sampling) -> inference_pb2.GenerateResponse:
    with grpc.insecure_channel(front.grpc_address) as channel:
        request = inference_pb2.GenerateRequest(
            adapter=adapter, prompt=prompt, sampling=common_pb2.SamplingParams(**sampling),
            messages=[common_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in messages])
        return front.grpc_stub(channel).Generate(request, timeout=60)


def test_chat_completions_match_grpc_streamed_or_not(front):
    want = grpc_generate(front, "mlp-r8", messages=CHAT, max_tokens=12, temperature=0.0)
    client = front.client()
    raw = client.chat.completions.with_raw_response.create(
        model="mlp-r8", messages=CHAT, max_tokens=12, temperature=0, extra_headers={"x-request-id": "req-chat-1"})
    reply = raw.parse()
    assert raw.headers["x-request-id"] == "req-chat-1" and raw.headers["x-lorafleet-resolved-adapter"] == "mlp-r8@1"
    assert reply.id == "req-chat-1" and reply.object == "chat.completion" and reply.model == "mlp-r8@1"
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content == want.text
    assert reply.choices[0].finish_reason == ("length" if want.finish_reason == inference_pb2.FINISH_REASON_LENGTH
                                              else "stop")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        want.usage.prompt_tokens, want.usage.completion_tokens, want.usage.total_tokens)
    # the same conversation just went through gRPC on the same adapter: its whole blocks came from the prefix cache
    assert reply.usage.prompt_tokens_details.cached_tokens == (want.usage.prompt_tokens - 1) // 16 * 16 > 0
    chunks = list(client.chat.completions.create(model="mlp-r8", messages=CHAT, max_completion_tokens=12,
                                                 temperature=0, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == want.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1]) and len({c.id for c in chunks}) == 1
    wait_until(lambda: front.servicer.runtime.engine.pending == 0, timeout=5, what="engine idle")


def test_completions_match_grpc_streamed_or_not_with_sampling_fields(front):
    client = front.client()
    want = grpc_generate(front, "attn-r4", prompt=PROMPT, max_tokens=10, temperature=0.0)
    reply = client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=10, temperature=0)
    assert reply.object == "text_completion" and reply.choices[0].text == want.text and reply.model == "attn-r4@1"
    assert reply.usage.completion_tokens == want.usage.completion_tokens
    streamed = list(client.completions.create(model="attn-r4", prompt=[PROMPT], max_tokens=10, temperature=0,
                                              stream=True))
    assert "".join(c.choices[0].text for c in streamed) == want.text
    assert all(c.usage is None for c in streamed)  # no include_usage: no usage chunk
    # seeded sampling, top_p, top_k (a vLLM extra) and stop map to the same engine parameters
    sampled = grpc_generate(front, "attn-r4", prompt=PROMPT, max_tokens=10, temperature=0.9, top_p=0.95, top_k=40,
                            seed=7)
    got = client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=10, temperature=0.9, top_p=0.95,
                                    seed=7, extra_body={"top_k": 40})
    assert got.choices[0].text == sampled.text
    if len(want.text) > 6:
        stop = want.text[3:6]
        stopped = client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=10, temperature=0, stop=stop)
        assert stopped.choices[0].text == want.text[:want.text.find(stop)]
        assert stopped.choices[0].finish_reason == "stop"


def test_ignore_eos_and_min_tokens_reach_the_engine(front):
    """vLLM's load-test fields: ignore_eos runs to max_tokens; min_tokens holds the end back, as over gRPC."""
    client = front.client()
    full = client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=12, temperature=0,
                                     extra_body={"ignore_eos": True})
    assert full.usage.completion_tokens == 12 and full.choices[0].finish_reason == "length"
    want = grpc_generate(front, "attn-r4", prompt=PROMPT, max_tokens=12, temperature=0.0, min_tokens=9)
    got = client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=12, temperature=0,
                                    extra_body={"min_tokens": 9})
    assert got.choices[0].text == want.text and got.usage.completion_tokens == want.usage.completion_tokens >= 9


def test_model_takes_the_same_references_as_grpc(front):
    client = front.client()
    for model, answered in (("attn-r4@canary", "attn-r4@2"), ("attn-r4@2", "attn-r4@2"), ("attn-r4@1", "attn-r4@1"),
                            ("attn-r4@production", "attn-r4@1")):
        want = grpc_generate(front, model, prompt=PROMPT, max_tokens=6, temperature=0.0)
        reply = client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0)
        assert (reply.model, reply.choices[0].text) == (answered, want.text), model
    base = grpc_generate(front, "", prompt=PROMPT, max_tokens=6, temperature=0.0)
    reply = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0)
    assert (reply.model, reply.choices[0].text) == ("tiny", base.text)


def test_models_lists_the_base_and_every_adapter_reference(front):
    client = front.client()
    cards = {m.id: m for m in client.models.list()}
    assert list(cards) == ["tiny", "attn-r4", "attn-r4@canary", "attn-r4@production", "attn-r4@2", "attn-r4@1",
                           "mlp-r8", "mlp-r8@production", "mlp-r8@1"]  # no adapter made for another base
    assert cards["tiny"].parent is None and all(c.parent == "tiny" for i, c in cards.items() if i != "tiny")
    assert cards["attn-r4@canary"].root == "attn-r4@2" and cards["attn-r4"].root == "attn-r4@1"
    assert all(c.object == "model" and c.owned_by == "lorafleet" for c in cards.values())
    assert client.models.retrieve("attn-r4@canary").root == "attn-r4@2"
    assert client.models.retrieve("tiny").parent is None


@contextlib.contextmanager
def canary(registry, weight):
    record = registry.rollouts().create(rollout_id="ro-http", name="attn-r4", candidate_version=2,
                                        stages=[RolloutStage(RolloutMode.CANARY, weight)], sampling_rate=0.01,
                                        policy_name="test", policy={}, evaluation_id="", actor="test",
                                        allow_unpassed=True)
    try:
        yield record
    finally:
        registry.rollouts().finish("ro-http", RolloutState.ABORTED, reason="test over", actor="test")


def test_route_key_comes_from_the_header_or_the_user_field(front, registry):
    client = front.client()
    keys = [f"user-{i}" for i in range(12)]
    with canary(registry, 50.0) as ro:
        def answered(**kw):
            return client.completions.create(model="attn-r4", prompt=PROMPT, max_tokens=2, temperature=0, **kw).model

        want = {k: "attn-r4@2" if takes_canary(ro.id, k, 50.0) else "attn-r4@1" for k in keys}
        assert {k: answered(user=k) for k in keys} == want
        assert set(want.values()) == {"attn-r4@1", "attn-r4@2"}
        # the header wins over ``user``
        assert {k: answered(user="someone-else", extra_headers={ROUTE_KEY_HEADER: k}) for k in keys} == want


def test_client_disconnect_cancels_the_engine_request(front):
    rt = front.servicer.runtime
    slow_down(rt, 0.05)  # 60 tokens take 3 s
    body = {"model": "mlp-r8", "prompt": PROMPT, "max_tokens": 60, "temperature": 0, "ignore_eos": True}
    with httpx.Client(base_url=front.base_url, timeout=30) as http:
        with http.stream("POST", "/completions", json={**body, "stream": True}) as response:
            assert response.status_code == 200
            next(response.iter_lines())  # the first token is out; now the client goes away
        wait_until(lambda: front.submitted[-1].outcome is not None, timeout=1.5, what="stream ended in the engine")
    assert front.submitted[-1].outcome == FinishReason.CANCELLED
    with httpx.Client(base_url=front.base_url, timeout=0.5) as http, pytest.raises(httpx.ReadTimeout):
        chat = {"model": "mlp-r8", "messages": CHAT, "max_tokens": 60, "temperature": 0, "ignore_eos": True}
        http.post("/chat/completions", json=chat)
    wait_until(lambda: front.submitted[-1].outcome is not None, timeout=1.5, what="request ended in the engine")
    assert front.submitted[-1].outcome == FinishReason.CANCELLED and len(front.submitted) == 2
    wait_until(lambda: rt.engine.pending == 0, timeout=5, what="engine idle")
