"""RolloutService and LiveTrafficService over grpc.aio: validate, convert, hand to the live evaluator.

Every bad input is a status naming the field, and changes nothing: an unknown adapter
(NOT_FOUND), a weight outside 0-100 or a malformed request (INVALID_ARGUMENT), a candidate that
did not pass offline (FAILED_PRECONDITION), a second rollout of the same name (ALREADY_EXISTS),
feedback for an unknown request id (NOT_FOUND), promote/abort of a finished rollout
(FAILED_PRECONDITION), a concurrent change (ABORTED: re-read and retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from eval_service.online import convert, metrics, transitions
from eval_service.online.live import LiveEvaluator
from eval_service.online.report import report_paths
from eval_service.online.start import start_rollout
from lorafleet.errors import FailedPrecondition, InvalidArgument
from lorafleet.registry import paging
from lorafleet.registry.models import RolloutRecord, RolloutStage, RolloutState
from lorafleet.server.errors import grpc_errors
from lorafleet.v1 import rollout_pb2, rollout_pb2_grpc

WATCH_POLL_S = 2.0
MAX_REASON = 1024
MAX_COMMENT = 2000


def _actor(context: Any, reason: str) -> str:
    peer = context.peer() if hasattr(context, "peer") else ""
    return f"api {peer}".strip() + (f": {reason[:200]}" if reason else "")


def _reason(text: str) -> str:
    if len(text) > MAX_REASON:
        raise InvalidArgument(f"at most {MAX_REASON} characters", field="reason")
    return text


class RolloutServicer(rollout_pb2_grpc.RolloutServiceServicer):
    def __init__(self, live: LiveEvaluator) -> None:
        self.live = live
        self.registry = live.registry

    async def _proto(self, ro: RolloutRecord) -> rollout_pb2.Rollout:
        events = await asyncio.to_thread(self.registry.rollouts().events, ro.id)
        out = convert.rollout_to_proto(self._with_live(ro), events)
        json_path, html_path = report_paths(self.registry.artifacts, ro.id)
        if html_path.is_file():
            out.report_json_path, out.report_html_path = str(json_path), str(html_path)
        return out

    async def _find(self, text: str) -> RolloutRecord:
        return await asyncio.to_thread(self.registry.rollouts().find, text)

    @grpc_errors
    async def StartRollout(self, request: rollout_pb2.StartRolloutRequest, context: Any) -> Any:
        req = convert.request_from_proto(request, _actor(context, ""))
        async with self.live.lock:
            ro = await asyncio.to_thread(start_rollout, self.registry, req)
            await self.live._sync_running()
        await self.live.notify()
        return rollout_pb2.StartRolloutResponse(rollout=await self._proto(ro))

    @grpc_errors
    async def GetRollout(self, request: rollout_pb2.GetRolloutRequest, context: Any) -> Any:
        return rollout_pb2.GetRolloutResponse(rollout=await self._proto(await self._find(request.rollout)))

    @grpc_errors
    async def ListRollouts(self, request: rollout_pb2.ListRolloutsRequest, context: Any) -> Any:
        state = convert.enum_value({**convert.STATE_FROM_PROTO, 0: None}, request.state, "state")
        size = paging.page_size(request.page_size)
        digest = paging.filter_digest(request.adapter_name, request.state)
        offset = paging.decode_page_token(request.page_token, digest)
        rows = await asyncio.to_thread(self.registry.rollouts().list, request.adapter_name or None, state,
                                       limit=size + 1, offset=offset)
        token = paging.encode_page_token(offset + size, digest) if len(rows) > size else ""
        return rollout_pb2.ListRolloutsResponse(rollouts=[await self._proto(r) for r in rows[:size]],
                                                next_page_token=token)

    @grpc_errors
    async def WatchRollout(self, request: rollout_pb2.WatchRolloutRequest, context: Any):  # type: ignore[no-untyped-def]
        ro = await self._find(request.rollout)
        last = None
        while True:
            stamp = (ro.revision, ro.state, self._live_stamp(ro.id))
            if stamp != last:
                last = stamp
                yield rollout_pb2.WatchRolloutResponse(rollout=await self._proto(ro))
            if ro.state is not RolloutState.RUNNING:
                return
            cond = self.live.changed()
            async with cond:
                with contextlib.suppress(asyncio.TimeoutError):  # a poll: counts may change without a notify
                    await asyncio.wait_for(cond.wait(), WATCH_POLL_S)
            ro = await asyncio.to_thread(self.registry.rollouts().get, ro.id)

    def _live_stamp(self, rid: str) -> int:
        watched = self.live.watched.get(rid)
        return sum(s.requests + s.feedback_count for s in watched.monitor.arms.values()) if watched else -1

    def _with_live(self, ro: RolloutRecord) -> RolloutRecord:
        """The row with the in-memory statistics of its current stage (fresher than the last write)."""
        watched = self.live.watched.get(ro.id)
        if watched is None or watched.record.revision != ro.revision:
            return ro
        from dataclasses import replace

        return replace(ro, stats=self.live.snapshot(watched))

    @grpc_errors
    async def SetRolloutWeight(self, request: rollout_pb2.SetRolloutWeightRequest, context: Any) -> Any:
        weight, reason = request.weight_percent, _reason(request.reason)
        if not math.isfinite(weight) or not 0 <= weight <= 100:
            raise InvalidArgument(f"must be in [0, 100] percent, got {weight:g}", field="weight_percent")
        async with self.live.lock:
            ro = await self._find(request.rollout)
            transitions.check_manual_weight(ro, weight)
            stages = [*ro.stages[: ro.stage_index], RolloutStage(ro.mode, weight),
                      *[s for s in ro.stages[ro.stage_index + 1:] if s.weight_percent > weight]]
            ro = await asyncio.to_thread(
                self.registry.rollouts().update, ro.id, expected_revision=ro.revision, stats={}, stages=stages,
                event={"action": "SET_WEIGHT", "reason": reason or f"weight set to {weight:g}%",
                       "actor": _actor(context, reason), "evidence": [], "cases": [], "text_expires_at": None})
            self.live.watched.pop(ro.id, None)
            await self.live._sync_running()
        await self.live.notify()
        return rollout_pb2.SetRolloutWeightResponse(rollout=await self._proto(ro))

    @grpc_errors
    async def PromoteRollout(self, request: rollout_pb2.PromoteRolloutRequest, context: Any) -> Any:
        reason = _reason(request.reason)
        async with self.live.lock:
            ro = await self._running(request.rollout)
            watched = self.live.watched.pop(ro.id, None)
            ro = await asyncio.to_thread(transitions.promote, self.registry, ro, watched.monitor if watched else None,
                                         actor=_actor(context, reason), reason=reason or "promoted by hand",
                                         stats=self.live.snapshot(watched) if watched else None)
            if ro.state is RolloutState.PROMOTED:
                metrics.ROLLOUT_PROMOTIONS.labels(adapter=ro.name).inc()
            await self.live.finished(ro)
        await self.live.notify()
        return rollout_pb2.PromoteRolloutResponse(rollout=await self._proto(ro))

    @grpc_errors
    async def AbortRollout(self, request: rollout_pb2.AbortRolloutRequest, context: Any) -> Any:
        reason = _reason(request.reason)
        async with self.live.lock:
            ro = await self._running(request.rollout)
            watched = self.live.watched.pop(ro.id, None)
            ro = await asyncio.to_thread(transitions.abort, self.registry, ro, actor=_actor(context, reason),
                                         reason=reason or "aborted by hand",
                                         monitor=watched.monitor if watched else None)
            metrics.ROLLOUT_ABORTS.labels(adapter=ro.name).inc()
            await self.live.finished(ro)
        await self.live.notify()
        return rollout_pb2.AbortRolloutResponse(rollout=await self._proto(ro))

    async def _running(self, text: str) -> RolloutRecord:
        ro = await self._find(text)
        if ro.state is not RolloutState.RUNNING:
            raise FailedPrecondition(f"rollout {ro.id} already ended {ro.state.value}", field="rollout")
        return ro

    @grpc_errors
    async def SubmitFeedback(self, request: rollout_pb2.SubmitFeedbackRequest, context: Any) -> Any:
        which = request.WhichOneof("value")
        if which is None:
            raise InvalidArgument("give a score in [0, 1] or thumbs_up", field="value")
        value = float(request.thumbs_up) if which == "thumbs_up" else request.score
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise InvalidArgument(f"must be in [0, 1], got {value:g}", field="score")
        if len(request.comment) > MAX_COMMENT:
            raise InvalidArgument(f"at most {MAX_COMMENT} characters", field="comment")
        req = await self.live.feedback(request.request_id, value, request.comment)
        return rollout_pb2.SubmitFeedbackResponse(request_id=req.request_id, adapter=f"{req.name}@{req.version}",
                                                  arm=rollout_pb2.TrafficArm.Value(f"TRAFFIC_ARM_{req.arm}"),
                                                  rollout_id=req.rollout_id)


class LiveTrafficServicer(rollout_pb2_grpc.LiveTrafficServiceServicer):
    def __init__(self, live: LiveEvaluator) -> None:
        self.live = live

    @grpc_errors
    async def RecordObservations(self, request: rollout_pb2.RecordObservationsRequest, context: Any) -> Any:
        observations = convert.observations_from_proto(request)
        return rollout_pb2.RecordObservationsResponse(accepted=await self.live.record(observations))


def add_to_server(servicer: RolloutServicer, server: Any) -> None:
    rollout_pb2_grpc.add_RolloutServiceServicer_to_server(servicer, server)


def add_live_to_server(servicer: LiveTrafficServicer, server: Any) -> None:
    rollout_pb2_grpc.add_LiveTrafficServiceServicer_to_server(servicer, server)
