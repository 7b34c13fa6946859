"""Candidate and baseline answers for every case, in pairs, through the generation cache.

Why its own step: this is where the evaluator spends its time, and it has its own rules. The two requests
of a case are sent together (they can share a decode batch on the inference server), at most
``concurrency`` requests are in flight (enough to keep a batch full), deterministic requests go through
``GenerationCache`` first (yesterday's candidate is today's baseline: its answers are not regenerated),
and progress per suite is reported at most every ``PROGRESS_EVERY_S`` while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from eval_service import metrics
from eval_service.cache import GenerationCache, cache_key
from eval_service.generation import EngineInfo, GenerationParams, InferenceGenerator
from eval_service.plan import SuiteProgress, utcnow
from eval_service.results import Outputs
from eval_service.suites.models import Case, Suite
from lorafleet.registry.models import VersionRecord

PROGRESS_EVERY_S = 0.5

ProgressSink = Callable[[list[SuiteProgress]], Awaitable[None]]


@dataclass(frozen=True)
class Answerer:
    """Who answers: an adapter version (``adapter`` = its ref) or the base model (``adapter`` = "")."""

    adapter: str
    cache_id: str  # the model part of the cache key

    @classmethod
    def of(cls, version: VersionRecord | None) -> Answerer:
        if version is None:
            return cls("", "base")
        return cls(version.ref, f"{version.ref}:{version.base_fingerprint}")


class Progress:
    """Cases answered by both models, per suite."""

    def __init__(self, suites: list[Suite]) -> None:
        self.totals = {s.name: len(s.cases) for s in suites}
        self.done: dict[str, int] = {}

    def add(self, suite: str) -> None:
        self.done[suite] = self.done.get(suite, 0) + 1

    def snapshot(self) -> list[SuiteProgress]:
        return [SuiteProgress(suite=s, cases_done=self.done.get(s, 0), cases_total=t) for s, t in self.totals.items()]


class PairGenerator:
    """Answers of one evaluation; ``request_prefix`` makes the inference request ids traceable to it."""

    def __init__(self, generator: InferenceGenerator, cache: GenerationCache, engine: EngineInfo, *,
                 concurrency: int, request_prefix: str) -> None:
        self.generator = generator
        self.cache = cache
        self.engine = engine
        self.request_prefix = request_prefix
        self._sem = asyncio.Semaphore(concurrency)

    async def answer(self, who: Answerer, case: Case, params: GenerationParams) -> str:
        """One output: from the cache when decoding is deterministic and it has it, else from inference."""
        key = cache_key(who.cache_id, self.engine, case.content_key, params) if params.deterministic else None
        if key:
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                metrics.GENERATIONS.labels(source="cache").inc()
                return hit
        async with self._sem:
            gen = await self.generator.generate(who.adapter, case.messages, params,
                                                request_id=f"{self.request_prefix}:{case.id}")
        metrics.GENERATIONS.labels(source="inference").inc()
        if key:
            await asyncio.to_thread(self.cache.put, key, gen.text, {
                "model": who.cache_id, "engine": self.engine.identity, "case_id": case.id,
                "params": params.as_dict(), "finish_reason": gen.finish_reason, "created": utcnow()})
        return gen.text

    async def generate(self, suites: list[Suite], candidate: Answerer, baseline: Answerer,
                       suite_params: dict[str, GenerationParams], on_progress: ProgressSink) -> Outputs:
        """Both answers of every case; ``on_progress`` gets the progress while it runs and once at the end."""
        progress = Progress(suites)
        outputs: Outputs = {}
        dirty = asyncio.Event()

        async def pair(suite: Suite, case: Case) -> None:
            params = suite_params[suite.name]
            cand, base = await asyncio.gather(self.answer(candidate, case, params),
                                              self.answer(baseline, case, params))
            outputs[(suite.name, case.id)] = (cand, base)
            progress.add(suite.name)
            dirty.set()

        async def reporter() -> None:
            while True:
                await dirty.wait()
                dirty.clear()
                await on_progress(progress.snapshot())
                await asyncio.sleep(PROGRESS_EVERY_S)

        task = asyncio.create_task(reporter())
        work = [asyncio.create_task(pair(s, c)) for s in suites for c in s.cases]
        try:
            await asyncio.gather(*work)
        finally:
            for t in (*work, task):
                t.cancel()
            await asyncio.gather(*work, task, return_exceptions=True)
        await on_progress(progress.snapshot())
        return outputs
