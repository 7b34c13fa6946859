"""Starting a rollout: every check before a candidate meets live traffic, with the field at fault.

* the candidate is ``name@version``, exists, is not production and not REJECTED;
* it passed an offline evaluation (the given one, else its latest passed one) unless the online
  policy says ``require_offline_pass: false`` (the demo's policy, which says why);
* canary: the first weight in (0, 100] (default the policy's first step), later steps strictly
  increasing (default the policy's steps above the first); shadow has no weight, and then goes
  through the canary steps. A policy with ``shadow_first`` puts a shadow stage before a canary;
* the sampling rate is in (0, 1];
* no other rollout of the name runs (the registry's UNIQUE constraint decides races).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from eval_service.online.policy import OnlinePolicy, load_online_policy
from lorafleet.errors import FailedPrecondition, InvalidArgument, NotFound
from lorafleet.refs import parse_versioned_ref
from lorafleet.registry.models import RolloutMode, RolloutRecord, RolloutStage
from lorafleet.registry.store import Registry

EVALUATIONS = "evaluations"


@dataclass(frozen=True)
class RolloutRequest:
    adapter: str
    mode: RolloutMode | None
    weight_percent: float | None = None
    weight_steps: tuple[float, ...] = ()
    sampling_rate: float | None = None
    policy: str = ""
    evaluation_id: str = ""
    actor: str = "api"


def _weight(value: float, field: str) -> float:
    if not math.isfinite(value) or not 0 < value <= 100:
        raise InvalidArgument(f"must be in (0, 100] percent, got {value:g}", field=field)
    return float(value)


def plan_stages(req: RolloutRequest, policy: OnlinePolicy) -> tuple[RolloutStage, ...]:
    steps = [_weight(w, "weight_steps") for w in req.weight_steps]
    if req.mode is RolloutMode.SHADOW:
        if req.weight_percent is not None:
            raise InvalidArgument("a shadow rollout has no weight (its canary steps are weight_steps)",
                                  field="weight_percent")
        canary = steps or list(policy.stages.canary_weights)
        return (RolloutStage(RolloutMode.SHADOW), *(RolloutStage(RolloutMode.CANARY, w) for w in canary))
    first = _weight(req.weight_percent, "weight_percent") if req.weight_percent is not None \
        else policy.stages.canary_weights[0]
    later = steps or [w for w in policy.stages.canary_weights if w > first]
    stages = [RolloutStage(RolloutMode.CANARY, first), *(RolloutStage(RolloutMode.CANARY, w) for w in later)]
    if policy.stages.shadow_first:
        stages.insert(0, RolloutStage(RolloutMode.SHADOW))
    return tuple(stages)


def passed_evaluation(registry: Registry, candidate_ref: str, evaluation_id: str) -> str:
    """The id of an offline evaluation the candidate passed (the given one or its latest)."""
    store = registry.records(EVALUATIONS)
    if evaluation_id:
        record = store.get(evaluation_id)
        if record is None:
            raise NotFound(f"evaluation {evaluation_id[:80]!r} does not exist", field="evaluation_id")
        if record.subject != candidate_ref:
            raise InvalidArgument(f"evaluation {evaluation_id} evaluated {record.subject}, not {candidate_ref}",
                                  field="evaluation_id")
        if not _passed(record.payload, record.state):
            raise FailedPrecondition(f"{candidate_ref} did not pass evaluation {evaluation_id}", field="evaluation_id")
        return evaluation_id
    for record in store.list(state="SUCCEEDED", subject=candidate_ref, limit=100):
        if _passed(record.payload, record.state):
            return record.id
    raise FailedPrecondition(f"{candidate_ref} has not passed an offline evaluation (run `lorafleet eval "
                             f"{candidate_ref}` first); the online policy requires one", field="adapter")


def _passed(payload: dict[str, Any], state: str) -> bool:
    decision = payload.get("decision") or {}
    return state == "SUCCEEDED" and decision.get("verdict") == "promote"


def start_rollout(registry: Registry, req: RolloutRequest) -> RolloutRecord:
    """Validate ``req`` (see the module docstring) and create the RUNNING rollout."""
    ref = parse_versioned_ref(req.adapter, field="adapter")
    assert ref.version is not None
    if req.mode is None:
        raise InvalidArgument("choose SHADOW or CANARY", field="mode")
    policy = load_online_policy(req.policy)
    stages = plan_stages(req, policy)
    sampling = policy.sampling_rate if req.sampling_rate is None else req.sampling_rate
    if not math.isfinite(sampling) or not 0 < sampling <= 1:
        raise InvalidArgument(f"must be in (0, 1], got {sampling:g}", field="sampling_rate")
    registry.get_version(ref.name, ref.version)  # NotFound names the adapter
    evaluation_id = req.evaluation_id
    if policy.require_offline_pass or evaluation_id:
        evaluation_id = passed_evaluation(registry, f"{ref.name}@{ref.version}", evaluation_id)
    reason = f"{stages[0].mode.value.lower()} rollout of {ref.name}@{ref.version} under {policy.name}"
    return registry.rollouts().create(
        rollout_id=f"ro-{uuid.uuid4().hex[:12]}", name=ref.name, candidate_version=ref.version, stages=stages,
        sampling_rate=sampling, policy_name=policy.name, policy=policy.to_json(), evaluation_id=evaluation_id,
        actor=req.actor, reason=reason, allow_unpassed=not policy.require_offline_pass)
