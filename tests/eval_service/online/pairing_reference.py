"""The canary guardrail's pairing rule written the slow, obvious way, for the tests to compare with."""

from __future__ import annotations

from collections import deque


def reference_pairs(arms: list[bool], values: list[float], capacity: int) -> tuple[list[float], list[list[float]]]:
    """Pair differences in the order they form, and what waits, one arrival at a time: an arrival pairs
    with the other arm's oldest waiting value, else waits; a full queue drops its oldest value."""
    queues: tuple[deque[float], deque[float]] = (deque(), deque())
    out = []
    for is_cand, x in zip(arms, values):
        own, other = (queues[0], queues[1]) if is_cand else (queues[1], queues[0])
        if other:
            y = other.popleft()
            out.append(x - y if is_cand else y - x)
        else:
            own.append(x)
            if len(own) > capacity:
                own.popleft()
    return out, [list(queues[0]), list(queues[1])]
