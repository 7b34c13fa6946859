"""Admission policy: which waiting sequences join the batch at this step.

Bounded prefill keeps running decoders from stalling: one step prefills at most
``prefill_token_budget`` padded tokens (group size × longest prompt). A prompt longer than the
whole budget is prefilled alone in chunks of that size, one chunk per step, interleaved with
decode steps. Sequences whose adapter cannot get a device slot (every slot held by running
requests) are skipped and keep their place in the queue; FIFO otherwise.

Shadow requests (the low-priority class, ``engine.shadow``) are planned after the normal ones,
only when every waiting normal request made it into the group, and fill what is left of its rows
and budget (``chosen``), so both arms are prefilled in one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Admission(Generic[T]):
    group: list[T]          # prefilled together in one padded forward
    chunked: T | None = None  # a long prompt to prefill alone, in chunks


def plan_admission(waiting: list[T], *, free_rows: int, token_budget: int, prompt_len: Callable[[T], int],
                   try_reserve: Callable[[T], bool], chosen: Sequence[T] = ()) -> Admission[T]:
    """Pick newcomers in FIFO order. ``try_reserve`` acquires the adapter slot (False: skip).

    ``chosen`` were already picked at this step (they count against ``free_rows`` and the budget,
    and lead the returned group).
    """
    group: list[T] = list(chosen)
    longest = max((prompt_len(s) for s in group), default=0)
    for seq in waiting:
        if len(group) >= free_rows:
            break
        n = prompt_len(seq)
        if group and max(longest, n) * (len(group) + 1) > token_budget:
            break
        if not try_reserve(seq):
            continue
        if n > token_budget and not group:
            return Admission(group=[], chunked=seq)
        if n > token_budget:  # cannot happen: checked above; kept for clarity
            break
        group.append(seq)
        longest = max(longest, n)
    return Admission(group=group)
