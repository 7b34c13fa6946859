"""From a validated OpenAI body to the front door's ``FrontRequest``: the field mapping.

``model`` is an adapter reference exactly as gRPC's ``adapter`` (``support-bot``,
``support-bot@3``, ``support-bot@canary``), or the base model's id (what ``GetModelInfo`` reports
as ``base_model``) for the bare base. Sampling goes through gRPC's own ``SamplingParams`` and
``request_parsing.parse_sampling``, so both transports share every limit and check:

================================  ========================================================
OpenAI                            engine
================================  ========================================================
``max_completion_tokens``         ``max_tokens`` (either; both must agree); default the
/ ``max_tokens``                  server's ``default_max_tokens``
``temperature``                   ``temperature``, default 1.0 as in OpenAI's API (0 = greedy)
``top_p``, ``seed``, ``stop``     the same (``stop``: a string or up to 8 strings)
``top_k`` (vLLM extra)            ``top_k``; -1 or 0 disables it
``ignore_eos``, ``min_tokens``    the same (vLLM extras; ``min_tokens`` at most max_tokens)
``user`` / ``x-lorafleet-route-   the route key of canary routing (the header wins)
key`` header
================================  ========================================================

Messages take the base tokenizer's chat template (``request_parsing.encode_prompt``, the path of
gRPC's ``messages``).
"""

from __future__ import annotations

import math

from inference_service.engine.types import SamplingSpec
from inference_service.front_door import FrontRequest
from inference_service.http.errors import from_lorafleet, invalid
from inference_service.http.openai_schema import (
    ChatCompletionRequest,
    CompletionRequest,
    chat_messages,
    completion_prompt,
)
from inference_service.request_parsing import PromptInput, parse_cache_salt, parse_prompt, parse_sampling
from inference_service.routing import ROUTE_KEY_HEADER, parse_route_key
from lorafleet.config import Settings
from lorafleet.errors import InvalidArgument, LoraFleetError
from lorafleet.v1 import common_pb2

OPENAI_DEFAULT_TEMPERATURE = 1.0
_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1


class ParamNames:
    """Renames the fields the shared code names (``adapter``, ``sampling.top_p``...) to this request's."""

    def __init__(self, *, prompt_field: str, max_tokens_field: str, route_key_field: str) -> None:
        self._names = {"adapter": "model", "prompt": prompt_field, "messages": "messages",
                       "sampling.max_tokens": max_tokens_field, "sampling.temperature": "temperature",
                       "sampling.top_p": "top_p", "sampling.top_k": "top_k", "sampling.seed": "seed",
                       "sampling.stop": "stop", "sampling.min_tokens": "min_tokens",
                       ROUTE_KEY_HEADER: route_key_field, "queue": None}

    def __call__(self, field: str | None) -> str | None:
        if field is None:
            return None
        if field.startswith("sampling.stop["):
            return "stop"
        if field.startswith("messages["):
            return field
        return self._names.get(field, field)


def _max_tokens(body: ChatCompletionRequest | CompletionRequest) -> tuple[int | None, str]:
    field, value = "max_tokens", body.max_tokens
    newer = getattr(body, "max_completion_tokens", None)
    if newer is not None:
        if value is not None and value != newer:
            raise invalid(f"max_tokens ({value}) and max_completion_tokens ({newer}) disagree; send one",
                          "max_completion_tokens")
        field, value = "max_completion_tokens", newer
    return value, field


def _set(params: common_pb2.SamplingParams, name: str, value: int | float, *, param: str, high: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise invalid(f"must be a finite number, got {value}", param)
    if not 0 <= value <= high:
        raise invalid(f"must be in [0, {high}], got {value}", param)
    setattr(params, name, value)


def sampling_of(body: ChatCompletionRequest | CompletionRequest, settings: Settings, names: ParamNames) -> SamplingSpec:
    params = common_pb2.SamplingParams()
    max_tokens, max_field = _max_tokens(body)
    if max_tokens is not None:
        if max_tokens < 1:
            raise invalid(f"must be >= 1, got {max_tokens}", max_field)
        _set(params, "max_tokens", min(max_tokens, _UINT32), param=max_field, high=_UINT32)
    temperature = OPENAI_DEFAULT_TEMPERATURE if body.temperature is None else body.temperature
    _set(params, "temperature", temperature, param="temperature", high=1e30)
    if body.top_p is not None:
        _set(params, "top_p", body.top_p, param="top_p", high=1e30)
    if body.top_k not in (None, -1, 0):
        _set(params, "top_k", body.top_k, param="top_k", high=_UINT32)
    if body.seed is not None:
        _set(params, "seed", body.seed, param="seed", high=_UINT64)
    if body.ignore_eos:
        params.ignore_eos = True
    if body.min_tokens:
        _set(params, "min_tokens", body.min_tokens, param="min_tokens", high=_UINT32)
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or ())
    params.stop.extend(stop)
    try:
        return parse_sampling(params, default_max_tokens=settings.default_max_tokens,
                              max_tokens_limit=settings.max_new_tokens_limit)
    except InvalidArgument as exc:
        raise from_lorafleet(exc, names) from None


class _Messages:
    """Duck-types gRPC's GenerateRequest for ``parse_prompt`` (role validation and all)."""

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.prompt = ""
        self.messages = [common_pb2.ChatMessage(role=r, content=c) for r, c in pairs]


def prompt_of(body: ChatCompletionRequest | CompletionRequest, names: ParamNames) -> PromptInput:
    try:
        if isinstance(body, ChatCompletionRequest):
            return parse_prompt(_Messages(chat_messages(body)))
        text = completion_prompt(body)
        if not text:
            raise InvalidArgument("must not be empty", field="prompt")
        return PromptInput(prompt=text, messages=None)
    except LoraFleetError as exc:
        raise from_lorafleet(exc, names) from None


def adapter_of(model: str, base_model: str) -> str:
    if not model.strip():
        raise invalid(f"name a model: an adapter (name, name@alias, name@version) or the base model {base_model!r}",
                      "model", code="missing_required_parameter")
    return "" if model.strip() == base_model else model


def route_key_of(header: str | None, user: str | None) -> str | None:
    """The route key: the ``x-lorafleet-route-key`` header, else OpenAI's ``user`` field."""
    try:
        return parse_route_key(header or user)
    except InvalidArgument as exc:
        raise invalid(exc.message, ROUTE_KEY_HEADER if header else "user") from None


def param_names(body: ChatCompletionRequest | CompletionRequest, route_key_header: str | None) -> ParamNames:
    """How this request names the fields the shared code names."""
    return ParamNames(prompt_field="messages" if isinstance(body, ChatCompletionRequest) else "prompt",
                      max_tokens_field=_max_tokens(body)[1],
                      route_key_field=ROUTE_KEY_HEADER if route_key_header else "user")


def front_request(body: ChatCompletionRequest | CompletionRequest, *, request_id: str, route_key_header: str | None,
                  settings: Settings, base_model: str, names: ParamNames) -> FrontRequest:
    """The front door's request for ``body``; an ``OpenAIError`` (400) naming the bad field otherwise."""
    return FrontRequest(request_id=request_id, adapter=adapter_of(body.model, base_model),
                        prompt=prompt_of(body, names), sampling=sampling_of(body, settings, names),
                        route_key=route_key_of(route_key_header, body.user), deadline=None,
                        cache_salt=cache_salt_of(body.cache_salt))


def cache_salt_of(salt: str | None) -> str | None:
    try:
        return parse_cache_salt(salt)
    except InvalidArgument as exc:
        raise from_lorafleet(exc) from None
