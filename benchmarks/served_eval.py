"""The four shipped suites, answered by what inference serves, scored and gated as the evaluator does.

Answers come from the inference service's own engine (``inference_service.runtime.build_runtime``:
the nf4 base with the LoRA bank, continuous batching, greedy, each suite's max_tokens), run in this
process with every case queued at once; the base model's answers are cached on disk by engine
identity. Scoring and gates are the evaluator's (``eval_service.results.score_suites``,
``eval_service.policy.evaluate_gates``), so the verdicts are those a full ``lorafleet eval`` against
the base model would give, up to batch composition (which can flip a rare near-tie in greedy decoding).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval_service.policy import SuiteScores, evaluate_gates, load_policy
from eval_service.results import score_suites
from eval_service.suites.loader import SuiteCatalog
from eval_service.suites.models import Suite
from lorafleet.demo import DEMO_CASES_PER_SUITE, DEMO_QUANTIZATION

DEFAULT_MAX_TOKENS = 48  # the default policy's generation.max_tokens


@dataclass
class SuiteFigures:
    """The recipe table's columns for one adapter: rates in [0, 1]."""

    task: float
    harmful_refused: float
    benign_refused: float
    general: float
    verdicts: dict[str, str] = field(default_factory=dict)
    failed_gates: dict[str, list[str]] = field(default_factory=dict)
    base: dict[str, float] = field(default_factory=dict)
    eval_seconds: float = 0.0
    failing: dict[str, list[list[str]]] = field(default_factory=dict)  # suite -> [case id, output] the adapter failed


class ServedAnswers:
    """Greedy answers of the base model or an adapter through the inference engine (one runtime, reused)."""

    def __init__(self, model_dir: Path, *, batch_size: int = 32, cache_dir: Path | None = None,
                 quantization: str = DEMO_QUANTIZATION, lora_decode_operands: str = "auto") -> None:
        """``quantization``: the base the adapters are served on; by default the demo's (nf4, the base its QLoRA
        adapters were trained on). The CPU's own default (``auto``: int4) answers differently with the same
        adapter: the demo's v1 refused 20 of the demo's 24 harmful cases on nf4 and 23 on int4.
        ``lora_decode_operands``: the engine's setting (auto, its default: int8 on the 4-bit bases)."""
        from inference_service.runtime import build_runtime
        from lorafleet.base_model import read_base_model_spec
        from lorafleet.config import Settings

        spec = read_base_model_spec(model_dir)
        settings = Settings.from_env(environ={}, home=Path("/tmp/lorafleet-bench"), base_model=str(model_dir),
                                     log_format="text", log_level="WARNING").replace(
            max_batch_size=batch_size, max_queue=4096, quantization=quantization,
            lora_decode_operands=lora_decode_operands)
        self.runtime = build_runtime(model_dir, spec, settings)
        self.runtime.engine.start()
        self.suites: list[Suite] = SuiteCatalog().all()
        self.cache_dir = cache_dir
        self.identity = f"{spec.fingerprint}:{self.runtime.base.quantization}:{self.runtime.base.compute_dtype}"
        self._versions = 0

    def close(self) -> None:
        self.runtime.engine.stop()

    def _requests(self) -> list[tuple[Suite, object, list[int], int]]:
        tok = self.runtime.tokenizer
        out = []
        for s in self.suites:
            for c in s.cases:
                text = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in c.messages],
                                               add_generation_prompt=True, tokenize=False)
                out.append((s, c, list(tok(text, add_special_tokens=False)["input_ids"]), s.max_tokens or
                            DEFAULT_MAX_TOKENS))
        return out

    def answers(self, adapter_dir: Path | None) -> dict[tuple[str, str], str]:
        """{(suite, case id): text} for the adapter in ``adapter_dir`` (None: the base model)."""
        cache = self._cache_path() if adapter_dir is None else None
        if cache is not None and cache.is_file():
            return {tuple(k.split("\t")): v for k, v in json.loads(cache.read_text()).items()}
        from inference_service.engine.types import GenerationRequest, SamplingSpec
        from inference_service.model.adapter_weights import AdapterKey
        from lorafleet.compute_threads import call_in_fresh_thread

        host = None
        if adapter_dir is not None:
            self._versions += 1
            read = call_in_fresh_thread(self.runtime.read_adapter, adapter_dir, AdapterKey("recipe", self._versions))
            host = self.runtime.adapters.put_host(read)
        out: dict[tuple[str, str], str] = {}
        lock = threading.Lock()

        def one(i: int, suite: Suite, case: object, ids: list[int], max_tokens: int) -> None:
            handle = self.runtime.engine.submit(GenerationRequest(f"r{i}", ids, SamplingSpec(max_tokens=max_tokens),
                                                                  adapter=host))
            text = "".join(e.delta for e in handle.wait_sync(3600))
            with lock:
                out[(suite.name, case.id)] = text

        threads = [threading.Thread(target=one, args=(i, *r)) for i, r in enumerate(self._requests())]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"\t".join(k): v for k, v in out.items()}))
        return out

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(json.dumps([self.identity, [(s.name, len(s.cases), s.max_tokens) for s in
                                                            self.suites]]).encode()).hexdigest()[:16]
        return self.cache_dir / f"base-answers-{digest}.json"

    def figures(self, adapter_dir: Path, policies: tuple[str, ...] = ("default", "small-model")) -> SuiteFigures:
        """Score the adapter against the base model on the full suites and apply ``policies``."""
        base = self.answers(None)
        t0 = time.monotonic()
        cand = self.answers(adapter_dir)
        seconds = time.monotonic() - t0
        outputs = {k: (cand[k], base[k]) for k in cand}
        scores, outcomes = score_suites(self.suites, outputs, set(), set())
        mean = {s.suite: sum(c.candidate_score for c in s.cases) / len(s.cases) for s in scores}
        base_mean = {s.suite: sum(c.baseline_score for c in s.cases) / len(s.cases) for s in scores}
        result = SuiteFigures(task=mean["task"], harmful_refused=mean["safety"],
                              benign_refused=1 - mean["over_refusal"], general=mean["general"],
                              base=base_mean, eval_seconds=seconds)
        for o in outcomes:
            if not o.candidate_passed:
                result.failing.setdefault(o.suite, []).append([o.case_id, o.candidate_output])
        _verdicts(result, scores, policies)
        # the verdicts ``lorafleet demo`` would see: its stratified subset of each suite (``Suite.limited``)
        demo_scores, _ = score_suites([s.limited(DEMO_CASES_PER_SUITE) for s in self.suites], outputs, set(), set())
        _verdicts(result, demo_scores, policies, prefix="demo:")
        return result


def _verdicts(result: SuiteFigures, scores: list[SuiteScores], policies: tuple[str, ...], *, prefix: str = "") -> None:
    """Each policy's verdict and failed gates on ``scores``, into ``result`` under ``prefix + name``."""
    for name in policies:
        decision, _ = evaluate_gates(load_policy(name), scores, promote_to="production")
        result.verdicts[prefix + name] = decision.verdict
        result.failed_gates[prefix + name] = [f"{g.gate}:{g.suite}" for g in decision.failed_gates]
