"""protobuf <-> plain values for RolloutService and LiveTrafficService, at the servicer edge only."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from eval_service.online.observation import LiveObservation, Message, TrafficArm
from eval_service.online.start import RolloutRequest
from lorafleet.errors import InvalidArgument
from lorafleet.names import FINISH_REASONS
from lorafleet.registry.models import RolloutEventRecord, RolloutMode, RolloutRecord, RolloutState
from lorafleet.v1 import rollout_pb2

MAX_OBSERVATIONS = 10_000
MAX_TEXT = 256 * 1024
MODE_FROM_PROTO = {rollout_pb2.ROLLOUT_MODE_SHADOW: RolloutMode.SHADOW,
                   rollout_pb2.ROLLOUT_MODE_CANARY: RolloutMode.CANARY, rollout_pb2.ROLLOUT_MODE_UNSPECIFIED: None}
MODE_TO_PROTO = {v: k for k, v in MODE_FROM_PROTO.items() if v is not None}
STATE_TO_PROTO = {s: rollout_pb2.RolloutState.Value(f"ROLLOUT_STATE_{s.value}") for s in RolloutState}
STATE_FROM_PROTO = {v: k for k, v in STATE_TO_PROTO.items()}
ARM_FROM_PROTO = {rollout_pb2.TRAFFIC_ARM_PRODUCTION: TrafficArm.PRODUCTION,
                  rollout_pb2.TRAFFIC_ARM_CANARY: TrafficArm.CANARY, rollout_pb2.TRAFFIC_ARM_SHADOW: TrafficArm.SHADOW}
ARM_TO_PROTO = {v: k for k, v in ARM_FROM_PROTO.items()}
_ARM_SUMMARY = {"candidate": None, "incumbent": rollout_pb2.TRAFFIC_ARM_PRODUCTION}


def ts(dt: datetime | None) -> Timestamp | None:
    if dt is None:
        return None
    out = Timestamp()
    out.FromDatetime(dt)
    return out


def enum_value(mapping: dict[Any, Any], value: int, field: str) -> Any:
    if value not in mapping:
        raise InvalidArgument(f"unknown enum value {value}", field=field)
    return mapping[value]


def request_from_proto(req: rollout_pb2.StartRolloutRequest, actor: str) -> RolloutRequest:
    return RolloutRequest(
        adapter=req.adapter, mode=enum_value(MODE_FROM_PROTO, req.mode, "mode"),
        weight_percent=req.weight_percent if req.HasField("weight_percent") else None,
        weight_steps=tuple(req.weight_steps),
        sampling_rate=req.sampling_rate if req.HasField("sampling_rate") else None,
        policy=req.policy, evaluation_id=req.evaluation_id, actor=actor)


def observation_from_proto(o: rollout_pb2.Observation, index: int) -> LiveObservation:
    field = f"observations[{index}]"
    if not o.request_id or len(o.request_id) > 128:
        raise InvalidArgument("request_id must be 1-128 characters", field=f"{field}.request_id")
    arm = enum_value(ARM_FROM_PROTO, o.arm, f"{field}.arm")
    if arm is TrafficArm.SHADOW and not o.paired_request_id:
        raise InvalidArgument("a shadow observation names the production request it re-ran",
                              field=f"{field}.paired_request_id")
    if o.version < 1 or not o.adapter_name:
        raise InvalidArgument("adapter_name and version >= 1 are required", field=f"{field}.version")
    for name in ("time_to_first_token_seconds", "total_seconds"):
        value = getattr(o, name)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(f"must be a finite number >= 0, got {value!r}", field=f"{field}.{name}")
    text = len(o.prompt) + len(o.reply) + sum(len(m.content) for m in o.messages)
    if text > MAX_TEXT:
        raise InvalidArgument(f"holds {text} characters of text; at most {MAX_TEXT}", field=field)
    when = _time_of(o, field)
    finish = _finish_reason_of(o, field)
    return LiveObservation(
        request_id=o.request_id, adapter_name=o.adapter_name, version=o.version, arm=arm, time=when,
        rollout_id=o.rollout_id, paired_request_id=o.paired_request_id, sampled=o.sampled, prompt=o.prompt,
        messages=tuple(Message(m.role, m.content) for m in o.messages), reply=o.reply,
        finish_reason=finish,
        completion_tokens=o.completion_tokens, time_to_first_token_s=o.time_to_first_token_seconds,
        total_s=o.total_seconds, error_code=o.error_code[:64])


def _time_of(o: rollout_pb2.Observation, field: str) -> datetime:
    if not o.HasField("time"):
        return datetime.now(timezone.utc)
    try:
        return o.time.ToDatetime(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"not a valid timestamp (seconds={o.time.seconds}, nanos={o.time.nanos})",
                              field=f"{field}.time") from None


def _finish_reason_of(o: rollout_pb2.Observation, field: str) -> str:
    if not o.finish_reason:
        return ""
    try:
        return FINISH_REASONS.name(o.finish_reason)
    except ValueError:
        raise InvalidArgument(f"unknown finish reason {o.finish_reason}", field=f"{field}.finish_reason") from None


def observations_from_proto(req: rollout_pb2.RecordObservationsRequest) -> list[LiveObservation]:
    if len(req.observations) > MAX_OBSERVATIONS:
        raise InvalidArgument(f"at most {MAX_OBSERVATIONS} observations per call, got {len(req.observations)}",
                              field="observations")
    return [observation_from_proto(o, i) for i, o in enumerate(req.observations)]


def _guardrail(d: dict[str, Any]) -> rollout_pb2.GuardrailStatus:
    def num(key: str) -> float:
        v = d.get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0

    return rollout_pb2.GuardrailStatus(
        name=d.get("name", ""), metric=d.get("metric", ""),
        decision=rollout_pb2.GuardrailDecision.Value(f"GUARDRAIL_DECISION_{d.get('decision', 'CONTINUE')}"),
        candidate_count=int(d.get("n_candidate", 0)), incumbent_count=int(d.get("n_incumbent", 0)),
        candidate_mean=num("candidate_mean"), incumbent_mean=num("incumbent_mean"), difference=num("harm_difference"),
        ci_low=num("ci_low"), ci_high=num("ci_high"), p_worse=num("p_worse"), p_not_worse=num("p_not_worse"),
        alpha=num("alpha"), min_effect=num("delta"), higher_is_worse=bool(d.get("higher_is_worse", True)),
        required=bool(d.get("required", True)))


def _arms(ro: RolloutRecord) -> list[rollout_pb2.ArmSummary]:
    out = []
    for arm, s in (ro.stats.get("arms") or {}).items():
        proto_arm = _ARM_SUMMARY.get(arm) or (rollout_pb2.TRAFFIC_ARM_SHADOW if ro.mode is RolloutMode.SHADOW
                                              else rollout_pb2.TRAFFIC_ARM_CANARY)
        out.append(rollout_pb2.ArmSummary(
            arm=proto_arm, version=ro.candidate_version if arm == "candidate" else ro.incumbent_version,
            requests=int(s["requests"]), scored=int(s["scored"]), errors=int(s["errors"]),
            refusal_rate=s["refusal_rate"], format_valid_rate=s["format_valid_rate"],
            format_checked=int(s["format_checked"]), p95_time_to_first_token_seconds=s["p95_ttft_s"],
            mean_feedback=s["mean_feedback"], feedback_count=int(s["feedback_count"])))
    return out


def _decision(e: RolloutEventRecord) -> rollout_pb2.RolloutDecision:
    out = rollout_pb2.RolloutDecision(
        action=rollout_pb2.RolloutAction.Value(f"ROLLOUT_ACTION_{e.action}"), reason=e.reason, actor=e.actor,
        time=ts(e.created_at), evidence=[_guardrail(g) for g in e.evidence], stage_index=e.stage_index,
        weight_percent=e.weight_percent)
    for c in e.cases:
        case = rollout_pb2.LiveCase(request_id=c.get("request_id", ""), prompt=c.get("prompt", ""),
                                    reply=c.get("reply", ""), production_reply=c.get("production_reply", ""),
                                    guardrail=c.get("guardrail", ""),
                                    arm=ARM_TO_PROTO.get(TrafficArm(c["arm"]), 0) if c.get("arm") else 0)
        if e.text_expires_at is not None:
            case.expire_time.CopyFrom(ts(e.text_expires_at))
        out.cases.append(case)
    return out


def rollout_to_proto(ro: RolloutRecord, events: list[RolloutEventRecord]) -> rollout_pb2.Rollout:
    out = rollout_pb2.Rollout(
        id=ro.id, adapter_name=ro.name, incumbent_version=ro.incumbent_version,
        candidate_version=ro.candidate_version, state=STATE_TO_PROTO[ro.state], mode=MODE_TO_PROTO[ro.mode],
        weight_percent=ro.weight_percent, stage_index=ro.stage_index,
        stages=[rollout_pb2.RolloutStage(mode=MODE_TO_PROTO[s.mode], weight_percent=s.weight_percent)
                for s in ro.stages],
        sampling_rate=ro.sampling_rate, policy=ro.policy_name, evaluation_id=ro.evaluation_id, reason=ro.reason,
        create_time=ts(ro.created_at), update_time=ts(ro.updated_at), arms=_arms(ro),
        guardrails=[_guardrail(g) for g in ro.stats.get("guardrails") or []],
        decisions=[_decision(e) for e in events])
    if ro.finished_at is not None:
        out.finish_time.CopyFrom(ts(ro.finished_at))
    return out
