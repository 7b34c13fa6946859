"""The canary guardrail's pairing rule written the slow, obvious way, for the tests to compare with."""

from __future__ import annotations

from collections import deque


def reference_pairs(arms: list[bool], values: list[float], capacity: int,
                    units: tuple[int, int] = (1, 1)) -> tuple[list[float], list[list[float]]]:
    """Pair differences in the order they form, and what waits, one arrival at a time: an arrival joins
    its arm's queue (a full queue first drops its oldest value); whenever the candidate queue holds
    ``units[0]`` values and the incumbent one ``units[1]``, those oldest values leave as a pair whose
    difference is the candidate block's mean minus the incumbent block's."""
    queues: tuple[deque[float], deque[float]] = (deque(), deque())
    capacity = max(capacity, *units)
    out = []
    for is_cand, x in zip(arms, values):
        own = queues[0] if is_cand else queues[1]
        if len(own) >= capacity:
            own.popleft()
        own.append(x)
        if len(queues[0]) >= units[0] and len(queues[1]) >= units[1]:
            blocks = [[q.popleft() for _ in range(u)] for q, u in zip(queues, units)]
            out.append(sum(blocks[0]) / units[0] - sum(blocks[1]) / units[1])
    return out, [list(queues[0]), list(queues[1])]
