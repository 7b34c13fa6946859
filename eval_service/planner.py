"""CreateEvaluation's half of the evaluator: check every field of a request and resolve it into a plan.

Why apart from the run: everything here is a synchronous read of the registry, the suite catalog and the
policy files, and it decides what will be compared (candidate, baseline, suites, sampling, the alias's
version for the compare-and-set). It runs before anything is stored, so bad input is an error of the
call (unknown suite -> NOT_FOUND naming it, adapter not ``name@version`` -> INVALID_ARGUMENT...) and never
becomes a FAILED evaluation; the run only executes the resulting plan.
"""

from __future__ import annotations

from eval_service.generation import GenerationParams
from eval_service.plan import EvaluationPayload, EvaluationRequest, SuiteProgress, utcnow
from eval_service.policy import Policy, load_policy
from eval_service.suites.loader import SuiteCatalog
from eval_service.suites.models import Suite
from lorafleet.errors import InvalidArgument, NotFound
from lorafleet.refs import DEFAULT_ALIAS, parse_versioned_ref, validate_alias
from lorafleet.registry.models import VersionRecord
from lorafleet.registry.store import Registry

BASELINES = ("production", "base_model", "adapter")


class Planner:
    def __init__(self, registry: Registry, catalog: SuiteCatalog) -> None:
        self.registry = registry
        self.catalog = catalog

    def plan(self, req: EvaluationRequest) -> EvaluationPayload:
        """Validate every field and resolve candidate, baseline, suites, policy and sampling."""
        ref = parse_versioned_ref(req.adapter, field="adapter")
        candidate = self.registry.get_version(ref.name, ref.version)
        suites = self.catalog.select(req.suites)
        policy = load_policy(req.policy)
        if req.promote_to:
            validate_alias(req.promote_to, field="promote_to")
        if req.max_cases_per_suite < 0:
            raise InvalidArgument("must be >= 0", field="max_cases_per_suite")
        sampling = _sampling(req, policy)
        baseline_ref, baseline_label = self._resolve_baseline(req, candidate)
        promote_at_start = 0
        if req.promote_to:
            current = self.registry.get_alias(ref.name, req.promote_to)
            promote_at_start = current.version if current else 0
        selected = [s.limited(req.max_cases_per_suite) for s in suites]
        return EvaluationPayload(
            adapter=candidate.ref, baseline_adapter=baseline_ref, baseline_label=baseline_label,
            suites=[s.name for s in selected], policy=policy.name, policy_ref=req.policy, promote_to=req.promote_to,
            promote_alias_version_at_start=promote_at_start, max_cases_per_suite=req.max_cases_per_suite,
            sampling=sampling, suite_max_tokens=_suite_max_tokens(req, policy, suites),
            progress=[SuiteProgress(suite=s.name, cases_total=len(s.cases)) for s in selected],
            create_time=utcnow())

    def _resolve_baseline(self, req: EvaluationRequest, candidate: VersionRecord) -> tuple[str, str]:
        """(baseline ``name@version`` or "" for the base model, how reports name it)."""
        kind = req.baseline or "production"
        if kind not in BASELINES:
            raise InvalidArgument(f"baseline {kind!r} must be one of {', '.join(BASELINES)}", field="baseline")
        if req.baseline_adapter and kind != "adapter":
            raise InvalidArgument("only allowed with the 'adapter' baseline", field="baseline_adapter")
        if kind == "base_model":
            return "", "base model"
        if kind == "adapter":
            return self._explicit_baseline(req, candidate)
        alias = self.registry.get_alias(candidate.name, DEFAULT_ALIAS)
        if alias is None or alias.version == candidate.version:
            why = "no production version" if alias is None else "the candidate is production itself"
            return "", f"base model ({why})"
        return f"{candidate.name}@{alias.version}", f"{candidate.name}@{DEFAULT_ALIAS} = version {alias.version}"

    def _explicit_baseline(self, req: EvaluationRequest, candidate: VersionRecord) -> tuple[str, str]:
        if not req.baseline_adapter:
            raise InvalidArgument("required with the 'adapter' baseline (name@version)", field="baseline_adapter")
        bref = parse_versioned_ref(req.baseline_adapter, field="baseline_adapter")
        try:
            base = self.registry.get_version(bref.name, bref.version)
        except NotFound as exc:
            raise NotFound(exc.message, field="baseline_adapter") from exc
        if base.ref == candidate.ref:
            raise InvalidArgument("the baseline must differ from the candidate", field="baseline_adapter")
        return base.ref, f"{base.ref} (explicit)"


def _sampling(req: EvaluationRequest, policy: Policy) -> GenerationParams:
    """The request's sampling parameters, the policy's generation defaults where it set none."""
    return GenerationParams(
        max_tokens=req.max_tokens if req.max_tokens is not None else policy.generation.max_tokens,
        temperature=req.temperature if req.temperature is not None else policy.generation.temperature,
        top_p=req.top_p, top_k=req.top_k, seed=req.seed, stop=tuple(req.stop))


def _suite_max_tokens(req: EvaluationRequest, policy: Policy, suites: list[Suite]) -> dict[str, int]:
    """Generation length per suite: the request's max_tokens if it set one, else the suite's own (a task
    answer of a known size needs fewer tokens), else the policy's default."""
    return {s.name: req.max_tokens if req.max_tokens is not None else (s.max_tokens or policy.generation.max_tokens)
            for s in suites}
