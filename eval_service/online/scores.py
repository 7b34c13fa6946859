"""Reference-free live scores of one reply: what a guardrail can measure without a right answer.

The same refusal detector as the offline suites (``eval_service.scoring.refusal``) decides
``refused``; ``format_valid`` applies only to the adapter's task requests (``TaskFormat``: the
system prompt names the task) and checks the reply against the task's JSON schema. Errors and
latency need no text, so every request has them; refusal and format only the sampled ones.
Scoring runs in the evaluator, never on the inference hot path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema

from eval_service.online.observation import LiveObservation
from eval_service.online.policy import OnlinePolicy, TaskFormat
from eval_service.scoring.refusal import detect_refusal


@dataclass(frozen=True)
class LiveScores:
    """Per-metric values in [0, 1] (None: not measured for this request)."""

    error: float
    slow_first_token: float | None
    refusal: float | None = None
    format_valid: float | None = None

    def value(self, metric: str) -> float | None:
        return getattr(self, metric, None)


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _json_object(text: str) -> Any:
    """The reply parsed as JSON (a fenced ```json block is unwrapped first); None if it is not JSON."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return None


def format_valid(reply: str, task: TaskFormat) -> bool:
    parsed = _json_object(reply)
    if parsed is None:
        return False
    validator = _validator(json.dumps(task.json_schema, sort_keys=True))
    return validator.is_valid(parsed)


def task_format_for(obs: LiveObservation, policy: OnlinePolicy) -> TaskFormat | None:
    task = policy.task_formats.get(obs.adapter_name)
    if task is None or task.system_prompt_contains not in obs.system_prompt:
        return None
    return task


def score(obs: LiveObservation, policy: OnlinePolicy) -> LiveScores:
    slow = None if obs.failed else float(obs.time_to_first_token_s > policy.latency.ttft_threshold_s)
    if not obs.sampled or obs.failed:
        return LiveScores(error=float(obs.failed), slow_first_token=slow)
    task = task_format_for(obs, policy)
    return LiveScores(error=0.0, slow_first_token=slow, refusal=float(detect_refusal(obs.reply).refused),
                      format_valid=None if task is None else float(format_valid(obs.reply, task)))
