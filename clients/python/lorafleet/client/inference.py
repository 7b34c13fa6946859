"""Typed clients of ``lorafleet.v1.InferenceService``.

    client = InferenceClient(connect("127.0.0.1:50052"))
    for chunk in client.generate_stream("Hello", adapter="support-bot", max_tokens=32):
        print(chunk.delta, end="")

``sampling`` keywords are the fields of ``SamplingParams`` (max_tokens, temperature, top_p,
top_k, seed, stop...); unset ones take the server's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lorafleet.client.base import AsyncTransport, SyncTransport
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc


def sampling_params(*, stop: Sequence[str] = (), **fields: Any) -> common_pb2.SamplingParams:
    """``SamplingParams`` from keyword fields; None values are left unset (server default)."""
    return common_pb2.SamplingParams(stop=list(stop), **{k: v for k, v in fields.items() if v is not None})


def chat_messages(messages: Sequence[tuple[str, str] | dict]) -> list[common_pb2.ChatMessage]:
    out = []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        out.append(common_pb2.ChatMessage(role=role, content=content))
    return out


ROUTE_KEY_HEADER = "x-lorafleet-route-key"


def _call_options(timeout: float | None, route_key: str) -> dict[str, Any]:
    """The call's deadline (when given) and its route key: the same key reaches the same version
    while a canary rollout's weight holds (a user id is a good key; default: the request id)."""
    out: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
    if route_key:
        out["metadata"] = ((ROUTE_KEY_HEADER, route_key),)
    return out


class InferenceApi:
    """InferenceService methods, shared by the sync and the asyncio client (see ``base``)."""

    stub_class = inference_pb2_grpc.InferenceServiceStub

    def generate(self, prompt: str = "", *, adapter: str = "", messages: Sequence = (), request_id: str = "",
                 timeout: float | None = None, route_key: str = "", cache_salt: str = "",
                 **sampling: Any) -> inference_pb2.GenerateResponse:
        req = inference_pb2.GenerateRequest(adapter=adapter, prompt=prompt, messages=chat_messages(messages),
                                            sampling=sampling_params(**sampling), request_id=request_id,
                                            cache_salt=cache_salt)
        return self._unary("Generate", req, **_call_options(timeout, route_key))

    def generate_stream(self, prompt: str = "", *, adapter: str = "", messages: Sequence = (), request_id: str = "",
                        timeout: float | None = None, route_key: str = "", cache_salt: str = "",
                        **sampling: Any) -> Iterator[inference_pb2.GenerateStreamResponse]:
        """Chunks with token deltas; the last carries finish_reason and usage. ``.cancel()`` stops it."""
        req = inference_pb2.GenerateStreamRequest(adapter=adapter, prompt=prompt, messages=chat_messages(messages),
                                                  sampling=sampling_params(**sampling), request_id=request_id,
                                                  cache_salt=cache_salt)
        return self._server_stream("GenerateStream", req, **_call_options(timeout, route_key))

    def load_adapter(self, ref: str) -> inference_pb2.LoadAdapterResponse:
        return self._unary("LoadAdapter", inference_pb2.LoadAdapterRequest(adapter=ref))

    def unload_adapter(self, ref: str) -> inference_pb2.UnloadAdapterResponse:
        return self._unary("UnloadAdapter", inference_pb2.UnloadAdapterRequest(adapter=ref))

    def list_loaded_adapters(self) -> inference_pb2.ListLoadedAdaptersResponse:
        return self._unary("ListLoadedAdapters", inference_pb2.ListLoadedAdaptersRequest())

    def get_model_info(self) -> inference_pb2.GetModelInfoResponse:
        return self._unary("GetModelInfo", inference_pb2.GetModelInfoRequest())


class InferenceClient(InferenceApi, SyncTransport):
    """Blocking InferenceService client."""


class AsyncInferenceClient(InferenceApi, AsyncTransport):
    """asyncio InferenceService client: ``await client.generate(...)``, ``async for`` over streams."""
