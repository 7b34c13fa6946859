"""The shadow class's rules, as pure functions over the worker's queues and counters.

Shadow requests (``GenerationRequest.shadow``) must never delay a normal one, so the worker sheds
them first:

* **queue bound**: at most ``limit`` shadow requests wait; beyond it the oldest are shed (a newer
  input is as good a sample and has waited less);
* **under load**: when normal requests wait and the batch has fewer free rows than them, running
  shadow sequences are cancelled to free rows, the most recently admitted first (the least decode
  work lost), at most as many as the rows missing.

Admission (``scheduler.plan_admission``) adds the third rule: a shadow request joins the batch
only when no normal request waits; and the prefill (``batch.Batch.prefill``, with the flag that
``engine.Engine._prefill`` computes) two more, so that a normal request's first token does not wait
for shadow work it could have skipped:

* a shadow prompt is prefilled only in a step with no normal prompt to prefill (packed together, a
  normal request's first token would wait for both);
* and not within ``shadow_quiet_steps`` steps of a normal admission (``may_prefill``), since clients' requests come in
  bursts and the rest of a burst would wait for that prefill; unless shadows pile up (pending shadows
  at half the queue bound), when waiting longer would only end in shedding them.

A cap of 64 shadow prompt tokens per step was tried and dropped: no measurable difference on the
benchmark's 8-token prompts, and the demo's shadow stage (prompts of 44-69 tokens with their system
prompts, 16 users in flight) took 153 s with it against 97 s without, presumably because it prefilled
a pile of shadow prompts a few per step instead of in one pass.

Measured by ``benchmarks/shadow_cost.py``. A shadow's reply goes back to its caller whole, in one
event at its end (``requests.Sequence.hold``): nobody reads it earlier.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

from inference_service.engine.requests import Sequence

T = TypeVar("T")


def over_limit(waiting: deque[T], limit: int) -> list[T]:
    """The oldest entries of ``waiting`` beyond ``limit`` (``limit`` >= 0), oldest first."""
    excess = len(waiting) - max(limit, 0)
    return [waiting[i] for i in range(excess)] if excess > 0 else []


def rows_to_free(running: list[Sequence], *, normal_waiting: int, free_rows: int) -> set[int]:
    """Indices of the running shadow sequences to cancel so waiting normal requests get rows."""
    missing = normal_waiting - free_rows
    if missing <= 0:
        return set()
    shadows = [i for i, seq in enumerate(running) if seq.shadow]
    return set(shadows[-missing:])


def may_prefill(*, steps_since_admission: int, quiet_steps: int, pending: int, limit: int) -> bool:
    """Whether a step may prefill shadow prompts: more than ``quiet_steps`` steps since a normal
    request was admitted, or ``pending`` shadows (waiting or prefilling) at half the queue ``limit``."""
    return steps_since_admission > quiet_steps or pending * 2 >= limit
