"""Typed clients of ``lorafleet.v1.EvalService``.

    client = EvalClient(connect("127.0.0.1:50053"))
    ev = client.create_evaluation("support-bot@3", promote_to="production")
    for update in client.watch_evaluation(ev.id):
        print(update.message)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lorafleet.client.base import AsyncTransport, SyncTransport
from lorafleet.names import BASELINE_KINDS, EVALUATION_STATES, FINISHED_EVALUATION_STATES
from lorafleet.v1 import common_pb2, eval_pb2, eval_pb2_grpc

BASELINES = {name: BASELINE_KINDS.value(name) for name in BASELINE_KINDS}
FINISHED = tuple(EVALUATION_STATES.value(s) for s in sorted(FINISHED_EVALUATION_STATES))


class EvalApi:
    """EvalService methods, shared by the sync and the asyncio client (see ``base``)."""

    stub_class = eval_pb2_grpc.EvalServiceStub

    def create_evaluation(self, adapter: str, *, suites: Sequence[str] = (), baseline: str = "production",
                          baseline_adapter: str = "", policy: str = "", promote_to: str = "",
                          max_cases_per_suite: int = 0, max_tokens: int | None = None,
                          temperature: float | None = None) -> eval_pb2.Evaluation:
        """Queue an evaluation of ``adapter`` ("name@version"); returns it QUEUED.

        ``baseline``: "production" (the name's production version, else the base model),
        "base_model", or "adapter" with ``baseline_adapter="name@version"``."""
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}")
        sampling = common_pb2.SamplingParams(**{k: v for k, v in (("max_tokens", max_tokens),
                                                                   ("temperature", temperature)) if v is not None})
        req = eval_pb2.CreateEvaluationRequest(
            adapter=adapter, suites=list(suites), baseline=BASELINES[baseline], baseline_adapter=baseline_adapter,
            policy=policy, promote_to=promote_to, max_cases_per_suite=max_cases_per_suite, sampling=sampling)
        return self._unary("CreateEvaluation", req, pick=lambda r: r.evaluation)

    def get_evaluation(self, evaluation_id: str) -> eval_pb2.Evaluation:
        return self._unary("GetEvaluation", eval_pb2.GetEvaluationRequest(evaluation_id=evaluation_id),
                           pick=lambda r: r.evaluation)

    def watch_evaluation(self, evaluation_id: str,
                         timeout: float | None = None) -> Iterator[eval_pb2.WatchEvaluationResponse]:
        """Updates until the evaluation finished (the iterator is a grpc call: ``.cancel()`` stops it)."""
        return self._server_stream("WatchEvaluation", eval_pb2.WatchEvaluationRequest(evaluation_id=evaluation_id),
                                   timeout=timeout)

    def list_suites(self) -> list[eval_pb2.Suite]:
        return self._unary("ListSuites", eval_pb2.ListSuitesRequest(), pick=lambda r: list(r.suites))


class EvalClient(EvalApi, SyncTransport):
    def wait(self, evaluation_id: str, timeout: float | None = None) -> eval_pb2.Evaluation:
        """Block until the evaluation finished; returns its final state."""
        last = None
        for update in self.watch_evaluation(evaluation_id, timeout=timeout):
            last = update.evaluation
        return last if last is not None and last.state in FINISHED else self.get_evaluation(evaluation_id)


class AsyncEvalClient(EvalApi, AsyncTransport):
    async def wait(self, evaluation_id: str, timeout: float | None = None) -> eval_pb2.Evaluation:
        last = None
        async for update in self.watch_evaluation(evaluation_id, timeout=timeout):
            last = update.evaluation
        return last if last is not None and last.state in FINISHED else await self.get_evaluation(evaluation_id)
