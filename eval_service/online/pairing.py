"""Arrival-order pairing of a canary's two arms (``CanaryGuardrail``), vectorised over a batch.

Each arm's not-yet-paired observations wait in a FIFO queue; an arrival pairs with the oldest
waiting observation of the other arm, else it joins its own arm's queue. At most one queue is ever
non-empty, so the state is one signed backlog b (> 0: b candidate observations wait, < 0: -b
incumbent ones), and the waiting observations are always the arm's last |b| arrivals: pairing and
dropping both take from the front, arrivals join at the back. A queue holds at most ``capacity``
values; an arrival to a full queue drops its oldest value. The backlog is then the walk
b_t = clip(b_{t-1} ± 1, -capacity, capacity) (+1 for a candidate arrival, -1 for an incumbent one),
and an arrival against a backlog of the other arm (b_{t-1} < 0 for a candidate, > 0 for an
incumbent) pairs with that arm's arrival number (count so far) - |b_{t-1}|.

Which observations pair, and which are dropped, depends on the sequence of arms only, never on
the values: that is what keeps each pair difference an unbiased draw of the effect.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Pairs", "clipped_walk", "pair_arrivals"]


class Pairs(NamedTuple):
    """The pairs a batch completes, in the order they form, and the backlog after the batch."""

    at: np.ndarray         # position in the batch of the arrival that completes each pair
    candidate: np.ndarray  # arrival number (0-based, over the guardrail's life) of the pair's candidate
    incumbent: np.ndarray  # ... and of its incumbent
    backlog: int


def clipped_walk(start: int, steps: np.ndarray, bound: int) -> np.ndarray:
    """start, then b_t = clip(b_{t-1} + steps_t, -bound, bound), for steps of ±1 and at most 2·bound steps.

    Within 2·bound steps a walk pushed back at one side cannot reach the other (from ±bound that
    takes 2·bound + 1 steps), so the answer is the walk reflected at the upper side only or at the
    lower side only (Skorokhod's map): whichever stays within the other side."""
    if len(steps) > 2 * bound:
        raise ValueError(f"at most {2 * bound} steps per walk, got {len(steps)}")
    free = np.cumsum(np.concatenate(([start], steps)))
    upper = free - np.maximum(np.maximum.accumulate(free - bound), 0)
    if upper.min() >= -bound:
        return upper
    return free - np.minimum(np.minimum.accumulate(free + bound), 0)


def pair_arrivals(candidate: np.ndarray, arrived: tuple[int, int], backlog: int, capacity: int) -> Pairs:
    """Pairs completed by a batch of arrivals (``candidate``: True = candidate arm), given the arrival
    counts (candidate, incumbent) and the backlog before it; at most 2·capacity arrivals."""
    step = np.where(candidate, 1, -1)
    before = clipped_walk(backlog, step, capacity)
    prev, final = before[:-1], int(before[-1])
    n_cand = arrived[0] + np.cumsum(candidate) - candidate  # candidate arrivals before each one
    n_inc = arrived[1] + np.cumsum(~candidate) - ~candidate
    forms = np.where(candidate, prev < 0, prev > 0)
    cand_index = np.where(candidate, n_cand, n_cand - prev)
    inc_index = np.where(candidate, n_inc + prev, n_inc)
    return Pairs(np.flatnonzero(forms), cand_index[forms], inc_index[forms], final)
