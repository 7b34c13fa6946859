"""Arrival-order pairing of a canary's two arms in blocks (``CanaryGuardrail``), vectorised over a batch.

Each arm's not-yet-paired harms wait in a FIFO queue. A pair takes a block of ``u_c`` values from
the front of the candidate queue and a block of ``u_i`` from the incumbent one as soon as both
queues hold that many; its pseudo-outcome is the difference of the two block means,
φ = mean(candidate block) - mean(incumbent block), in [-1, 1] with E[φ] = D.

Why blocks: a canary at share π sends the incumbent about (1 - π)/π requests per candidate request.
Paired one to one, the larger arm's surplus waits unused and the test needs min(n_c, n_i) pairs of
variance V_c + V_i. With the minority arm's unit 1 and the majority arm's m = ⌊(1 - π)/π⌋
(``block_units``), a pair's variance is V_c + V_i / m and the surplus is used: at π = 0.3 (m = 2),
5% vs 15% refusals, that is (0.0475 + 0.1275) / (0.0475 + 0.1275 / 2) = 1.58 times fewer pairs per
unit of evidence, so fewer requests on both arms to a decision (``benchmarks/online_calibration.py``).

A queue holds at most ``capacity`` values; an arrival to a full queue drops its oldest value.
Which values form which block, and which are dropped, depends on the sequence of arms only, never
on the values: that is what keeps each φ an unbiased draw of the effect whatever the routing
(sticky per-user included) and whatever share it realises. The block sizes are fixed for the life
of a guardrail (from the stage's weight when the stage starts), so a weight changed mid-stage costs
efficiency, never validity.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["Blocks", "block_units", "pair_blocks"]


class Blocks(NamedTuple):
    """The pairs a batch completes, in the order they form, and what waits after it."""

    at: np.ndarray           # position in the batch of the arrival that completes each pair
    differences: np.ndarray  # φ of each pair: candidate block mean - incumbent block mean
    waiting: tuple[np.ndarray, np.ndarray]  # unpaired harms, oldest first: candidate, incumbent


def block_units(canary_share: float) -> tuple[int, int]:
    """(u_c, u_i): 1 for the arm with the smaller share, ⌊larger share / smaller share⌋ for the other."""
    small = min(canary_share, 1.0 - canary_share)
    m = max(1, math.floor((1.0 - small) / small + 1e-9))
    return (1, m) if canary_share <= 0.5 else (m, 1)


def _completions(positions: np.ndarray, waiting: int, unit: int, k: int) -> np.ndarray:
    """Batch position of the arrival that completes each of an arm's first k blocks (-1: before it)."""
    last = np.arange(1, k + 1) * unit - 1 - waiting  # each block's last value, counted in the batch
    out = np.full(k, -1)
    inside = last >= 0
    out[inside] = positions[last[inside]]
    return out


def _pair_chunk(candidate: np.ndarray, harm: np.ndarray, waiting: tuple[np.ndarray, np.ndarray],
                units: tuple[int, int]) -> Blocks:
    """Blocks of a chunk in which no queue can overflow."""
    (wait_c, wait_i), (u_c, u_i) = waiting, units
    stream_c, stream_i = np.concatenate((wait_c, harm[candidate])), np.concatenate((wait_i, harm[~candidate]))
    k = min(len(stream_c) // u_c, len(stream_i) // u_i)
    at = np.maximum(_completions(np.flatnonzero(candidate), len(wait_c), u_c, k),
                    _completions(np.flatnonzero(~candidate), len(wait_i), u_i, k))
    d = stream_c[:k * u_c].reshape(k, u_c).mean(axis=1) - stream_i[:k * u_i].reshape(k, u_i).mean(axis=1)
    return Blocks(at, d, (stream_c[k * u_c:], stream_i[k * u_i:]))


def pair_blocks(candidate: np.ndarray, harm: np.ndarray, waiting: tuple[np.ndarray, np.ndarray],
                units: tuple[int, int], capacity: int) -> Blocks:
    """Pairs completed by a batch of arrivals (``candidate``: True = candidate arm; ``harm``: their
    values), given what waits before it. The same arrivals one at a time give the same pairs."""
    ats, diffs = [], []
    pos = 0
    wait_c, wait_i = waiting
    while pos < len(candidate):
        room = capacity - max(len(wait_c), len(wait_i))
        if room <= 0:  # the next arrival may meet a full queue: it drops that queue's oldest value
            if candidate[pos] and len(wait_c) >= capacity:
                wait_c = wait_c[1:]
            elif not candidate[pos] and len(wait_i) >= capacity:
                wait_i = wait_i[1:]
            room = 1
        end = pos + room
        chunk = _pair_chunk(candidate[pos:end], harm[pos:end], (wait_c, wait_i), units)
        ats.append(chunk.at + pos)
        diffs.append(chunk.differences)
        wait_c, wait_i = chunk.waiting
        pos = end
    if not ats:
        return Blocks(np.zeros(0, dtype=int), np.zeros(0), (wait_c, wait_i))
    return Blocks(np.concatenate(ats), np.concatenate(diffs), (wait_c, wait_i))
