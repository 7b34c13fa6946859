"""Typed client of ``lorafleet.v1.InferenceService`` (sync, on top of ``ServiceClient``).

    client = InferenceClient(channel)
    for chunk in client.generate_stream("Hello", adapter="support-bot", max_tokens=32):
        print(chunk.delta, end="")
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lorafleet.client.base import ServiceClient
from lorafleet.v1 import common_pb2, inference_pb2, inference_pb2_grpc


def sampling_params(*, max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
                    top_k: int | None = None, seed: int | None = None,
                    stop: Sequence[str] = ()) -> common_pb2.SamplingParams:
    kw = {k: v for k, v in dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                                 seed=seed).items() if v is not None}
    return common_pb2.SamplingParams(stop=list(stop), **kw)


def chat_messages(messages: Sequence[tuple[str, str] | dict]) -> list[common_pb2.ChatMessage]:
    out = []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        out.append(common_pb2.ChatMessage(role=role, content=content))
    return out


class InferenceClient(ServiceClient):
    stub_class = inference_pb2_grpc.InferenceServiceStub

    def generate(self, prompt: str = "", *, adapter: str = "", messages: Sequence = (), request_id: str = "",
                 timeout: float | None = None, **sampling) -> inference_pb2.GenerateResponse:
        req = inference_pb2.GenerateRequest(adapter=adapter, prompt=prompt, messages=chat_messages(messages),
                                            sampling=sampling_params(**sampling), request_id=request_id)
        return self._call("Generate", req, **({"timeout": timeout} if timeout is not None else {}))

    def generate_stream(self, prompt: str = "", *, adapter: str = "", messages: Sequence = (), request_id: str = "",
                        timeout: float | None = None, **sampling) -> Iterator[inference_pb2.GenerateStreamResponse]:
        """Chunks with token deltas; the last carries finish_reason and usage. ``.cancel()`` stops it."""
        req = inference_pb2.GenerateStreamRequest(adapter=adapter, prompt=prompt, messages=chat_messages(messages),
                                                  sampling=sampling_params(**sampling), request_id=request_id)
        return self._stream("GenerateStream", req, timeout=timeout)

    def load_adapter(self, ref: str) -> inference_pb2.LoadAdapterResponse:
        return self._call("LoadAdapter", inference_pb2.LoadAdapterRequest(adapter=ref))

    def unload_adapter(self, ref: str) -> inference_pb2.UnloadAdapterResponse:
        return self._call("UnloadAdapter", inference_pb2.UnloadAdapterRequest(adapter=ref))

    def list_loaded_adapters(self) -> inference_pb2.ListLoadedAdaptersResponse:
        return self._call("ListLoadedAdapters", inference_pb2.ListLoadedAdaptersRequest())

    def get_model_info(self) -> inference_pb2.GetModelInfoResponse:
        return self._call("GetModelInfo", inference_pb2.GetModelInfoRequest())
