"""Typed clients of ``lorafleet.v1.RolloutService`` (hosted by the evaluator).

    rollouts = RolloutClient(connect("127.0.0.1:50053"))
    ro = rollouts.start("support-bot@2", mode="canary", weight_percent=10)
    for update in rollouts.watch(ro.id):
        print(update.rollout.state, [g.decision for g in update.rollout.guardrails])
    rollouts.submit_feedback(reply.request_id, thumbs_up=True)

``rollout`` arguments take a rollout id or an adapter name (its running rollout, else its latest).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lorafleet.client.base import AsyncTransport, SyncTransport
from lorafleet.names import ROLLOUT_MODES, ROLLOUT_STATES
from lorafleet.v1 import rollout_pb2, rollout_pb2_grpc


def _rollout(response: object) -> rollout_pb2.Rollout:
    return response.rollout  # type: ignore[attr-defined]


class RolloutApi:
    """RolloutService methods, shared by the sync and the asyncio client (see ``base``)."""

    stub_class = rollout_pb2_grpc.RolloutServiceStub

    def start(self, adapter: str, *, mode: str = "canary", weight_percent: float | None = None,
              weight_steps: Sequence[float] = (), sampling_rate: float | None = None, policy: str = "",
              evaluation_id: str = "") -> rollout_pb2.Rollout:
        """Roll ``name@version`` out next to production: ``mode`` "canary" or "shadow"."""
        req = rollout_pb2.StartRolloutRequest(adapter=adapter, mode=ROLLOUT_MODES.value(mode),
                                              weight_steps=list(weight_steps), policy=policy,
                                              evaluation_id=evaluation_id)
        if weight_percent is not None:
            req.weight_percent = weight_percent
        if sampling_rate is not None:
            req.sampling_rate = sampling_rate
        return self._unary("StartRollout", req, pick=_rollout)

    def get(self, rollout: str) -> rollout_pb2.Rollout:
        return self._unary("GetRollout", rollout_pb2.GetRolloutRequest(rollout=rollout), pick=_rollout)

    def list(self, adapter_name: str = "", state: str | int | None = None, *, page_size: int = 0,
             page_token: str = "") -> rollout_pb2.ListRolloutsResponse:
        return self._unary("ListRollouts", rollout_pb2.ListRolloutsRequest(
            adapter_name=adapter_name, state=ROLLOUT_STATES.value(state), page_size=page_size,
            page_token=page_token))

    def watch(self, rollout: str, *, timeout: float | None = None) -> Iterator[rollout_pb2.WatchRolloutResponse]:
        """The rollout now and after every change until it ends (``.cancel()`` stops it)."""
        return self._server_stream("WatchRollout", rollout_pb2.WatchRolloutRequest(rollout=rollout), timeout=timeout)

    def set_weight(self, rollout: str, weight_percent: float, *, reason: str = "") -> rollout_pb2.Rollout:
        return self._unary("SetRolloutWeight", rollout_pb2.SetRolloutWeightRequest(
            rollout=rollout, weight_percent=weight_percent, reason=reason), pick=_rollout)

    def promote(self, rollout: str, *, reason: str = "") -> rollout_pb2.Rollout:
        return self._unary("PromoteRollout", rollout_pb2.PromoteRolloutRequest(rollout=rollout, reason=reason),
                           pick=_rollout)

    def abort(self, rollout: str, *, reason: str = "") -> rollout_pb2.Rollout:
        return self._unary("AbortRollout", rollout_pb2.AbortRolloutRequest(rollout=rollout, reason=reason),
                           pick=_rollout)

    def submit_feedback(self, request_id: str, *, score: float | None = None, thumbs_up: bool | None = None,
                        comment: str = "") -> rollout_pb2.SubmitFeedbackResponse:
        """Rate one served reply: a ``score`` in [0, 1] or ``thumbs_up`` True/False."""
        if (score is None) == (thumbs_up is None):
            raise ValueError("give exactly one of score and thumbs_up")
        req = rollout_pb2.SubmitFeedbackRequest(request_id=request_id, comment=comment)
        if score is not None:
            req.score = score
        else:
            req.thumbs_up = bool(thumbs_up)
        return self._unary("SubmitFeedback", req)


class RolloutClient(RolloutApi, SyncTransport):
    """Blocking RolloutService client."""


class AsyncRolloutClient(RolloutApi, AsyncTransport):
    """asyncio RolloutService client."""
