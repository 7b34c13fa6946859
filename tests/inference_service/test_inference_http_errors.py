"""The HTTP front's refusals: OpenAI-shaped errors with the right status, and nothing reaches the engine.

Each bad request is sent with the official ``openai`` client where it can express it (and with
httpx for what it cannot: malformed JSON, oversized bodies, odd headers); every answer must be
``{"error": {"message", "type", "param", "code"}}`` with the matching status, and the engine must
not have been handed the request (``LiveFront.submitted``).
"""

from __future__ import annotations

import httpx
import openai
import pytest
from helpers_http import live_front, wait_until
from helpers_inference import tiny_settings
from prometheus_client import REGISTRY

from lorafleet.registry.store import Registry

PROMPT = "The quick brown fox jumps over"
CHAT = [{"role": "user", "content": "Hi!"}]
LIMIT = 4096


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_adapters, tiny_spec):
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(f"sqlite:///{root / 'registry.db'}", root / "artifacts")
    reg.register_version("mlp-r8", tiny_adapters["mlp-r8"], base_spec=tiny_spec, lineage={"source": "imported"})
    reg.set_alias("mlp-r8", "production", 1)
    yield reg
    reg.close()


@pytest.fixture()
def front(tiny_runtime_factory, registry):
    with live_front(tiny_runtime_factory(), registry, tiny_settings(http_max_body_bytes=LIMIT)) as f:
        yield f


def chat(**kw):
    return {"model": "mlp-r8", "messages": CHAT, "max_tokens": 4, **kw}


def completion(**kw):
    return {"model": "mlp-r8", "prompt": PROMPT, "max_tokens": 4, **kw}


# (endpoint, body, status, param, code)
BAD_REQUESTS = [
    ("chat", chat(model="nope"), 404, "model", "model_not_found"),
    ("chat", chat(model="nope@3"), 404, "model", "model_not_found"),
    ("chat", chat(model="Bad Name!"), 400, "model", None),
    ("chat", chat(model=""), 400, "model", "missing_required_parameter"),
    ("chat", {"model": "mlp-r8"}, 400, "messages", "missing_required_parameter"),
    ("chat", chat(messages=[]), 400, "messages", "invalid_value"),
    ("chat", chat(temperature="hot"), 400, "temperature", "invalid_type"),
    ("chat", chat(messages=[{"role": "robot", "content": "x"}]), 400, "messages[0].role", None),
    ("chat", chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
     400, "messages[0].content[0]", "unsupported_parameter"),
    ("chat", chat(temperature=-0.5), 400, "temperature", None),
    ("chat", chat(temperature=11), 400, "temperature", None),
    ("chat", chat(top_p=0), 400, "top_p", None),
    ("chat", chat(n=2), 400, "n", "unsupported_parameter"),
    ("chat", chat(max_tokens=0), 400, "max_tokens", None),
    ("chat", chat(max_tokens=None, max_completion_tokens=10_000), 400, "max_completion_tokens", None),
    ("chat", chat(max_tokens=4, max_completion_tokens=5), 400, "max_completion_tokens", None),
    ("chat", chat(stop=[str(i) for i in range(9)]), 400, "stop", None),
    ("chat", chat(seed=-1), 400, "seed", None),
    ("chat", chat(max_tokens=4, min_tokens=5), 400, "min_tokens", None),
    ("chat", chat(min_tokens=-1), 400, "min_tokens", None),
    ("chat", chat(logprobs=True), 400, "logprobs", "unsupported_parameter"),
    ("chat", chat(tools=[{"type": "function", "function": {"name": "f"}}]), 400, "tools", "unsupported_parameter"),
    ("chat", chat(presence_penalty=0.5), 400, "presence_penalty", "unsupported_parameter"),
    ("chat", chat(response_format={"type": "json_object"}), 400, "response_format", "unsupported_parameter"),
    ("chat", chat(stream_options={"include_usage": True}), 400, "stream_options", None),
    ("chat", chat(user="u" * 300), 400, "user", None),
    ("chat", chat(cache_salt="s" * 257), 400, "cache_salt", None),
    ("completion", completion(cache_salt="tenant\x00"), 400, "cache_salt", None),
    ("completion", completion(prompt=["a", "b"]), 400, "prompt", "unsupported_parameter"),
    ("completion", completion(prompt=[1, 2, 3]), 400, "prompt", "unsupported_parameter"),
    ("completion", completion(prompt=""), 400, "prompt", None),
    ("completion", completion(prompt="word " * 300), 400, "prompt", None),  # longer than the context
    ("completion", completion(echo=True), 400, "echo", "unsupported_parameter"),
    ("completion", completion(best_of=3), 400, "best_of", "unsupported_parameter"),
]


def assert_openai_error(response: httpx.Response, status: int, param: str | None, code: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["param"], error["code"]) == (param, code), error
    assert error["message"] and error["type"]
    assert response.headers["x-request-id"]
    return error


def test_bad_requests_get_openai_errors_and_never_reach_the_engine(front):
    with httpx.Client(base_url=front.base_url, timeout=30) as http:
        for endpoint, body, status, param, code in BAD_REQUESTS:
            path = "/chat/completions" if endpoint == "chat" else "/completions"
            assert_openai_error(http.post(path, json=body), status, param, code)
            if param != "stream_options":  # streamed, the same request is refused the same way, before any event
                assert_openai_error(http.post(path, json={**body, "stream": True}), status, param, code)
        assert front.submitted == [] and front.servicer.runtime.engine.pending == 0
        ok = http.post("/chat/completions", json=chat(metadata={"k": "v"}, store=False, some_future_field=1))
        assert ok.status_code == 200 and len(front.submitted) == 1  # known no-op and unknown fields are accepted


def test_malformed_and_oversized_bodies_are_refused_unread(front):
    with httpx.Client(base_url=front.base_url, timeout=30) as http:
        assert_openai_error(http.post("/chat/completions", content=b'{"model": "mlp-r8", '), 400, None, "invalid_json")
        assert_openai_error(http.post("/chat/completions", content=b"\xff\xfe"), 400, None, "invalid_json")
        assert_openai_error(http.post("/completions", json=["not", "an", "object"]), 400, None, "invalid_json")
        big = completion(prompt="x" * LIMIT)
        assert_openai_error(http.post("/completions", json=big), 413, None, "request_too_large")

        def chunked():  # no Content-Length: the limit applies while reading
            yield b'{"model": "mlp-r8", "prompt": "'
            for _ in range(LIMIT // 512 + 1):
                yield b"x" * 512
            yield b'"}'

        assert_openai_error(http.post("/completions", content=chunked()), 413, None, "request_too_large")
        assert_openai_error(http.post("/completions", json=completion(), headers={"x-request-id": "a\tb"}),
                            400, "x-request-id", None)
        assert_openai_error(http.get("/nowhere"), 404, None, "unknown_url")
        assert_openai_error(http.get("/chat/completions"), 405, None, "method_not_allowed")
        assert_openai_error(http.get("/models/nope"), 404, "model", "model_not_found")
    assert front.submitted == []


def test_the_official_client_raises_its_typed_errors(front):
    client = front.client()
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=CHAT)
    assert err.value.body["param"] == "model" and err.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="mlp-r8", messages=CHAT, n=2)
    assert err.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="mlp-r8", prompt=PROMPT, temperature=-1)
    assert err.value.body["param"] == "temperature"
    assert front.submitted == []


def metric(name, labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_http_metrics_count_requests_by_route_and_status(front):
    labels = {"method": "POST", "route": "/v1/completions"}
    before = {s: metric("lorafleet_http_requests_total", {**labels, "status": s}) for s in ("200", "400")}
    count = metric("lorafleet_http_request_duration_seconds_count", labels)
    client = front.client()
    client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2)
    list(client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2, stream=True))
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="mlp-r8", prompt=PROMPT, n=3)
    assert metric("lorafleet_http_requests_total", {**labels, "status": "200"}) - before["200"] == 2
    assert metric("lorafleet_http_requests_total", {**labels, "status": "400"}) - before["400"] == 1
    assert metric("lorafleet_http_request_duration_seconds_count", labels) - count == 3


def test_a_full_queue_answers_429_with_retry_after(tiny_runtime_factory, registry):
    rt = tiny_runtime_factory(max_queue=1)
    with live_front(rt, registry, tiny_settings(max_queue=1), start_engine=False) as front:
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            # the engine is not started: the first request holds the only queue place
            with http.stream("POST", "/completions", json=completion(stream=True)) as held:
                assert held.status_code == 200
                wait_until(lambda: len(front.submitted) == 1, what="first request queued")
                refused = http.post("/completions", json=completion())
                assert_openai_error(refused, 429, None, "queue_full")
                assert refused.headers["retry-after"] == "1"
                with pytest.raises(openai.RateLimitError):
                    front.client().completions.create(model="mlp-r8", prompt=PROMPT)
            wait_until(lambda: front.submitted[0].cancelled, what="held request cancelled on disconnect")
        assert len(front.submitted) == 1


def test_bearer_tokens_guard_the_api_and_read_only_tokens_may_generate(tiny_runtime_factory, registry):
    settings = tiny_settings(auth_tokens="full-secret,read-secret:read")
    with live_front(tiny_runtime_factory(), registry, settings) as front:
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            missing = assert_openai_error(http.post("/completions", json=completion()), 401, None, "invalid_api_key")
            assert "Bearer" in missing["message"]
            assert http.post("/completions", json=completion()).headers["www-authenticate"] == "Bearer"
            assert_openai_error(http.get("/models", headers={"authorization": "Basic abc"}), 401, None,
                                "invalid_api_key")
            assert http.get(f"{front.root_url}/health").status_code == 200  # probes need no token
        with pytest.raises(openai.AuthenticationError):
            front.client(api_key="wrong").completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2)
        assert front.submitted == []
        for token in ("read-secret", "full-secret"):
            client = front.client(api_key=token)
            assert client.completions.create(model="mlp-r8", prompt=PROMPT, max_tokens=2).choices[0].text is not None
            assert client.chat.completions.create(model="mlp-r8", messages=CHAT, max_tokens=2).choices
            assert "mlp-r8" in {m.id for m in client.models.list()}
