"""Server-sent events: a generation streamed as OpenAI chunks, ending with ``data: [DONE]``.

Each engine event with text becomes one ``data: {chunk}`` event (chat streams open with a chunk
carrying the assistant role, as OpenAI's do); the last chunk carries ``finish_reason``, then, when
``stream_options.include_usage`` asked for it, a chunk with the usage and no choices. A failure
after the headers went out can no longer change the status: it is sent as ``data: {"error":
...}`` (the official SDKs raise it as ``APIError``), then ``[DONE]``.

Client disconnects: Starlette's ``StreamingResponse`` watches the connection while it streams and
cancels the stream when the client goes away; ``GenerationStream`` closes the generation whatever
ended the response (finished, cancelled, failed, or never started), which cancels the engine
request and frees its batch row and adapter slot at the next step.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.responses import StreamingResponse

from inference_service.http.errors import OpenAIError
from inference_service.http.responses import Reply

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from inference_service.front_door import Generation

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def event(data: dict) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


async def chunks(generation: Generation, reply: Reply,
                 error_of: Callable[[BaseException], OpenAIError]) -> AsyncIterator[bytes]:
    """The SSE byte stream of ``generation``."""
    if reply.chat:
        yield event(reply.chunk("", role=True))
    async for ev in generation.events():
        if ev.error is not None:
            yield event(error_of(ev.error).body())
            break
        if ev.finish_reason is not None:
            yield event(reply.chunk(ev.delta, ev.finish_reason))
            if reply.include_usage:
                yield event(reply.usage_chunk(ev.usage))
            break
        if ev.delta:
            yield event(reply.chunk(ev.delta))
    yield DONE


class GenerationStream(StreamingResponse):
    """An SSE response that always closes its generation when the response ends."""

    media_type = "text/event-stream"

    def __init__(self, generation: Generation, reply: Reply, error_of: Callable[[BaseException], OpenAIError],
                 headers: dict[str, str]) -> None:
        super().__init__(chunks(generation, reply, error_of), headers={**SSE_HEADERS, **headers})
        self.generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.generation.close()
