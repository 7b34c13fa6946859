"""EvalService over grpc.aio: thin edge that validates, converts and delegates to the runner.

CreateEvaluation validates every field synchronously (bad input never becomes a FAILED
evaluation: unknown suite -> NOT_FOUND naming it, adapter not ``name@version`` ->
INVALID_ARGUMENT, unknown adapter -> NOT_FOUND, ...), stores the QUEUED evaluation, answers with
it, and runs it in a background task. WatchEvaluation streams the evaluation each time it
changes (progress per suite) and ends once it is SUCCEEDED or FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import grpc

from eval_service.convert import evaluation_to_proto, request_from_proto, suite_to_proto
from eval_service.plan import ACTIVE_STATES, FAILED, QUEUED, RUNNING, EvaluationPayload
from eval_service.runner import EvaluationRunner
from lorafleet.errors import InvalidArgument, NotFound
from lorafleet.registry.models import Record
from lorafleet.server.errors import grpc_errors
from lorafleet.v1 import eval_pb2, eval_pb2_grpc

log = logging.getLogger(__name__)
EVALUATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
WATCH_POLL_S = 1.0


class EvalServicer(eval_pb2_grpc.EvalServiceServicer):
    def __init__(self, runner: EvaluationRunner) -> None:
        self.runner = runner
        self._tasks: set[asyncio.Task[Record]] = set()

    def _spawn(self, evaluation_id: str) -> None:
        task = asyncio.create_task(self.runner.run(evaluation_id), name=f"evaluation-{evaluation_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, grace_s: float) -> None:
        """Give running evaluations ``grace_s`` to finish, then cancel them (recorded as FAILED)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _load(self, evaluation_id: str) -> Record:
        if not evaluation_id:
            raise InvalidArgument("must not be empty", field="evaluation_id")
        if not EVALUATION_ID_RE.match(evaluation_id):
            raise InvalidArgument(f"{evaluation_id[:80]!r} is not an evaluation id", field="evaluation_id")
        record = self.runner.store.get(evaluation_id)
        if record is None:
            raise NotFound(f"evaluation {evaluation_id!r} does not exist", field="evaluation_id")
        return record

    @grpc_errors
    async def CreateEvaluation(self, request: eval_pb2.CreateEvaluationRequest,
                               context: grpc.aio.ServicerContext) -> eval_pb2.CreateEvaluationResponse:
        req = request_from_proto(request)
        record = await asyncio.to_thread(self.runner.create, req)
        self._spawn(record.id)
        return eval_pb2.CreateEvaluationResponse(evaluation=evaluation_to_proto(record))

    @grpc_errors
    async def GetEvaluation(self, request: eval_pb2.GetEvaluationRequest,
                            context: grpc.aio.ServicerContext) -> eval_pb2.GetEvaluationResponse:
        record = await asyncio.to_thread(self._load, request.evaluation_id)
        return eval_pb2.GetEvaluationResponse(evaluation=evaluation_to_proto(record))

    @grpc_errors
    async def WatchEvaluation(self, request: eval_pb2.WatchEvaluationRequest,
                              context: grpc.aio.ServicerContext) -> AsyncIterator[eval_pb2.WatchEvaluationResponse]:
        record = await asyncio.to_thread(self._load, request.evaluation_id)
        last = None
        while True:
            stamp = (record.state, record.updated_at)
            if stamp != last:
                last = stamp
                yield eval_pb2.WatchEvaluationResponse(evaluation=evaluation_to_proto(record),
                                                       message=_message(record))
            if record.state not in ACTIVE_STATES:
                return
            await self.runner.events.wait(WATCH_POLL_S)
            record = await asyncio.to_thread(self._load, request.evaluation_id)

    @grpc_errors
    async def ListSuites(self, request: eval_pb2.ListSuitesRequest,
                         context: grpc.aio.ServicerContext) -> eval_pb2.ListSuitesResponse:
        return eval_pb2.ListSuitesResponse(suites=[suite_to_proto(s) for s in self.runner.catalog.all()])


def _message(record: Record) -> str:
    e = EvaluationPayload.of(record)
    if record.state == QUEUED:
        return "queued"
    if record.state == RUNNING:
        done = sum(x.cases_done for x in e.progress)
        total = sum(x.cases_total for x in e.progress)
        return f"running: {done}/{total} cases"
    if record.state == FAILED:
        return f"failed: {e.error}"
    return e.decision.summary if e.decision else "finished"


def add_to_server(servicer: EvalServicer, server: grpc.aio.Server) -> None:
    eval_pb2_grpc.add_EvalServiceServicer_to_server(servicer, server)
