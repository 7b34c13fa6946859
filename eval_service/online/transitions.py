"""What a decision does to the registry: roll back, pass a stage, promote, abort — each audited.

* **Roll back**: the rollout ends ROLLED_BACK (weight 0: inference stops routing to the candidate
  within its poll bound), the candidate becomes REJECTED, production is untouched.
* **Pass a stage**: the next stage (shadow -> first canary weight, or the next weight step) starts
  with fresh tests; passing the last stage promotes.
* **Promote**: the ``production`` alias moves from the incumbent to the candidate by
  compare-and-set, as the offline gate does; if production moved meanwhile, nothing is promoted
  and the rollout is aborted (its comparison was against a version no longer serving).
* **Abort**: the rollout ends ABORTED; production and the candidate's state are untouched.

Each one writes the rollout's state and its audit event (evidence: every guardrail's statistics;
cases: the redacted live requests behind it, their text deleted after the retention period) in
one transaction. The alias move and the candidate's state are separate transactions, made
restart-safe by ``reconcile``: a rollout that ended without its side effect gets it on the next
evaluator start.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from eval_service.online.monitor import LiveCase, StageMonitor
from eval_service.online.policy import OnlinePolicy
from eval_service.online.redaction import redact
from eval_service.online.spec import GuardrailStatus
from lorafleet.errors import Aborted, FailedPrecondition, LoraFleetError
from lorafleet.refs import DEFAULT_ALIAS
from lorafleet.registry import schema
from lorafleet.registry.models import AdapterState, RolloutRecord, RolloutState
from lorafleet.registry.store import Registry

log = logging.getLogger(__name__)


def evidence(monitor: StageMonitor | None) -> list[dict[str, Any]]:
    if monitor is None:
        return []
    return [status_dict(s, monitor) for s in monitor.statuses()]


def status_dict(status: GuardrailStatus, monitor: StageMonitor) -> dict[str, Any]:
    return status.to_dict() | {"metric": monitor.metrics[status.name], "required": monitor.required[status.name],
                               "higher_is_worse": monitor.guardrails[status.name].spec.higher_is_worse}


def case_dicts(cases: list[LiveCase]) -> list[dict[str, Any]]:
    out = []
    for c in cases:
        d = asdict(c) | {"arm": c.arm.value}
        for key in ("prompt", "reply", "production_reply"):
            d[key] = redact(d[key])
        out.append(d)
    return out


def _text_expiry(policy: OnlinePolicy) -> Any:
    return schema.utcnow() + timedelta(days=policy.retention.text_days)


def roll_back(registry: Registry, ro: RolloutRecord, monitor: StageMonitor, worse: tuple[str, ...],
              policy: OnlinePolicy, stats: dict[str, Any]) -> RolloutRecord:
    reason = (f"{', '.join(worse)} significantly worse than {ro.incumbent_ref} at stage {ro.stage_index} "
              f"(alpha {policy.alpha:g} per guardrail); production untouched")
    cases = case_dicts(monitor.cases_behind(worse, policy.retention.cases_per_guardrail))
    done = registry.rollouts().finish(ro.id, RolloutState.ROLLED_BACK, reason=reason, actor="evaluator",
                                      expected_revision=ro.revision, stats=stats, evidence=evidence(monitor),
                                      cases=cases, text_expires_at=_text_expiry(policy) if cases else None)
    _reject(registry, done)
    log.warning("rollout rolled back", extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "guardrails": worse})
    return done


def _reject(registry: Registry, ro: RolloutRecord) -> None:
    try:
        registry.set_state(ro.name, ro.candidate_version, AdapterState.REJECTED)
    except LoraFleetError as exc:  # e.g. someone made it production by hand meanwhile
        log.warning("could not mark the rolled-back candidate REJECTED",
                    extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "error": str(exc)})


def pass_stage(registry: Registry, ro: RolloutRecord, monitor: StageMonitor, policy: OnlinePolicy,
               actor: str = "evaluator", stats: dict[str, Any] | None = None) -> RolloutRecord:
    """The next stage, or promotion after the last one. ``stats`` (the stage's statistics at the
    decision) become the promoted record's last snapshot; the periodic one may be seconds older."""
    if ro.stage_index + 1 >= len(ro.stages):
        return promote(registry, ro, monitor, actor=actor, stats=stats,
                       reason=f"every guardrail passed at the last stage ({_stage_text(ro, ro.stage_index)})")
    nxt = ro.stage_index + 1
    reason = f"stage {ro.stage_index} ({_stage_text(ro, ro.stage_index)}) passed; next: {_stage_text(ro, nxt)}"
    moved = registry.rollouts().update(
        ro.id, expected_revision=ro.revision, stage_index=nxt, stats={},
        event={"action": "NEXT_STAGE", "reason": reason, "actor": actor, "evidence": evidence(monitor),
               "cases": [], "text_expires_at": None})
    log.info("rollout stage passed", extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "stage": nxt})
    return moved


def _stage_text(ro: RolloutRecord, index: int) -> str:
    stage = ro.stages[index]
    return "shadow" if stage.mode.value == "SHADOW" else f"canary {stage.weight_percent:g}%"


def promote(registry: Registry, ro: RolloutRecord, monitor: StageMonitor | None, *, actor: str,
            reason: str, stats: dict[str, Any] | None = None) -> RolloutRecord:
    try:
        registry.set_alias(ro.name, DEFAULT_ALIAS, ro.candidate_version, expected_current_version=ro.incumbent_version,
                           reason=f"rollout {ro.id}: {reason}")
    except Aborted as exc:
        return abort(registry, ro, reason=f"production moved while the rollout ran ({exc.message}); nothing "
                     "promoted", actor=actor, monitor=monitor)
    done = registry.rollouts().finish(ro.id, RolloutState.PROMOTED, reason=reason, actor=actor,
                                      expected_revision=ro.revision, stats=stats, evidence=evidence(monitor))
    _mark_promoted(registry, done)
    log.info("rollout promoted", extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "actor": actor})
    return done


def _mark_promoted(registry: Registry, ro: RolloutRecord) -> None:
    try:
        registry.set_state(ro.name, ro.candidate_version, AdapterState.PROMOTED)
    except LoraFleetError as exc:
        log.warning("could not mark the promoted candidate PROMOTED",
                    extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "error": str(exc)})


def abort(registry: Registry, ro: RolloutRecord, *, reason: str, actor: str,
          monitor: StageMonitor | None = None) -> RolloutRecord:
    done = registry.rollouts().finish(ro.id, RolloutState.ABORTED, reason=reason, actor=actor,
                                      evidence=evidence(monitor))
    log.info("rollout aborted", extra={"rollout_id": ro.id, "adapter": ro.candidate_ref, "reason": reason})
    return done


def reconcile(registry: Registry) -> list[str]:
    """Finish the side effects a crash may have cut off; returns what was repaired.

    * a RUNNING rollout whose candidate is already production was promoted: finish it PROMOTED;
    * a RUNNING rollout whose incumbent is no longer production: abort it;
    * a name whose latest rollout was ROLLED_BACK while its candidate is neither REJECTED nor
      production: reject it.
    """
    repaired = []
    for ro in registry.rollouts().running():
        alias = registry.get_alias(ro.name, DEFAULT_ALIAS)
        current = alias.version if alias else 0
        if current == ro.candidate_version:
            registry.rollouts().finish(ro.id, RolloutState.PROMOTED, reason="production already points at the "
                                       "candidate (promotion finished after a restart)", actor="evaluator")
            _mark_promoted(registry, ro)
            repaired.append(f"{ro.id}: finished PROMOTED")
        elif current != ro.incumbent_version:
            abort(registry, ro, actor="evaluator", reason=f"production moved to version {current} outside the "
                  f"rollout (it started against {ro.incumbent_version})")
            repaired.append(f"{ro.id}: aborted, production moved")
    latest: dict[str, RolloutRecord] = {}
    for ro in registry.rollouts().list(limit=200):  # newest first
        latest.setdefault(ro.name, ro)
    for ro in latest.values():
        if ro.state is not RolloutState.ROLLED_BACK:
            continue
        try:
            version = registry.get_version(ro.name, ro.candidate_version)
        except LoraFleetError as exc:  # the version was deleted since: nothing to repair
            log.info("rolled-back candidate gone", extra={"rollout_id": ro.id, "error": str(exc)})
            continue
        if version.state is not AdapterState.REJECTED and DEFAULT_ALIAS not in version.aliases:
            _reject(registry, ro)
            repaired.append(f"{ro.id}: candidate rejected")
    return repaired


def check_manual_weight(ro: RolloutRecord, weight: float) -> None:
    if ro.mode.value != "CANARY":
        raise FailedPrecondition("the current stage is shadow: its canary weight is 0 until it passes",
                                 field="weight_percent")
