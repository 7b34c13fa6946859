"""Admission policy: which waiting sequences take a free batch row at this step.

**FIFO with slot draining.** Normal requests are considered in arrival order, each needing a
batch row and its adapter's device slot. A request whose adapter finds every slot held by running
requests does not lose its turn for ever: it becomes the *blocked head*, one held slot is chosen to
drain (the one with the fewest running rows, least recently used first), and no new sequence is
admitted onto that slot's adapter until the blocked head has it. Requests behind the head that use
other resident adapters (or none) keep filling free rows, so the batch stays full, but none of them
can keep the drained slot busy. The head therefore waits at most for the drained slot's current rows
to finish (≤ ``max_tokens`` steps), not for a lull in the traffic of popular adapters: without this,
an adapter outside the resident set starved while requests for resident ones overtook it (the
issue's 64-stream run: TTFT p50 5 s, p95 35 s).

Prefill is not part of admission: admitted sequences are prefilled FIFO in pieces of at most
``prefill_token_budget`` tokens per step (``engine.batch``), interleaved with decode steps.

Shadow requests (the low-priority class, ``engine.shadow``) are planned after the normal ones,
only when every waiting normal request was admitted, and fill what is left of the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Admission(Generic[T]):
    group: list[T] = field(default_factory=list)
    blocked: T | None = None  # the oldest request that could not get an adapter slot


def plan_admission(waiting: list[T], *, free_rows: int, try_reserve: Callable[[T], bool],
                   adapter_of: Callable[[T], Hashable | None], draining: Hashable | None = None,
                   chosen: list[T] | None = None) -> Admission[T]:
    """Pick newcomers in FIFO order; ``try_reserve`` acquires the adapter slot (False: no slot free).

    Requests for the ``draining`` adapter wait (its slot is being freed for the blocked head).
    ``chosen`` were already picked at this step (they count against ``free_rows``, lead the group).
    """
    plan: Admission[T] = Admission(group=list(chosen or []))
    for seq in waiting:
        if len(plan.group) >= free_rows:
            break
        if draining is not None and adapter_of(seq) == draining:
            continue
        if try_reserve(seq):
            plan.group.append(seq)
        elif plan.blocked is None:
            plan.blocked = seq
    return plan
