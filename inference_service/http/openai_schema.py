"""The request bodies of ``/v1/chat/completions`` and ``/v1/completions``, as pydantic models.

Field names and types are OpenAI's. What LoRAFleet cannot honour is refused, never ignored:
``n`` above 1, ``logprobs``, tools, penalties, a non-text ``response_format``, several prompts or
token-id prompts are accepted only at their neutral value and otherwise answered 400 naming the
field (``check_supported``); vLLM's extra fields ``top_k``, ``ignore_eos`` and ``min_tokens`` are
honoured. Fields OpenAI or vLLM define that change nothing here (``user`` is the route
key; ``metadata``, ``store``, ``service_tier``, ``parallel_tool_calls``) are accepted; fields no
one defines are ignored, as vLLM ignores them (``ignored_fields`` names them for the log).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_service.http.errors import OpenAIError, invalid

# The chat roles the base tokenizer's template takes (request_parsing.CHAT_ROLES); OpenAI's newer
# "developer" role is the old "system" role under a new name.
ROLE_ALIASES = {"developer": "system"}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class StreamOptions(_Open):
    include_usage: bool = False


class ContentPart(_Open):
    type: str
    text: str | None = None


class ChatMessage(_Open):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[Any] | None = None


class _Common(_Open):
    """What both endpoints take."""

    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    # vLLM's extra sampling fields
    top_k: int | None = None
    ignore_eos: bool | None = False
    min_tokens: int | None = 0
    repetition_penalty: float | None = None
    cache_salt: str | None = None  # vLLM's: prompts share cached prefixes only with equal salts
    # accepted and without effect here
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None


class CompletionRequest(_Common):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = None
    logprobs: int | None = None


# field -> the values that leave the request as LoRAFleet serves it (anything else: 400)
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "n": (None, 1), "frequency_penalty": (None, 0.0), "presence_penalty": (None, 0.0), "logit_bias": (None, {}),
    "repetition_penalty": (None, 1.0),
    "logprobs": (None, False), "top_logprobs": (None, 0), "tools": (None, []), "tool_choice": (None, "none"),
    "functions": (None, []), "function_call": (None, "none"), "echo": (None, False), "suffix": (None, ""),
    "best_of": (None, 1),
}
_WHY = {
    "n": "only n=1 is supported; send n requests (with different seeds) instead",
}


def check_supported(body: _Common) -> None:
    """400 naming the first field set to a value LoRAFleet cannot honour."""
    for field, neutral in _NEUTRAL.items():
        if field in type(body).model_fields and getattr(body, field) not in neutral:
            raise invalid(_WHY.get(field, f"not supported by LoRAFleet (got {getattr(body, field)!r})"), field,
                          code="unsupported_parameter")
    response_format = getattr(body, "response_format", None)
    if response_format not in (None, {}) and response_format.get("type") != "text":
        raise invalid("only {'type': 'text'} is supported", "response_format", code="unsupported_parameter")
    if isinstance(body, ChatCompletionRequest):
        for i, message in enumerate(body.messages):
            if message.tool_calls:
                raise invalid("tool calls are not supported", f"messages[{i}].tool_calls",
                              code="unsupported_parameter")


def ignored_fields(body: _Common) -> list[str]:
    """Top-level fields no one defines (ignored, for the log)."""
    return sorted(body.model_extra or ())


def chat_messages(body: ChatCompletionRequest) -> tuple[tuple[str, str], ...]:
    """(role, text) pairs for the chat template; content parts must be text."""
    out = []
    for i, message in enumerate(body.messages):
        content = message.content
        if content is None:
            raise invalid("content is required", f"messages[{i}].content")
        if isinstance(content, list):
            texts = []
            for j, part in enumerate(content):
                if part.type != "text" or part.text is None:
                    raise invalid(f"content part of type {part.type!r}: only text parts are supported",
                                  f"messages[{i}].content[{j}]", code="unsupported_parameter")
                texts.append(part.text)
            content = "".join(texts)
        out.append((ROLE_ALIASES.get(message.role, message.role), content))
    return tuple(out)


def completion_prompt(body: CompletionRequest) -> str:
    """The one text prompt of a completion request."""
    prompt = body.prompt
    if isinstance(prompt, list):
        if not prompt or not all(isinstance(p, str) for p in prompt):
            raise invalid("token-id prompts are not supported; send text", "prompt", code="unsupported_parameter")
        if len(prompt) != 1:
            raise invalid(f"one prompt per request (got {len(prompt)}); send one request per prompt", "prompt",
                          code="unsupported_parameter")
        prompt = prompt[0]
    return prompt


def parse_body(kind: Literal["chat", "completion"], data: Any) -> ChatCompletionRequest | CompletionRequest:
    """Validate the decoded JSON body; a 400 naming the first bad field otherwise."""
    if not isinstance(data, dict):
        raise invalid("the request body must be a JSON object", None, code="invalid_json")
    model = ChatCompletionRequest if kind == "chat" else CompletionRequest
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        param = param_of_loc(error["loc"])
        kind = error["type"]
        code = ("missing_required_parameter" if kind == "missing"
                else "invalid_type" if kind.endswith(("_type", "_parsing")) else "invalid_value")
        raise invalid("is required" if kind == "missing" else error["msg"], param, code=code) from None
    check_supported(body)
    return body


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def param_of_loc(loc: tuple[Any, ...]) -> str | None:
    """``("messages", 0, "content", "str")`` -> ``messages[0].content`` (union member tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier() and part not in _TYPE_TAGS:
            out += f".{part}" if out else part
        else:
            break
    return out or None


def reject_stream_options(body: _Common) -> None:
    if body.stream_options is not None and not body.stream:
        raise OpenAIError(400, "stream_options: only allowed when stream is true", param="stream_options")
