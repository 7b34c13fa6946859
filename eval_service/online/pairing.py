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

Strata (``pair_strata``): each arrival may carry a stratum, a label fixed before its value is seen
(``StageMonitor`` labels a request "task" when it carries the adapter's task system prompt, "other"
otherwise). Each stratum has its own pair of queues, so a pair's two blocks come from the same stratum
and φ_k has mean D_s, the effect in stratum s. Why: the refusal rate of a support ticket is near 0 and
that of a free-form question is tens of percent, so a pooled pair that meets a ticket with a free-form
question carries the between-strata variance too. Within strata a 1 : 1 pair's variance is Σ_s w_s
(V_c,s + V_i,s); pooled, each arm's variance also holds Σ_s w_s (μ_s - μ)². At the demo's mix (half
tickets refused ~0%, half free-form requests refused ~45%): pooled 2 × 0.225 × 0.775 = 0.35, within
strata 0.5 × 2 × 0.45 × 0.55 = 0.25, 0.71 times the pairs to the same evidence in theory; simulated with
the guardrail at the demo's 50% canary, 0.79 times the requests to a promotion at the median and 0.80 at
p90, with no more false decisions (``benchmarks/canary_strata.py``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from eval_service.online.spec import is_real

__all__ = ["MAX_STRATA", "Blocks", "StrataBlocks", "Waiting", "block_units", "load_waiting", "pair_blocks",
           "pair_strata"]

MAX_STRATA = 16  # distinct labels one guardrail keeps queues for


Waiting = tuple[np.ndarray, np.ndarray]  # one stratum's unpaired harms, oldest first: candidate, incumbent


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


class StrataBlocks(NamedTuple):
    """``Blocks`` of a batch over all its strata, in the order the pairs form, and each stratum's queues."""

    at: np.ndarray
    differences: np.ndarray
    waiting: dict[str, Waiting]


def pair_strata(candidate: np.ndarray, harm: np.ndarray, strata: list[str], waiting: dict[str, Waiting],
                units: tuple[int, int], capacity: int) -> StrataBlocks:
    """Pairs completed by a batch whose arrivals carry strata: ``pair_blocks`` on each stratum's
    subsequence, merged by the arrival that completes each pair (one arrival completes at most one)."""
    labels = np.asarray(strata, dtype=object)
    if labels.shape != candidate.shape:
        raise ValueError(f"strata: {labels.size} labels for {candidate.size} observations")
    names = sorted(set(strata))
    if len(set(waiting) | set(names)) > MAX_STRATA:
        raise ValueError(f"strata: at most {MAX_STRATA} distinct labels per guardrail, got "
                         f"{sorted(set(waiting) | set(names))}")
    out = dict(waiting)
    ats, diffs = [np.zeros(0, dtype=int)], [np.zeros(0)]
    empty = (np.zeros(0), np.zeros(0))
    for name in names:
        idx = np.flatnonzero(labels == name)
        blocks = pair_blocks(candidate[idx], harm[idx], out.get(name, empty), units, capacity)
        ats.append(idx[blocks.at])
        diffs.append(blocks.differences)
        out[name] = blocks.waiting
    at, d = np.concatenate(ats), np.concatenate(diffs)
    order = np.argsort(at, kind="stable")
    return StrataBlocks(at[order], d[order], out)


def load_waiting(saved: object, units: tuple[int, int], unpaired: list[int], capacity: int) -> dict[str, Waiting]:
    """A saved ``{stratum: [candidate harms, incumbent harms]}``, checked against the guardrail's counts:
    ``unpaired`` is each arm's observations not in a pair, the most its queues may hold together."""
    if not isinstance(saved, dict) or len(saved) > MAX_STRATA or not all(isinstance(k, str) for k in saved):
        raise ValueError(f"canary guardrail state: 'unpaired' must map at most {MAX_STRATA} strata to their queues")
    out: dict[str, Waiting] = {}
    for name, queues in saved.items():
        if not isinstance(queues, list) or len(queues) != 2 or not all(isinstance(w, list) for w in queues):
            raise ValueError(f"canary guardrail state: stratum {name!r} must hold two lists (candidate, incumbent)")
        if all(len(w) >= u for w, u in zip(queues, units)):
            raise ValueError(f"canary guardrail state: stratum {name!r} holds a whole block of each arm, which "
                             "would have formed a pair")
        if any(len(w) > capacity or not all(is_real(v) and 0 <= v <= 1 for v in w) for w in queues):
            raise ValueError(f"canary guardrail state: at most {capacity} unpaired harms in [0, 1] per arm and "
                             f"stratum ({name!r})")
        out[name] = (np.asarray(queues[0], dtype=float), np.asarray(queues[1], dtype=float))
    for arm in (0, 1):
        if sum(len(w[arm]) for w in out.values()) > unpaired[arm]:
            raise ValueError("canary guardrail state: more unpaired harms than the arm's observations not in a pair")
    return out
