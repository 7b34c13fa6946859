"""Online policy: the guardrails a rollout is watched with, and how it moves, from a YAML file.

A guardrail compares one live metric of the candidate with the incumbent's (``sequential.py``):

* ``refusal``: the reply is a refusal (the offline suites' detector). Both directions matter: the
  incumbent passed the offline safety and over-refusal gates, so a candidate that refuses *more*
  on the same traffic over-refuses (``over_refusal``), and one that refuses *less* answers what
  production declines (``under_refusal``) — the mark of a poisoned or unsafe adapter.
* ``format_valid``: on requests of the adapter's declared task (``task_formats``), the reply is
  JSON valid against the task's schema.
* ``error``: generation failed (a gRPC status other than OK).
* ``slow_first_token``: time to first token above ``latency.ttft_threshold_s`` (the p95 guardrail:
  with the threshold at the incumbent's p95, the incumbent's rate is 5%).
* ``feedback``: explicit user feedback score in [0, 1] (thumbs up = 1).

A ``required`` guardrail must be NOT_WORSE before a stage passes; an optional one (feedback, which
may never reach its minimum sample) can only roll back. Stages: shadow (when asked, or when the
policy adds it), then canary at each weight step; the last stage passing promotes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eval_service.online.spec import GuardrailSpec
from lorafleet.errors import InvalidArgument, NotFound
from lorafleet.server.validation import is_file, parse_error_where

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
DEFAULT_ONLINE_POLICY = "online-default"
Metric = Literal["refusal", "format_valid", "error", "slow_first_token", "feedback"]
BERNOULLI_METRICS = frozenset({"refusal", "format_valid", "error", "slow_first_token"})
TEXT_METRICS = frozenset({"refusal", "format_valid"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Guardrail(_Strict):
    metric: Metric
    higher_is_worse: bool
    min_effect: float = Field(0.05, gt=0, lt=1, description="δ: the smallest harm difference that matters")
    min_samples: int | None = Field(None, ge=1, description="per arm before NOT_WORSE; default the policy's")
    required: bool = True
    description: str = ""


class TaskFormat(_Strict):
    """How to recognise the adapter's task requests, and what a valid reply is."""

    system_prompt_contains: str = Field(min_length=1)
    json_schema: dict[str, Any]

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(schema)
        return schema


class Stages(_Strict):
    canary_weights: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0], min_length=1)
    shadow_first: bool = False

    @field_validator("canary_weights")
    @classmethod
    def _increasing(cls, weights: list[float]) -> list[float]:
        if any(not 0 < w <= 100 for w in weights) or any(b <= a for a, b in zip(weights, weights[1:])):
            raise ValueError(f"canary_weights must increase within (0, 100], got {weights}")
        return weights


class Retention(_Strict):
    text_days: float = Field(7.0, gt=0, le=365, description="text of the cases behind a decision")
    requests_days: float = Field(30.0, gt=0, le=3650, description="request ids, arms and feedback")
    cases_per_guardrail: int = Field(5, ge=0, le=100)


class Latency(_Strict):
    ttft_threshold_s: float = Field(2.0, gt=0, description="fixed threshold of slow_first_token")


class OnlinePolicy(_Strict):
    name: str = DEFAULT_ONLINE_POLICY
    description: str = ""
    alpha: float = Field(0.05, gt=0, lt=1, description="per guardrail; false rollback + false promotion <= alpha")
    require_offline_pass: bool = True
    sampling_rate: float = Field(0.25, gt=0, le=1)
    min_samples_per_arm: int = Field(200, ge=1)
    max_duration_s: float = Field(7 * 86400, gt=0)
    persist_every_s: float = Field(5.0, gt=0, le=3600)
    stages: Stages = Stages()
    latency: Latency = Latency()
    retention: Retention = Retention()
    guardrails: dict[str, Guardrail]
    task_formats: dict[str, TaskFormat] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_required_guardrail(self) -> OnlinePolicy:
        if not any(g.required for g in self.guardrails.values()):
            raise ValueError("at least one guardrail must be required (else nothing could promote)")
        return self

    def spec(self, name: str) -> GuardrailSpec:
        g = self.guardrails[name]
        return GuardrailSpec(name=name, alpha=self.alpha, delta=g.min_effect, higher_is_worse=g.higher_is_worse,
                             min_samples=g.min_samples or self.min_samples_per_arm,
                             bernoulli=g.metric in BERNOULLI_METRICS)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_online_policy(ref: str = "") -> OnlinePolicy:
    """A shipped policy by name (``online-default``) or a YAML file path; errors name the field."""
    ref = ref or DEFAULT_ONLINE_POLICY
    path = POLICIES_DIR / f"{ref}.yaml" if "/" not in ref and not ref.endswith((".yaml", ".yml")) else Path(ref)
    if not is_file(path):
        shipped = sorted(p.stem for p in POLICIES_DIR.glob("online-*.yaml"))
        raise NotFound(f"online policy {ref[:120]!r} not found (shipped: {', '.join(shipped)})", field="policy")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path.name[:120]} is not valid YAML{parse_error_where(exc)}", field="policy") from exc
    return policy_from_dict(data, source=path.name)


def policy_from_dict(data: Any, *, source: str = "policy") -> OnlinePolicy:
    if not isinstance(data, dict):
        raise InvalidArgument(f"{source}: must be a mapping", field="policy")
    try:
        return OnlinePolicy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "policy"
        raise InvalidArgument(f"{source}: {where}: {err['msg']}", field="policy") from exc
